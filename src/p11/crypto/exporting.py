"""Token objects out to ``cryptography``: public keys and certificates as ``cryptography`` objects, PEM and
DER.

Only public material leaves: a public-key object, the public half of a private key (read from the private
object's public attributes for RSA, from its public-key object or certificate, matched by ``CKA_ID``, for EC
and EdDSA, whose private objects carry no public point), and certificates. Asking for a private key's PEM is
refused with :class:`~p11.crypto.errors.KeyNotExportable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from p11.constants import Attribute, CertificateType, KeyType, ObjectClass
from p11.crypto.ecdsa import (
    EDWARDS_KEY_LENGTHS,
    curve_for_ec_params,
    decode_ec_point,
    edwards_curve_for_ec_params,
    field_bytes,
)
from p11.crypto.errors import KeyNotExportable, UnsupportedKeyType
from p11.crypto.templates import PublicKeyTypes
from p11.errors import NoSuchObject

if TYPE_CHECKING:
    from p11.api.objects import Certificate, Object

__all__ = [
    "certificate_to_x509",
    "export_public_key",
    "to_der",
    "to_pem",
]


def _as_int(value: Any) -> int:
    """A big-integer attribute as an int, whichever way the attribute codec returned it."""
    if isinstance(value, int):
        return value
    return int.from_bytes(bytes(value), "big")


def _object_class(obj: Any) -> ObjectClass:
    try:
        return ObjectClass(obj.object_class)
    except AttributeError:
        raise TypeError(f"expected a p11 token object, got {type(obj).__name__}") from None


def certificate_to_x509(cert: Certificate) -> x509.Certificate:
    """The ``cryptography`` certificate a token certificate object holds (its ``CKA_VALUE``)."""
    if _object_class(cert) != ObjectClass.CERTIFICATE:
        raise TypeError(f"expected a certificate object, got a {_object_class(cert).name} object")
    attrs = cert.get_attributes([Attribute.CERTIFICATE_TYPE, Attribute.VALUE])
    if CertificateType(attrs[Attribute.CERTIFICATE_TYPE]) != CertificateType.X_509:
        raise UnsupportedKeyType(
            f"certificate type {CertificateType(attrs[Attribute.CERTIFICATE_TYPE]).name} is not X.509"
        )
    try:
        return x509.load_der_x509_certificate(bytes(attrs[Attribute.VALUE]))
    except ValueError:
        raise ValueError("the token certificate's CKA_VALUE is not a DER X.509 certificate") from None


def _public_from_public_object(obj: Object) -> PublicKeyTypes:
    key_type = KeyType(obj[Attribute.KEY_TYPE])
    if key_type == KeyType.RSA:
        attrs = obj.get_attributes([Attribute.MODULUS, Attribute.PUBLIC_EXPONENT])
        n, e = _as_int(attrs[Attribute.MODULUS]), _as_int(attrs[Attribute.PUBLIC_EXPONENT])
        return rsa.RSAPublicNumbers(e, n).public_key()
    if key_type == KeyType.EC:
        attrs = obj.get_attributes([Attribute.EC_PARAMS, Attribute.EC_POINT])
        curve = curve_for_ec_params(bytes(attrs[Attribute.EC_PARAMS]))
        point = decode_ec_point(bytes(attrs[Attribute.EC_POINT]), 2 * field_bytes(curve) + 1)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    if key_type == KeyType.EC_EDWARDS:
        attrs = obj.get_attributes([Attribute.EC_PARAMS, Attribute.EC_POINT])
        name = edwards_curve_for_ec_params(bytes(attrs[Attribute.EC_PARAMS]))
        raw = decode_ec_point(bytes(attrs[Attribute.EC_POINT]), EDWARDS_KEY_LENGTHS[name])
        cls = ed25519.Ed25519PublicKey if name == "ed25519" else ed448.Ed448PublicKey
        return cls.from_public_bytes(raw)
    raise UnsupportedKeyType(f"{key_type.name} public keys cannot be exported to cryptography")


def _public_from_private_object(obj: Any) -> PublicKeyTypes:
    key_type = KeyType(obj[Attribute.KEY_TYPE])
    if key_type == KeyType.RSA:  # an RSA private object carries its modulus and public exponent
        return _public_from_public_object(obj)
    if key_type not in (KeyType.EC, KeyType.EC_EDWARDS):
        raise UnsupportedKeyType(f"{key_type.name} keys cannot be exported to cryptography")
    try:
        public = obj.public_key()
    except LookupError:
        public = None
    if public is not None:
        return _public_from_public_object(public)
    key_id = obj.id
    if key_id:
        with obj.session.find(object_class=ObjectClass.CERTIFICATE, id=key_id) as search:
            for cert in search:
                return certificate_to_x509(cert).public_key()  # type: ignore[return-value]
    raise NoSuchObject(
        f"private key {obj.label!r} has no public-key object or certificate with its CKA_ID on the token, "
        "so its public key is unknown"
    )


def export_public_key(obj: Object) -> PublicKeyTypes:
    """The ``cryptography`` public key of a token public key, private key (its public half) or certificate."""
    object_class = _object_class(obj)
    if object_class == ObjectClass.PUBLIC_KEY:
        return _public_from_public_object(obj)
    if object_class == ObjectClass.PRIVATE_KEY:
        return _public_from_private_object(obj)
    if object_class == ObjectClass.CERTIFICATE:
        public = certificate_to_x509(obj).public_key()  # type: ignore[arg-type]
        if not isinstance(
            public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
        ):
            raise UnsupportedKeyType(f"the certificate's {type(public).__name__} is not supported")
        return public
    raise TypeError(f"a {object_class.name} object has no public key")


def _cryptography_object(obj: Any) -> Any:
    if isinstance(obj, x509.Certificate | x509.CertificateSigningRequest | x509.CertificateRevocationList):
        return obj
    if isinstance(obj, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return obj
    if isinstance(
        obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
    ):
        raise KeyNotExportable(
            "to_pem/to_der export public material only; for a private key's public half pass key.public_key()"
        )
    object_class = _object_class(obj)
    if object_class == ObjectClass.CERTIFICATE:
        return certificate_to_x509(obj)
    if object_class == ObjectClass.PUBLIC_KEY:
        return _public_from_public_object(obj)
    if object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY):
        raise KeyNotExportable(
            f"a token {object_class.name.lower().replace('_', ' ')} never leaves the token; "
            "export_public_key(private_key) gives the public half"
        )
    raise TypeError(f"a {object_class.name} object cannot be written as PEM or DER")


def _encode(obj: Any, encoding: serialization.Encoding) -> bytes:
    value = _cryptography_object(obj)
    if isinstance(value, x509.Certificate | x509.CertificateSigningRequest | x509.CertificateRevocationList):
        return value.public_bytes(encoding)
    return value.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[no-any-return]


def to_pem(obj: Any) -> bytes:
    """PEM of a token certificate or public key (or of a ``cryptography`` certificate, CSR, CRL, public key):
    ``CERTIFICATE`` or ``PUBLIC KEY`` (SubjectPublicKeyInfo)."""
    return _encode(obj, serialization.Encoding.PEM)


def to_der(obj: Any) -> bytes:
    """DER of what :func:`to_pem` takes."""
    return _encode(obj, serialization.Encoding.DER)
