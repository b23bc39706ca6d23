"""The root of the command tree: ``p11 [--version] SUBCOMMAND ...``. Subcommand modules register themselves on
:data:`cli` when :mod:`p11.cli` imports them."""

from __future__ import annotations

import click

from p11 import __version__

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, prog_name="p11")
def cli() -> None:
    """Set up tokens, keys and certificates on any PKCS#11 module.

    \b
    Select the module with --module PATH, --module-name NAME or P11_MODULE; a token or object with --uri or
    --token/--label/--id; the PIN comes from --pin-source FILE, P11_PIN, the URI, or a prompt. Every subcommand
    takes --json. Exit codes: 0 ok, 1 the operation failed, 2 usage error.

    \b
    Example:
      export P11_MODULE=/usr/lib/softhsm/libsofthsm2.so
      p11 init-token --free --label demo --so-pin 12345678 --pin 1234
      P11_PIN=1234 p11 keygen ec --curve P-256 --token demo --label device-key
    """
