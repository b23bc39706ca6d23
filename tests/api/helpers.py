"""Cross-check helpers of the ``p11.api`` tests (fixtures are in conftest.py here and in tests/conftest.py). They
turn token public keys into ``cryptography`` keys
(from ``CKA_MODULUS``/``CKA_PUBLIC_EXPONENT``/``CKA_EC_POINT``) and software public keys into token objects, so every
operation can be checked against an independent implementation.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from p11.api.session import Session
from p11.constants import Attribute, KeyType, ObjectClass
from p11.encodings import der as _der
from p11.encodings.curves import curve

__all__ = [
    "der_octet_string",
    "software_public_key",
    "split",
    "token_public_key",
    "unwrap_octet_string",
]

_CRYPTOGRAPHY_CURVES = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
}


# How tokens store CKA_EC_POINT: a DER OCTET STRING (the library's strict codec, tested in
# tests/crypto/test_encoding.py).
der_octet_string = _der.encode_octet_string
unwrap_octet_string = _der.decode_octet_string


def software_public_key(public: Any) -> Any:
    """A ``cryptography`` public key built from a token public key's attributes."""
    kt = public.key_type
    if kt == KeyType.RSA:
        n = int.from_bytes(public[Attribute.MODULUS], "big")
        e = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    point = unwrap_octet_string(public[Attribute.EC_POINT])
    name = public.curve
    if kt == KeyType.EC_EDWARDS:
        cls = ed25519.Ed25519PublicKey if name == "ed25519" else ed448.Ed448PublicKey
        return cls.from_public_bytes(point)
    return ec.EllipticCurvePublicKey.from_encoded_point(_CRYPTOGRAPHY_CURVES[name](), point)


def token_public_key(session: Session, key: Any, **attrs: Any) -> Any:
    """A session public-key object on the token holding a ``cryptography`` public key."""
    tmpl: dict[Any, Any] = {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.TOKEN: False, Attribute.VERIFY: True}
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        tmpl.update(
            {
                Attribute.KEY_TYPE: KeyType.RSA,
                Attribute.MODULUS: numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
                Attribute.PUBLIC_EXPONENT: numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"),
                Attribute.ENCRYPT: True,
                Attribute.WRAP: True,
            }
        )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        tmpl.update(
            {
                Attribute.KEY_TYPE: KeyType.EC,
                Attribute.EC_PARAMS: curve(key.curve.name).params,
                Attribute.EC_POINT: der_octet_string(point),
            }
        )
    else:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        name = "ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "ed448"
        tmpl.update(
            {
                Attribute.KEY_TYPE: KeyType.EC_EDWARDS,
                Attribute.EC_PARAMS: curve(name).params,
                Attribute.EC_POINT: der_octet_string(raw),
            }
        )
    tmpl.update(attrs)
    return session.create_object(tmpl)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the offsets ``cuts`` (clamped to its length, empty chunks kept): the parts a multi-part
    operation is fed, to compare with the single-shot result."""
    points = sorted({min(c, len(data)) for c in cuts})
    chunks, start = [], 0
    for point in points:
        chunks.append(data[start:point])
        start = point
    chunks.append(data[start:])
    return chunks
