"""Output: a readable table on a terminal, JSON for scripts (``--json``; stable keys, see docs/cli.md), bytes in
the encoding asked for, input from a file or standard input."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from p11.safewrite import write_file

__all__ = ["ENCODINGS", "console", "emit", "encode", "read_input", "table", "write_output"]

ENCODINGS = ("raw", "hex", "base64")


def console() -> Console:
    return Console(soft_wrap=True)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    return out


def emit(as_json: bool, data: Any, human: Callable[[Console], None] | str | None = None) -> None:
    """``data`` as JSON with ``--json``; otherwise ``human`` (a string, or a function printing to a console)."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if human is None:
        return
    if isinstance(human, str):
        click.echo(human)
    else:
        human(console())


def encode(data: bytes, encoding: str) -> bytes:
    if encoding == "hex":
        return data.hex().encode() + b"\n"
    if encoding == "base64":
        return base64.b64encode(data) + b"\n"
    return data


def decode(data: bytes, encoding: str) -> bytes:
    """What :func:`encode` made, back (surrounding whitespace ignored for hex and base64)."""
    try:
        if encoding == "hex":
            return bytes.fromhex(data.decode("ascii").strip())
        if encoding == "base64":
            return base64.b64decode(data.strip(), validate=True)
    except ValueError as exc:
        raise ValueError(f"the input is not {encoding}: {exc}") from None
    return data


def read_input(path: str | None) -> bytes:
    """The bytes of ``path``, or of standard input for ``-`` / no path."""
    if path is None or path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as file:
        return file.read()


def write_output(data: bytes, path: str | None, *, secret: bool = False) -> None:
    """``data`` to ``path``, or to standard output for ``-`` / no path. A file is written by
    :func:`p11.safewrite.write_file`: whole or not at all, a link at the path replaced rather than followed, and
    ``secret`` data (plaintext, random bytes) mode 0600 whatever was there."""
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_file(path, data, secret=secret)
