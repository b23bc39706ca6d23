"""Output: a table on a terminal, whole values one row a line when piped, JSON for scripts (``--json``; stable
keys, see docs/cli.md), bytes in the encoding asked for, input from a file or standard input.

Standard output that is not a terminal gets every value whole (a URI is the value people copy), one row a line,
cells separated by tabs, for ``cut -f`` and ``awk -F'\\t'``; the lines that are not rows (a title, the column
names) start with ``#``. Tabs, newlines and backslashes inside a value are written ``\\t``, ``\\n``, ``\\\\``
(and other control characters ``\\xNN``), on a terminal too, so a label cannot break a row.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, BinaryIO

import click
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from p11.cli.errors import USAGE, CliError
from p11.safewrite import write_file

__all__ = ["ENCODINGS", "cell", "console", "emit", "encode", "input_stream", "is_terminal", "print_line", "print_table",
           "printable", "read_input", "standard_input", "terminal_safe", "write_output"]

ENCODINGS = ("raw", "hex", "base64")


# Characters shown escaped: controls (a terminal would act on them), format characters (bidi overrides reorder
# what is shown), line and paragraph separators, and surrogates.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(char: str) -> str:
    """``char`` as ``\\xNN``/``\\uNNNN`` when a terminal would act on it or it hides itself (see ``_HIDDEN``; a
    surrogate escape as the byte it stands for), else ``char``."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte it stands for
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(char) in _HIDDEN:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def printable(text: str, *, backslash: bool = True) -> str:
    """A token's string (label, serial, manufacturer ...) or any value as the command shows it, in tables, piped
    lines and JSON: a byte that is not UTF-8 (kept by p11 as a surrogate escape) as ``\\xNN``, a tab, newline or
    carriage return as ``\\t``/``\\n``/``\\r``, any other character that would act on the terminal or hide itself as
    ``\\xNN``/``\\uNNNN``, and ``\\`` doubled, so what is shown tells different labels apart, stays one line, and
    reads back unambiguously. The URI the same output prints holds the exact bytes, percent-encoded.
    ``backslash=False`` leaves ``\\`` alone: for a value that went through this function already."""
    if text.isprintable() and (not backslash or "\\" not in text):
        return text
    return "".join(_ESCAPES[char] if char in _ESCAPES and (backslash or char != "\\") else _escaped(char)
                   for char in text)


def terminal_safe(text: str, *, keep_newlines: bool = False) -> str:
    """A message for standard error with nothing in it a terminal would act on: an error line quotes what data
    gave (a module path, a line of a CA's index, a token's answer), and an escape sequence there would reach the
    operator's terminal. Like :func:`printable` but ``\\`` is left alone (messages quote with ``repr`` already);
    ``keep_newlines`` for a traceback's own lines."""
    if text.isprintable():
        return text
    return "".join(char if keep_newlines and char == "\n" else _escaped(char) for char in text)


def console(*, stderr: bool = False) -> Console:
    return Console(soft_wrap=True, stderr=stderr)


def is_terminal(file: IO[str]) -> bool:
    """Whether ``file`` is a terminal (the table form) rather than a pipe or a file (the line form)."""
    try:
        return file.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def cell(value: Any) -> str:
    """A value as one table cell: ``None`` empty, else :func:`printable` (backslashes kept: the token strings in a
    row went through :func:`printable` already, for the JSON form, and other values hold none that matter)."""
    return "" if value is None else printable(str(value), backslash=False)


def print_line(out: Console, text: str) -> None:
    """A line that is not a table row (a heading): as it is on a terminal, after ``# `` otherwise."""
    if is_terminal(out.file):
        out.print(Text(text), markup=False, highlight=False)
    else:
        out.file.write(f"# {cell(text)}\n")


def print_table(out: Console, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """``rows`` under ``columns``, every value whole: on a terminal a table when it fits, else one
    ``column: value`` line each; tab-separated lines otherwise (see the module docstring)."""
    if not is_terminal(out.file):
        lines = [] if title is None else [f"# {cell(title)}"]
        lines.append("# " + "\t".join(columns))
        lines.extend("\t".join(cell(value) for value in row) for row in rows)
        out.file.write("".join(f"{line}\n" for line in lines))
        return
    cells = [[cell(value) for value in row] for row in rows]
    drawn = Table(title=Text(title) if title is not None else None, title_justify="left")
    for column in columns:
        drawn.add_column(column, no_wrap=True)
    for row in cells:
        drawn.add_row(*(Text(value) for value in row))
    widths = [max([cell_len(column)] + [cell_len(row[i]) for row in cells]) for i, column in enumerate(columns)]
    if sum(widths) + 3 * len(columns) + 1 <= out.width:  # a space either side of each value, a rule between
        out.print(drawn)
        return
    # Too wide for the terminal: one "column: value" line each, rows apart, so a long value (a URI) wraps as a
    # line of its own, and copies whole, instead of being cut or folded inside a cell.
    if title is not None:
        out.print(Text(title), markup=False, highlight=False)
    width = max(len(column) for column in columns) + 1
    for number, row in enumerate(cells):
        if number or title is not None:
            out.print()
        for column, value in zip(columns, row, strict=True):
            out.print(Text.assemble((f"{column}:".ljust(width), "bold"), " ", value), markup=False, highlight=False)


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


def standard_input() -> BinaryIO:
    """Standard input, to read bytes from; a usage error when it is closed (``<&-``: Python then has none)."""
    if sys.stdin is None:
        raise CliError("standard input is closed: there is nothing to read; name a file instead", USAGE)
    return sys.stdin.buffer


def read_input(path: str | None) -> bytes:
    """The bytes of ``path``, or of standard input for ``-`` / no path."""
    if path is None or path == "-":
        return standard_input().read()
    with open(path, "rb") as file:
        return file.read()


@contextlib.contextmanager
def input_stream(path: str | None) -> Iterator[BinaryIO]:
    """``path`` (standard input for ``-`` / no path) open for reading, for an operation that takes its data in
    parts (signing, verifying, hashing a file): a firmware image is read as it is signed, never held whole."""
    if path is None or path == "-":
        yield standard_input()
        return
    with open(path, "rb") as file:
        yield file


def write_output(data: bytes, path: str | None, *, secret: bool = False) -> None:
    """``data`` to ``path``, or to standard output for ``-`` / no path. A file is written by
    :func:`p11.safewrite.write_file`: whole or not at all, a link at the path replaced rather than followed, and
    ``secret`` data (plaintext, random bytes) mode 0600 whatever was there."""
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_file(path, data, secret=secret)
