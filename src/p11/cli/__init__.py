"""The ``p11`` command: set up tokens, keys and certificates from the shell, on any PKCS#11 module.

A leaf of the package: every subcommand is a thin layer over the library's API (selection by
:mod:`p11.opener`, keys by :class:`p11.Session`, import/export by :mod:`p11.crypto`, certificates by
:mod:`p11.pki`), so nothing the command does is out of reach of a Python program. click builds the command tree,
prompts and shell completion; rich draws the tables and the progress bar. Subcommands by module: inspect (info,
mechanisms, objects, uri), admin (init-token, init-pin, change-pin), keys (keygen, import, export, delete,
set-attr), crypto (sign, verify, encrypt, decrypt, digest, random), pki (req, selfsign, issue), bench, aws
(aws credentials, aws import-secret).
"""

from __future__ import annotations

import os
import sys

import click

from p11.cli import admin, aws, bench, completion, crypto, inspect, keys, pki  # noqa: F401  (they register subcommands)
from p11.cli.app import cli
from p11.cli.command import reader_gone
from p11.cli.errors import USAGE

__all__ = ["cli", "main"]


def _standard_streams() -> None:
    """Open /dev/null on whichever of descriptors 0, 1 and 2 is closed (``p11 ... >&-``), and refuse to run
    without standard output.

    A closed descriptor is the number the next file opened gets (a token file the module writes, an ``--out``
    file), and whatever p11 or a module's C code then writes to standard output or error would land in that file.
    Python saw the stream closed at start-up already (``sys.stdout`` is None): every subcommand prints what it did,
    so without standard output it would do it unseen, and it refuses before doing anything; without standard input
    or error it runs (reading standard input is refused where it is needed, and errors show in the exit code)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free number: ``fd``, those below being open
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
    if sys.stdout is None:
        click.echo("p11: error: standard output is closed: redirect it to /dev/null (>/dev/null) to discard what "
                   "the command prints", err=True)
        sys.exit(USAGE)


def main() -> None:
    """The console script ``p11`` (and ``python -m p11``)."""
    _standard_streams()
    try:
        try:
            cli(prog_name="p11")
        finally:
            sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe is handled like any other
    except BrokenPipeError:
        reader_gone()
