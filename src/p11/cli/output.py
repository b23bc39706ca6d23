"""Output: a readable table on a terminal, JSON for scripts (``--json``; stable keys, see docs/cli.md), bytes in
the encoding asked for, input from a file or standard input."""

from __future__ import annotations

import base64
import json
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["ENCODINGS", "console", "emit", "encode", "plain", "printable", "read_input", "table", "terminal_safe",
           "write_output"]

ENCODINGS = ("raw", "hex", "base64")


# Characters shown escaped: controls (a terminal would act on them), format characters (bidi overrides reorder
# what is shown), line and paragraph separators, and surrogates.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escaped(char: str) -> str:
    """``char`` as ``\\xNN``/``\\uNNNN`` when a terminal would act on it or it hides itself (see ``_HIDDEN``; a
    surrogate escape as the byte it stands for), else ``char``."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte it stands for
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(char) in _HIDDEN:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def printable(text: str) -> str:
    """A token's string (label, serial, manufacturer ...) as the command shows it, in tables and JSON: a byte that is
    not UTF-8 (kept by p11 as a surrogate escape) as ``\\xNN``, a character that would act on the terminal or hide
    itself as ``\\xNN``/``\\uNNNN``, and ``\\`` doubled, so what is shown tells different labels apart and
    reads back unambiguously. The URI the same output prints holds the exact bytes, percent-encoded."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join("\\\\" if char == "\\" else _escaped(char) for char in text)


def terminal_safe(text: str, *, keep_newlines: bool = False) -> str:
    """A message for standard error with nothing in it a terminal would act on: an error line quotes what data
    gave (a module path, a line of a CA's index, a token's answer), and an escape sequence there would reach the
    operator's terminal. Like :func:`printable` but ``\\`` is left alone (messages quote with ``repr`` already);
    ``keep_newlines`` for a traceback's own lines."""
    if text.isprintable():
        return text
    return "".join(char if keep_newlines and char == "\n" else _escaped(char) for char in text)


def console() -> Console:
    return Console(soft_wrap=True)


def plain(text: object) -> Text:
    """``text`` as rich shows it literally: a ``str`` given to rich is markup (``[/x]`` raises ``MarkupError``,
    ``[link=URL]`` writes a terminal hyperlink, ``[dim][/dim]`` hides itself), and what the command shows holds
    token strings, which whoever named an object chose."""
    return Text(str(text))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    out = Table(title=None if title is None else plain(title), title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(plain("" if cell is None else cell) for cell in row))
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


def write_output(data: bytes, path: str | None) -> None:
    """``data`` to ``path``, or to standard output for ``-`` / no path."""
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with open(path, "wb") as file:
        file.write(data)
