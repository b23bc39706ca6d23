"""PKCS#11 object templates from ``cryptography`` keys and certificates, with secure defaults.

What ``softhsm2-util --import`` and ``pkcs11-tool --write-object`` build, made explicit: the attributes of
each object type, in one place, as plain ``{Attribute: value}`` dicts that :meth:`p11.Session.create_object`
takes. :mod:`p11.crypto.importing` calls these; they are public so a caller can inspect or adjust a template
first.

Defaults: private and secret keys are ``CKA_PRIVATE``, ``CKA_SENSITIVE`` and not ``CKA_EXTRACTABLE``; usage
flags come from the table of imported keys in :mod:`p11.defaults` (RSA: sign + decrypt; EC and EdDSA: sign; their
public halves: verify [+ encrypt]; AES: encrypt + decrypt; HMAC: sign + verify), every other flag of the class set
false explicitly, since tokens differ in what they assume when an attribute is left out (SoftHSM assumes true).
Big integers are written as unsigned big-endian bytes.

``CKA_ID``: when none is given, :func:`key_id` derives it from the public key the way NSS and OpenSC's
``pkcs15-init`` (its default "native"/Mozilla ID style) do: SHA-1 of the RSA modulus, or of the raw public
point for EC (the uncompressed X9.62 point) and EdDSA (the RFC 8032 public key). A key, its public half and
its certificate so get the same id, and so do the same key imported twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from p11.constants import Attribute, CertificateType, KeyType, ObjectClass
from p11.crypto.ecdsa import ec_params_for_curve, edwards_ec_params, encode_ec_point, field_bytes
from p11.crypto.errors import UnsupportedKeyType
from p11.defaults import usage_flags
from p11.encodings import der as _der

__all__ = [
    "PrivateKeyTypes",
    "PublicKeyTypes",
    "Template",
    "certificate_template",
    "key_id",
    "private_key_template",
    "public_key_template",
    "secret_key_template",
]

Template = dict[Attribute, Any]
PrivateKeyTypes = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
PublicKeyTypes = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey

_SUPPORTED = "RSA, EC (named curves), Ed25519 and Ed448"

def _uint(value: int) -> bytes:
    """Unsigned big-endian bytes, at least one byte: how PKCS#11 stores big integers."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _key_type(key: PrivateKeyTypes | PublicKeyTypes) -> KeyType:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return KeyType.RSA
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return KeyType.EC
    if isinstance(
        key,
        ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey | ed448.Ed448PrivateKey | ed448.Ed448PublicKey,
    ):
        return KeyType.EC_EDWARDS
    raise UnsupportedKeyType(f"{type(key).__name__} keys are not supported; p11.crypto handles {_SUPPORTED} keys")


def _public_of(key: PrivateKeyTypes | PublicKeyTypes) -> PublicKeyTypes:
    _key_type(key)  # rejects unsupported types with a clear message
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return key
    return key.public_key()


def _raw_point(public: PublicKeyTypes) -> bytes:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return public.public_bytes_raw()
    raise UnsupportedKeyType(f"{type(public).__name__} has no EC point")


def _edwards_name(key: Any) -> str:
    return "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey) else "ed448"


def _ec_params(key: PrivateKeyTypes | PublicKeyTypes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ec_params_for_curve(key.curve)
    return edwards_ec_params(_edwards_name(key))  # type: ignore[arg-type]


def key_id(key: PrivateKeyTypes | PublicKeyTypes) -> bytes:
    """The ``CKA_ID`` NSS and OpenSC derive for a key: SHA-1 of the RSA modulus or of the raw public point."""
    public = _public_of(key)
    material = _uint(public.public_numbers().n) if isinstance(public, rsa.RSAPublicKey) else _raw_point(public)
    return hashlib.sha1(material, usedforsecurity=False).digest()


def _common(object_class: ObjectClass, label: str | None, id: bytes | None, token: bool, private: bool) -> Template:
    template: Template = {Attribute.CLASS: object_class, Attribute.TOKEN: token, Attribute.PRIVATE: private}
    if label is not None:
        template[Attribute.LABEL] = label
    if id is not None:
        template[Attribute.ID] = bytes(id)
    return template


def _merge(template: Template, extra: Mapping[Attribute, Any] | None) -> Template:
    if extra:
        for attribute, value in extra.items():
            template[Attribute(attribute)] = value
    return template


def private_key_template(
    key: PrivateKeyTypes,
    *,
    label: str | None = None,
    id: bytes | None = None,
    subject: x509.Name | bytes | None = None,
    token: bool = True,
    private: bool = True,
    sensitive: bool = True,
    extractable: bool = False,
    attrs: Mapping[Attribute, Any] | None = None,
) -> Template:
    """Template for a private-key object holding ``key`` (``id`` defaults to :func:`key_id`)."""
    key_type = _key_type(key)
    if not isinstance(
        key,
        rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey,
    ):
        raise UnsupportedKeyType(f"expected a private key, got {type(key).__name__}")
    template = _common(ObjectClass.PRIVATE_KEY, label, key_id(key) if id is None else id, token, private)
    template[Attribute.KEY_TYPE] = key_type
    template[Attribute.SENSITIVE] = sensitive
    template[Attribute.EXTRACTABLE] = extractable
    if subject is not None:
        template[Attribute.SUBJECT] = subject.public_bytes() if isinstance(subject, x509.Name) else bytes(subject)
    template.update(usage_flags(key_type, ObjectClass.PRIVATE_KEY, "imported"))
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        template.update(
            {
                Attribute.MODULUS: _uint(numbers.public_numbers.n),
                Attribute.PUBLIC_EXPONENT: _uint(numbers.public_numbers.e),
                Attribute.PRIVATE_EXPONENT: _uint(numbers.d),
                Attribute.PRIME_1: _uint(numbers.p),
                Attribute.PRIME_2: _uint(numbers.q),
                Attribute.EXPONENT_1: _uint(numbers.dmp1),
                Attribute.EXPONENT_2: _uint(numbers.dmq1),
                Attribute.COEFFICIENT: _uint(numbers.iqmp),
            }
        )
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        template[Attribute.EC_PARAMS] = _ec_params(key)
        template[Attribute.VALUE] = key.private_numbers().private_value.to_bytes(field_bytes(key.curve), "big")
    else:
        template[Attribute.EC_PARAMS] = _ec_params(key)
        template[Attribute.VALUE] = key.private_bytes_raw()
    return _merge(template, attrs)


def public_key_template(
    key: PrivateKeyTypes | PublicKeyTypes,
    *,
    label: str | None = None,
    id: bytes | None = None,
    subject: x509.Name | bytes | None = None,
    token: bool = True,
    private: bool = False,
    attrs: Mapping[Attribute, Any] | None = None,
) -> Template:
    """Template for the public-key object of ``key`` (a public key, or the public half of a private key)."""
    public = _public_of(key)
    key_type = _key_type(public)
    template = _common(ObjectClass.PUBLIC_KEY, label, key_id(public) if id is None else id, token, private)
    template[Attribute.KEY_TYPE] = key_type
    if subject is not None:
        template[Attribute.SUBJECT] = subject.public_bytes() if isinstance(subject, x509.Name) else bytes(subject)
    template.update(usage_flags(key_type, ObjectClass.PUBLIC_KEY, "imported"))
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        template[Attribute.MODULUS] = _uint(numbers.n)
        template[Attribute.PUBLIC_EXPONENT] = _uint(numbers.e)
    else:
        template[Attribute.EC_PARAMS] = _ec_params(public)
        template[Attribute.EC_POINT] = encode_ec_point(_raw_point(public))
    return _merge(template, attrs)


def certificate_template(
    certificate: x509.Certificate,
    *,
    label: str | None = None,
    id: bytes | None = None,
    token: bool = True,
    private: bool = False,
    attrs: Mapping[Attribute, Any] | None = None,
) -> Template:
    """Template for an X.509 certificate object: type, subject, issuer, serial (all DER), value; ``id``
    defaults to the :func:`key_id` of the certificate's public key, so it pairs with the key imported from the
    same material."""
    if not isinstance(certificate, x509.Certificate):
        raise TypeError(f"expected a cryptography x509.Certificate, got {type(certificate).__name__}")
    if id is None:
        try:
            id = key_id(certificate.public_key())  # type: ignore[arg-type]
        except UnsupportedKeyType:
            id = hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER), usedforsecurity=False).digest()
    template = _common(ObjectClass.CERTIFICATE, label, id, token, private)
    template.update(
        {
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.SUBJECT: certificate.subject.public_bytes(),
            Attribute.ISSUER: certificate.issuer.public_bytes(),
            Attribute.SERIAL_NUMBER: _der.encode_integer(certificate.serial_number),
            Attribute.VALUE: certificate.public_bytes(serialization.Encoding.DER),
        }
    )
    return _merge(template, attrs)


# Secret-key lengths (bytes) the spec allows per type; a type not listed takes any non-empty value.
_SECRET_LENGTHS: dict[KeyType, tuple[int, ...]] = {
    KeyType.AES: (16, 24, 32),
    KeyType.DES3: (24,),
    KeyType.DES2: (16,),
}


def secret_key_template(
    value: bytes,
    key_type: KeyType = KeyType.GENERIC_SECRET,
    *,
    label: str | None = None,
    id: bytes | None = None,
    token: bool = True,
    private: bool = True,
    sensitive: bool = True,
    extractable: bool = False,
    attrs: Mapping[Attribute, Any] | None = None,
) -> Template:
    """Template for a secret key holding ``value``: generic secrets (HMAC) sign/verify, AES and DES
    encrypt/decrypt (``p11.defaults``); override usages with ``attrs`` (e.g. ``{Attribute.WRAP: True}``). No
    ``CKA_VALUE_LEN``: the spec forbids it in ``C_CreateObject``."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"key material must be bytes, not {type(value).__name__}")
    value = bytes(value)
    key_type = KeyType(key_type)
    allowed = _SECRET_LENGTHS.get(key_type)
    if not value:
        raise ValueError("a secret key cannot be empty")
    if allowed is not None and len(value) not in allowed:
        sizes = ", ".join(str(n) for n in allowed)
        raise ValueError(f"a {key_type.name} key is {sizes} bytes long, not {len(value)}")
    template = _common(ObjectClass.SECRET_KEY, label, id, token, private)
    template[Attribute.KEY_TYPE] = key_type
    template[Attribute.SENSITIVE] = sensitive
    template[Attribute.EXTRACTABLE] = extractable
    template.update(usage_flags(key_type, ObjectClass.SECRET_KEY, "imported"))
    template[Attribute.VALUE] = value
    return _merge(template, attrs)
