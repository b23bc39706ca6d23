"""Fuzz targets: each takes arbitrary bytes and lets only the documented exceptions out.

Shared by the hypothesis tests (tests/fuzz/test_fuzz.py: a short run in the test command, plus the committed corpus
replayed) and the coverage-guided atheris runner (tests/fuzz/run_atheris.py: the long run in ``scripts/soak``).
Anything else escaping (IndexError, UnicodeError, RecursionError, SystemError ...) or a crash is a finding.

Targets: the RFC 7512 URI parser (and format -> parse round trip), PEM/DER key material (p11.crypto), the DER
reader (p11.encodings.der) and EC point/signature decoders, the mechanism parameter builders, and the attribute decoders
(the values a corrupted C_GetAttributeValue reply hands them; the reply lengths themselves are fuzzed through the
fault shim in tests/faults/test_replies.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from p11 import URI, _native
from p11.constants import Attribute, Mechanism
from p11.crypto import ecdsa
from p11.crypto.errors import InvalidKeyData, PasswordRequired, UnsupportedCurve, UnsupportedKeyType, WrongPassword
from p11.crypto.importing import load_key_material
from p11.encodings import der as _der
from p11.mechanisms import CBC, CTR, ECDH1, GCM, OAEP, PSS, EdDSA, KeyWrap, Raw
from p11.uri import URIError


class Input:
    """Reads typed values off the front of fuzz bytes (the same bytes give the same values)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def int(self, nbytes: int = 1, signed: bool = False) -> int:
        return int.from_bytes(self.take(nbytes).ljust(nbytes, b"\0"), "little", signed=signed)

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.int() % len(options)]

    def blob(self) -> bytes:
        return self.take(self.int())

    def text(self) -> str:
        return self.blob().decode("utf-8", "replace")

    def rest(self) -> bytes:
        return self.take(len(self.data))


def uri(data: bytes) -> None:
    """URI.parse: a URI, or URIError (a ValueError). A URI parsed formats to text that parses to the same URI."""
    for text in (data.decode("utf-8", "surrogatepass") if _utf8(data) else None, data.decode("latin-1")):
        if text is None:
            continue
        try:
            parsed = URI.parse(text)
        except URIError:
            continue
        again = URI.parse(parsed.format(include_pin=True))
        assert dict(again) == dict(parsed), (text, parsed, again)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


KEY_ERRORS = (InvalidKeyData, PasswordRequired, WrongPassword, UnsupportedKeyType, UnsupportedCurve)


def pem(data: bytes) -> None:
    """load_key_material (PEM or DER, with and without a password): material or one of its documented errors."""
    for password in (None, b"pw"):
        with contextlib.suppress(KEY_ERRORS):
            load_key_material(data, password=password)


def der(data: bytes) -> None:
    """The DER reader and the decoders built on it: a value or DERError/ValueError (UnsupportedCurve is one)."""
    inp = Input(data)
    which = inp.int()
    body = inp.rest()
    readers: list[Callable[[bytes], object]] = [
        lambda b: _der.read_tlv(b),
        _der.decode_oid,
        _der.decode_integer,
        _der.decode_octet_string,
        ecdsa.curve_for_ec_params,
        ecdsa.edwards_curve_for_ec_params,
        lambda b: ecdsa.decode_ec_point(b, 65),
        lambda b: ecdsa.der_to_raw(b, 32),
    ]
    with contextlib.suppress(ValueError):  # DERError, UnsupportedCurve and the decoders' own errors are ValueErrors
        readers[which % len(readers)](body)


_HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512", "sha3-256", "md5", "", "SHA-256", "nope", 7)


def _value(inp: Input) -> Any:
    """An argument of any plausible (or implausible) type."""
    kind = inp.int() % 7
    if kind == 0:
        return inp.blob()
    if kind == 1:
        return inp.text()
    if kind == 2:
        return inp.int(8, signed=True)
    if kind == 3:
        return None
    if kind == 4:
        return inp.choice(_HASHES)
    if kind == 5:
        return bytearray(inp.blob())
    return [inp.int()]


def mechanisms(data: bytes) -> None:
    """Every parameter builder with arbitrary arguments: a parameter object or TypeError/ValueError."""
    inp = Input(data)
    builders: list[Callable[[Input], object]] = [
        lambda i: GCM(_value(i), _value(i), _value(i)),
        lambda i: GCM(i.blob() or b"\0", i.blob(), i.int(2, signed=True)),
        lambda i: PSS(_value(i), _value(i), _value(i)),
        lambda i: OAEP(_value(i), _value(i), _value(i)),
        lambda i: CBC(_value(i), pad=bool(i.int() & 1)),
        lambda i: CTR(_value(i), _value(i)),
        lambda i: ECDH1(_value(i), _value(i), _value(i)),
        lambda i: KeyWrap(_value(i), pad=bool(i.int() & 1)),
        lambda i: EdDSA(_value(i), prehashed=bool(i.int() & 1)),
        lambda i: Raw(i.int(4), _value(i)),
        lambda i: Raw(i.choice(list(Mechanism)), _value(i)),
    ]
    try:
        built = builders[inp.int() % len(builders)](inp)
        repr(built)
    except (TypeError, ValueError):
        pass


_ATTRIBUTES = [int(a) for a in Attribute]


def attributes(data: bytes) -> None:
    """The attribute decoders on whatever bytes a token (or a corrupted reply) gives: a value or TypeError/ValueError;
    a decoded value encodes again."""
    inp = Input(data)
    attribute = inp.choice(_ATTRIBUTES) if inp.int() & 1 else inp.int(8)
    value = inp.rest()
    try:
        decoded = _native.decode(attribute, value)
    except (TypeError, ValueError):
        return
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        _native.encode(attribute, decoded)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "uri": uri,
    "pem": pem,
    "der": der,
    "mechanisms": mechanisms,
    "attributes": attributes,
}
