"""The few DER encodings PKCS#11 attributes use: OBJECT IDENTIFIER, OCTET STRING, INTEGER, PrintableString.

PKCS#11 stores some attributes DER-encoded (``CKA_EC_PARAMS`` is an OID or a curve name, ``CKA_EC_POINT`` an
OCTET STRING, ``CKA_SERIAL_NUMBER`` an INTEGER). These helpers encode exactly those and decode them strictly,
raising :class:`DERError` (a ``ValueError``) on anything malformed, so a bad attribute value from a token is
reported, not misread. :mod:`p11.mechanisms` builds PKCS#1 v1.5 ``DigestInfo`` with :func:`encode_tlv`. Everything
bigger (certificates, keys) goes through ``cryptography`` in :mod:`p11.crypto`.
"""

from __future__ import annotations

from p11.errors import DERError

__all__ = [
    "TAG_INTEGER",
    "TAG_NULL",
    "TAG_OCTET_STRING",
    "TAG_OID",
    "TAG_PRINTABLE_STRING",
    "TAG_SEQUENCE",
    "DERError",
    "decode_integer",
    "decode_octet_string",
    "decode_oid",
    "encode_integer",
    "encode_octet_string",
    "encode_oid",
    "encode_printable_string",
    "encode_tlv",
    "read_tlv",
]

TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_NULL = 0x05
TAG_OID = 0x06
TAG_PRINTABLE_STRING = 0x13
TAG_SEQUENCE = 0x30


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode_tlv(tag: int, value: bytes) -> bytes:
    """One DER element: tag, definite length, value."""
    return bytes([tag]) + _encode_length(len(value)) + value


def read_tlv(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """Parse one element at ``offset``: ``(tag, value, offset after it)``. Only single-byte tags (all we
    need)."""
    if offset + 2 > len(data):
        raise DERError("truncated DER element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte DER tags are not supported")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 8:
            raise DERError("indefinite or oversized DER length")
        if pos + count > len(data):
            raise DERError("truncated DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise DERError("non-minimal DER length")
        pos += count
    end = pos + length
    if end > len(data):
        raise DERError("DER element is longer than its data")
    return tag, bytes(data[pos:end]), end


def _read_single(data: bytes, tag: int, what: str) -> bytes:
    got, value, end = read_tlv(bytes(data))
    if got != tag:
        raise DERError(f"{what}: expected DER tag 0x{tag:02X}, got 0x{got:02X}")
    if end != len(data):
        raise DERError(f"{what}: trailing bytes after the DER element")
    return value


def encode_oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER from dotted text, e.g. ``"1.2.840.10045.3.1.7"``."""
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except ValueError:
        raise DERError(f"not a valid OID: {dotted!r}") from None
    if len(arcs) < 2 or min(arcs) < 0 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise DERError(f"not a valid OID: {dotted!r}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return encode_tlv(TAG_OID, bytes(body))


def decode_oid(der: bytes) -> str:
    """Dotted text of a DER OBJECT IDENTIFIER (the whole of ``der`` must be that one element)."""
    body = _read_single(der, TAG_OID, "OBJECT IDENTIFIER")
    if not body or body[-1] & 0x80:
        raise DERError("OBJECT IDENTIFIER: empty or truncated")
    arcs: list[int] = []
    value = 0
    start = True
    for byte in body:
        if start and byte == 0x80:
            raise DERError("OBJECT IDENTIFIER: non-minimal arc encoding")
        value = (value << 7) | (byte & 0x7F)
        start = not byte & 0x80
        if start:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def encode_octet_string(value: bytes) -> bytes:
    return encode_tlv(TAG_OCTET_STRING, bytes(value))


def decode_octet_string(der: bytes) -> bytes:
    return _read_single(der, TAG_OCTET_STRING, "OCTET STRING")


def encode_integer(value: int) -> bytes:
    """DER INTEGER (two's complement, minimal): what ``CKA_SERIAL_NUMBER`` holds for an X.509 certificate."""
    length = value.bit_length() // 8 + 1  # one spare bit for the sign
    body = value.to_bytes(length, "big", signed=True)
    while len(body) > 1 and ((body[0] == 0 and body[1] < 0x80) or (body[0] == 0xFF and body[1] >= 0x80)):
        body = body[1:]
    return encode_tlv(TAG_INTEGER, body)


def decode_integer(der: bytes) -> int:
    body = _read_single(der, TAG_INTEGER, "INTEGER")
    if not body:
        raise DERError("INTEGER: empty")
    return int.from_bytes(body, "big", signed=True)


_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def encode_printable_string(text: str) -> bytes:
    """DER PrintableString (the PKCS#11 3.0 curve-name form of ``CKA_EC_PARAMS``, e.g. ``"edwards25519"``): only
    the characters X.680 allows in one."""
    raw = text.encode("utf-8")
    if not _PRINTABLE.issuperset(raw):  # (any non-ASCII character's bytes are outside the set too)
        raise DERError(f"not a PrintableString: {text!r}")
    return encode_tlv(TAG_PRINTABLE_STRING, raw)
