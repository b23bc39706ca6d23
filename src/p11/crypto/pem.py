"""Finding the ``-----BEGIN X-----`` … ``-----END X-----`` blocks of PEM text in one linear pass.

A regular expression with a lazy body (``BEGIN (X)-----.*?-----END \\1-----``) looks for the END of every BEGIN
to the end of the data when there is none, so input made of many BEGIN lines costs time quadratic in its size
(437 KiB of them took 41 s, with the GIL held). Here the scan only ever moves forward: a block's body runs to
the next ``-----``, which must be its own END line; a BEGIN whose next marker is anything else is incomplete
and the scan carries on from that marker. Every byte is looked at a bounded number of times, and
:attr:`PemScan.examined` counts them (what the tests check, instead of timing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = ["PemBlock", "PemScan", "scan"]

_BEGIN: Final = b"-----BEGIN "
_DASHES: Final = b"-----"
# The label after "-----BEGIN ": the run stops at the first byte outside [A-Z0-9 ], so it never reaches past
# the next "-" (the labels of different BEGINs never overlap).
_LABEL: Final = re.compile(rb"[A-Z0-9 ]*")

@dataclass(frozen=True)
class PemBlock:
    """One complete block: its label (``b"CERTIFICATE"``) and its whole text, BEGIN and END lines included."""

    kind: bytes
    text: bytes


@dataclass
class PemScan:
    """What :func:`scan` found: the complete blocks in order, whether some BEGIN had no matching END, and how
    many bytes the scan examined (at most a small multiple of the input's length)."""

    blocks: list[PemBlock] = field(default_factory=list)
    incomplete: bool = False
    examined: int = 0


def _header_end(data: bytes, label_end: int) -> int:
    """Where the body starts after a BEGIN line's label (``-----`` and ``\n`` or ``\r\n``), or -1."""
    if not data.startswith(_DASHES, label_end):
        return -1
    after = label_end + len(_DASHES)
    if data.startswith(b"\n", after):
        return after + 1
    if data.startswith(b"\r\n", after):
        return after + 2
    return -1


def scan(data: bytes) -> PemScan:
    """The PEM blocks of ``data`` in one forward pass (see the module docstring)."""
    out = PemScan()
    size = len(data)
    pos = 0
    while pos < size:
        begin = data.find(_BEGIN, pos)
        out.examined += (begin if begin >= 0 else size) - pos
        if begin < 0:
            break
        start = begin + len(_BEGIN)
        label_end = _LABEL.match(data, start).end()  # type: ignore[union-attr]  # '*' always matches
        kind = data[start:label_end]
        body = _header_end(data, label_end)
        out.examined += (body if body > 0 else label_end + 1) - begin
        if not kind or body < 0:
            out.incomplete = True
            pos = label_end
            continue
        marker = data.find(_DASHES, body)
        out.examined += (marker if marker >= 0 else size) - body
        if marker < 0:
            out.incomplete = True
            break
        end_line = b"-----END " + kind + _DASHES
        if data.startswith(end_line, marker):
            out.examined += len(end_line)
            out.blocks.append(PemBlock(kind, data[begin : marker + len(end_line)]))
            pos = marker + len(end_line)
        else:
            out.incomplete = True  # another BEGIN (or a stray marker) before this block's END
            pos = marker
    return out
