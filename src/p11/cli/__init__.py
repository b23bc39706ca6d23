"""The ``p11`` command: set up tokens, keys and certificates from the shell, on any PKCS#11 module.

A leaf of the package: every subcommand is a thin layer over the library's API (selection by
:mod:`p11.opener`, keys by :mod:`p11.api.session`, import/export by :mod:`p11.crypto`, certificates by
:mod:`p11.pki`), so nothing the command does is out of reach of a Python program. click builds the command tree,
prompts and shell completion; rich draws the tables and the progress bar. Subcommands by module: inspect (info,
mechanisms, objects, uri), admin (init-token, init-pin, change-pin), keys (keygen, import, export, delete,
set-attr), crypto (sign, verify, encrypt, decrypt, digest, random), pki (req, selfsign, issue), bench, aws
(aws credentials, aws import-secret).
"""

from __future__ import annotations

import sys

from p11.cli import admin, aws, bench, completion, crypto, inspect, keys, pki  # noqa: F401  (they register subcommands)
from p11.cli.app import cli
from p11.cli.command import reader_gone

__all__ = ["cli", "main"]


def main() -> None:
    """The console script ``p11`` (and ``python -m p11``)."""
    try:
        try:
            cli(prog_name="p11")
        finally:
            sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe is handled like any other
    except BrokenPipeError:
        reader_gone()
