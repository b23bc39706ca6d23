"""Elliptic curves between ``cryptography`` and PKCS#11: curve ↔ ``CKA_EC_PARAMS``, points, ECDSA signatures.

PKCS#11 and ``cryptography`` disagree on three encodings, and this module is where they meet:

* a curve is ``CKA_EC_PARAMS``: the DER of its OID (``06 08 2A 86 48 CE 3D 03 01 07`` for P-256), or, for
  Edwards curves, either the OID (RFC 8410 ``1.3.101.112`` for Ed25519) or the PrintableString
  ``"edwards25519"``. SoftHSM 2.6.1 accepts both Edwards forms (checked against the token in the tests); we
  write the OID and read either. The curve table itself is the core's (:mod:`p11.encodings.curves`); this module maps it
  onto ``cryptography`` curve classes.
* a public point is ``CKA_EC_POINT``: a DER OCTET STRING wrapping the X9.62 uncompressed point (or, for
  Edwards keys, the RFC 8032 public key). Some tokens return the point bare; :func:`decode_ec_point` takes
  both.
* an ECDSA signature from ``C_Sign`` is ``r ‖ s`` (each as long as the group order), while ``cryptography``
  and X.509 want the DER ``SEQUENCE { INTEGER r, INTEGER s }``: :func:`raw_to_der` / :func:`der_to_raw`.
"""

from __future__ import annotations

from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509 import ObjectIdentifier

from p11.constants import KeyType
from p11.crypto.errors import UnsupportedCurve
from p11.encodings import curves
from p11.encodings import der as _der

__all__ = [
    "EDWARDS_KEY_LENGTHS",
    "EdwardsCurve",
    "curve_for_ec_params",
    "decode_ec_point",
    "der_to_raw",
    "ec_params_for_curve",
    "edwards_curve_for_ec_params",
    "edwards_ec_params",
    "encode_ec_point",
    "field_bytes",
    "raw_to_der",
]

EdwardsCurve = Literal["ed25519", "ed448"]

# Public-key lengths of the Edwards curves (RFC 8032).
EDWARDS_KEY_LENGTHS: dict[str, int] = {"ed25519": 32, "ed448": 57}


def _describe(params: bytes) -> str:
    """A short, safe description of an unknown ``CKA_EC_PARAMS`` for an error message."""
    params = bytes(params)
    if not params:
        return "empty CKA_EC_PARAMS"
    tag = params[0]
    try:
        if tag == _der.TAG_OID:
            return f"curve OID {_der.decode_oid(params)}"
        if tag == _der.TAG_PRINTABLE_STRING:
            _, body, _ = _der.read_tlv(params)
            return f"curve name {body.decode('ascii', 'replace')!r}"
    except _der.DERError as exc:
        return f"CKA_EC_PARAMS that is not valid DER ({exc})"
    if tag == _der.TAG_SEQUENCE:
        return "explicit curve parameters (only named curves are supported)"
    return f"CKA_EC_PARAMS with unexpected DER tag 0x{tag:02X}"


def _named(name: str, key_type: KeyType) -> curves.Curve:
    try:
        found = curves.curve(name)
    except ValueError:
        found = None
    if found is None or found.key_type != key_type:
        known = sorted(c.name for c in curves.CURVES if c.key_type == key_type)
        raise UnsupportedCurve(f"curve {name!r} is not supported here; supported: {', '.join(known)}")
    return found


def _from_params(params: bytes, key_type: KeyType) -> curves.Curve:
    params = bytes(params)
    found = curves.curve_from_params(params)
    if found is None and params[:1] == bytes([_der.TAG_PRINTABLE_STRING]):
        # PKCS#11 3.0 allows any curve's name here, not only the Edwards/Montgomery names the table lists.
        try:
            _, body, end = _der.read_tlv(params)
            found = curves.curve(body.decode("ascii")) if end == len(params) else None
        except (_der.DERError, UnicodeDecodeError, ValueError):
            found = None
    if found is None or found.key_type != key_type:
        raise UnsupportedCurve(f"{_describe(params)} names no {key_type.name} curve p11.crypto supports")
    return found


def ec_params_for_curve(curve: ec.EllipticCurve) -> bytes:
    """``CKA_EC_PARAMS`` for a ``cryptography`` curve: the DER of its OID."""
    return _named(curve.name, KeyType.EC).params


def curve_for_ec_params(params: bytes) -> ec.EllipticCurve:
    """The ``cryptography`` curve named by ``CKA_EC_PARAMS`` (Weierstrass curves; see the Edwards helpers)."""
    found = _from_params(params, KeyType.EC)
    try:
        return ec.get_curve_for_oid(ObjectIdentifier(found.oid))()
    except LookupError:
        raise UnsupportedCurve(f"the installed cryptography does not support curve {found.name}") from None


def edwards_ec_params(curve: EdwardsCurve, *, form: Literal["oid", "name"] = "oid") -> bytes:
    """``CKA_EC_PARAMS`` for an Edwards curve: the RFC 8410 OID (default) or the PKCS#11 3.0 PrintableString
    name."""
    found = _named(curve, KeyType.EC_EDWARDS)
    if form == "oid" or found.token_name is None:
        return found.params
    return curves.printable_string(found.token_name)


def edwards_curve_for_ec_params(params: bytes) -> EdwardsCurve:
    """Which Edwards curve ``CKA_EC_PARAMS`` names, in either of its two encodings."""
    return _from_params(params, KeyType.EC_EDWARDS).name  # type: ignore[return-value]


def field_bytes(curve: ec.EllipticCurve) -> int:
    """Length in bytes of one coordinate (and of r and s) on ``curve``."""
    return (curve.key_size + 7) // 8


def encode_ec_point(point: bytes) -> bytes:
    """``CKA_EC_POINT`` from a raw point (uncompressed X9.62, or RFC 8032 public key): a DER OCTET STRING."""
    return _der.encode_octet_string(point)


def decode_ec_point(value: bytes, raw_length: int) -> bytes:
    """The raw point from ``CKA_EC_POINT``, DER-wrapped (the standard) or bare (some tokens).

    ``raw_length`` is the length of the bare point (``2 * field_bytes + 1`` uncompressed, 32 for Ed25519): it
    settles the one ambiguous case, a bare uncompressed point, which also starts with the OCTET STRING tag
    0x04.
    """
    value = bytes(value)
    if len(value) == raw_length and (raw_length in (32, 57) or value[:1] == b"\x04"):
        return value
    try:
        inner = _der.decode_octet_string(value)
    except _der.DERError as exc:
        raise UnsupportedCurve(f"CKA_EC_POINT is neither a bare point nor a DER OCTET STRING: {exc}") from None
    if len(inner) != raw_length:
        raise UnsupportedCurve(f"CKA_EC_POINT holds {len(inner)} bytes; expected {raw_length} (an uncompressed point)")
    return inner


def raw_to_der(signature: bytes) -> bytes:
    """DER ``ECDSA-Sig-Value`` from the ``r ‖ s`` a PKCS#11 ECDSA signature is."""
    signature = bytes(signature)
    if not signature or len(signature) % 2:
        raise ValueError(f"a raw ECDSA signature has an even, non-zero length; got {len(signature)} bytes")
    half = len(signature) // 2
    return encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))


def der_to_raw(signature: bytes, size: int) -> bytes:
    """``r ‖ s`` (each ``size`` bytes, see ``field_bytes``) from a DER ``ECDSA-Sig-Value``."""
    try:
        r, s = decode_dss_signature(bytes(signature))
    except ValueError:
        raise ValueError("not a DER ECDSA signature") from None
    if r < 0 or s < 0 or r.bit_length() > size * 8 or s.bit_length() > size * 8:
        raise ValueError(f"ECDSA signature values do not fit {size} bytes")
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")
