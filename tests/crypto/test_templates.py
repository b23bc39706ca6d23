"""p11.crypto without a token: parsing PEM/DER key material and the templates built from it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID

from p11.constants import Attribute, CertificateType, KeyType, ObjectClass
from p11.crypto import (
    InvalidKeyData,
    PasswordRequired,
    UnsupportedKeyType,
    WrongPassword,
    certificate_template,
    key_id,
    load_key_material,
    private_key_template,
    public_key_template,
    secret_key_template,
)
from p11.defaults import USAGE_FLAGS
from p11.encodings import der as _der
from tests.support import self_signed

PASSWORD = b"correct horse battery staple"


def pem(key: object, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)  # type: ignore[attr-defined,no-any-return]


# --- key ids ------------------------------------------------------------------------------------------------------


def test_rsa_key_id_is_sha1_of_the_modulus(rsa_key: rsa.RSAPrivateKey) -> None:
    n = rsa_key.public_key().public_numbers().n
    assert key_id(rsa_key) == hashlib.sha1(n.to_bytes((n.bit_length() + 7) // 8, "big")).digest()
    assert key_id(rsa_key.public_key()) == key_id(rsa_key)


def test_ec_key_id_is_sha1_of_the_uncompressed_point(ec_key: ec.EllipticCurvePrivateKey) -> None:
    point = ec_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert key_id(ec_key) == hashlib.sha1(point).digest()


def test_ed25519_key_id_is_sha1_of_the_public_key() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    assert key_id(key) == hashlib.sha1(key.public_key().public_bytes_raw()).digest()


# --- templates ----------------------------------------------------------------------------------------------------


def test_rsa_private_template_has_crt_parts_and_secure_defaults(rsa_key: rsa.RSAPrivateKey) -> None:
    t = private_key_template(rsa_key, label="k")
    numbers = rsa_key.private_numbers()
    assert t[Attribute.CLASS] == ObjectClass.PRIVATE_KEY and t[Attribute.KEY_TYPE] == KeyType.RSA
    for attribute, value in [
        (Attribute.MODULUS, numbers.public_numbers.n),
        (Attribute.PUBLIC_EXPONENT, numbers.public_numbers.e),
        (Attribute.PRIVATE_EXPONENT, numbers.d),
        (Attribute.PRIME_1, numbers.p),
        (Attribute.PRIME_2, numbers.q),
        (Attribute.EXPONENT_1, numbers.dmp1),
        (Attribute.EXPONENT_2, numbers.dmq1),
        (Attribute.COEFFICIENT, numbers.iqmp),
    ]:
        assert int.from_bytes(t[attribute], "big") == value
    assert t[Attribute.PRIVATE] is True and t[Attribute.SENSITIVE] is True and t[Attribute.EXTRACTABLE] is False
    assert t[Attribute.SIGN] and t[Attribute.DECRYPT] and not t[Attribute.UNWRAP] and not t[Attribute.DERIVE]
    assert t[Attribute.ID] == key_id(rsa_key) and t[Attribute.LABEL] == "k"


def test_ec_templates_carry_params_value_and_point(ec_key: ec.EllipticCurvePrivateKey) -> None:
    private = private_key_template(ec_key)
    public = public_key_template(ec_key)
    assert private[Attribute.EC_PARAMS] == public[Attribute.EC_PARAMS] == bytes.fromhex("06082A8648CE3D030107")
    assert int.from_bytes(private[Attribute.VALUE], "big") == ec_key.private_numbers().private_value
    assert len(private[Attribute.VALUE]) == 32
    point = ec_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert public[Attribute.EC_POINT] == _der.encode_octet_string(point)
    assert Attribute.EC_POINT not in private and Attribute.MODULUS not in public
    # Every usage flag written (SoftHSM would make the missing ones true): the private key signs, nothing else.
    assert {a: private[a] for a in USAGE_FLAGS[ObjectClass.PRIVATE_KEY]} == {
        Attribute.SIGN: True,
        Attribute.SIGN_RECOVER: False,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
    }
    assert {a: public[a] for a in USAGE_FLAGS[ObjectClass.PUBLIC_KEY]} == {
        Attribute.VERIFY: True,
        Attribute.VERIFY_RECOVER: False,
        Attribute.ENCRYPT: False,
        Attribute.WRAP: False,
        Attribute.DERIVE: False,
    }
    assert public[Attribute.PRIVATE] is False
    assert private_key_template(ec_key, attrs={Attribute.DERIVE: True})[Attribute.DERIVE] is True  # ECDH when asked


def test_rsa_templates_set_every_usage_flag() -> None:
    key = rsa.generate_private_key(65537, 2048)
    private, public = private_key_template(key), public_key_template(key)
    assert private[Attribute.SIGN] and private[Attribute.DECRYPT] and private[Attribute.UNWRAP] is False
    assert public[Attribute.VERIFY] and public[Attribute.ENCRYPT] and public[Attribute.WRAP] is False


@pytest.mark.parametrize("cls, size", [(ed25519.Ed25519PrivateKey, 32), (ed448.Ed448PrivateKey, 57)])
def test_edwards_templates(cls: type, size: int) -> None:
    key = cls.generate()
    private = private_key_template(key)
    public = public_key_template(key)
    assert private[Attribute.KEY_TYPE] == public[Attribute.KEY_TYPE] == KeyType.EC_EDWARDS
    assert private[Attribute.VALUE] == key.private_bytes_raw() and len(private[Attribute.VALUE]) == size
    assert public[Attribute.EC_POINT] == _der.encode_octet_string(key.public_key().public_bytes_raw())


def test_subject_and_overrides(rsa_key: rsa.RSAPrivateKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "who")])
    t = private_key_template(rsa_key, subject=name, extractable=True, attrs={Attribute.UNWRAP: True})
    assert t[Attribute.SUBJECT] == name.public_bytes()
    assert t[Attribute.EXTRACTABLE] is True and t[Attribute.UNWRAP] is True


def test_certificate_template(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = self_signed(rsa_key, serial=0x00FF_0102)
    t = certificate_template(cert, label="c")
    assert t[Attribute.CLASS] == ObjectClass.CERTIFICATE
    assert t[Attribute.CERTIFICATE_TYPE] == CertificateType.X_509
    assert t[Attribute.SUBJECT] == cert.subject.public_bytes()
    assert t[Attribute.ISSUER] == cert.issuer.public_bytes()
    assert t[Attribute.SERIAL_NUMBER] == bytes.fromhex("020400FF0102")  # DER INTEGER, sign byte kept
    assert t[Attribute.SERIAL_NUMBER] in cert.tbs_certificate_bytes
    assert t[Attribute.VALUE] == cert.public_bytes(serialization.Encoding.DER)
    assert t[Attribute.ID] == key_id(rsa_key)


def test_secret_template_defaults() -> None:
    hmac = secret_key_template(b"k" * 32)
    assert hmac[Attribute.KEY_TYPE] == KeyType.GENERIC_SECRET and hmac[Attribute.SIGN] and not hmac[Attribute.ENCRYPT]
    aes = secret_key_template(bytes(16), KeyType.AES)
    assert aes[Attribute.ENCRYPT] and aes[Attribute.DECRYPT] and not aes[Attribute.WRAP]
    assert aes[Attribute.SENSITIVE] and not aes[Attribute.EXTRACTABLE] and Attribute.VALUE_LEN not in aes


@pytest.mark.parametrize(
    "value, key_type, message", [(bytes(15), KeyType.AES, "16, 24, 32"), (b"", KeyType.GENERIC_SECRET, "empty")]
)
def test_secret_template_rejects_bad_lengths(value: bytes, key_type: KeyType, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        secret_key_template(value, key_type)


def test_secret_template_rejects_text() -> None:
    with pytest.raises(TypeError, match="bytes"):
        secret_key_template("secret", KeyType.GENERIC_SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [lambda: dsa.generate_private_key(1024), x25519.X25519PrivateKey.generate],
    ids=["dsa", "x25519"],
)
def test_unsupported_key_types_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(UnsupportedKeyType, match="not supported"):
        private_key_template(make())  # type: ignore[arg-type]


# --- parsing ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL], ids=["pkcs8", "trad"]
)
def test_private_keys_load_in_every_pem_format(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat
) -> None:
    for key, marker in [(rsa_key, b"RSA PRIVATE KEY"), (ec_key, b"EC PRIVATE KEY")]:
        data = pem(key, fmt)
        if fmt == serialization.PrivateFormat.TraditionalOpenSSL:
            assert marker in data  # PKCS#1 and SEC1
        loaded = load_key_material(data).private_keys
        assert len(loaded) == 1 and loaded[0].public_key() == key.public_key()


def test_encrypted_pkcs8_and_legacy_encrypted_pem(ec_key: ec.EllipticCurvePrivateKey) -> None:
    pkcs8 = pem(ec_key, serialization.PrivateFormat.PKCS8, PASSWORD)
    legacy = pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL, PASSWORD)
    assert b"ENCRYPTED PRIVATE KEY" in pkcs8 and b"Proc-Type: 4,ENCRYPTED" in legacy
    for data in (pkcs8, legacy):
        assert load_key_material(data, password=PASSWORD).private_keys[0].public_key() == ec_key.public_key()
        assert load_key_material(data, password=PASSWORD.decode()).private_keys  # str passwords are UTF-8


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL], ids=["pkcs8", "legacy"]
)
def test_wrong_password_raises_without_revealing_it(
    ec_key: ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat
) -> None:
    data = pem(ec_key, fmt, PASSWORD)
    with pytest.raises(WrongPassword) as info:
        load_key_material(data, password=b"not the password")
    assert "not the password" not in str(info.value) and isinstance(info.value, ValueError)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_password_raises_password_required(ec_key: ec.EllipticCurvePrivateKey) -> None:
    data = pem(ec_key, serialization.PrivateFormat.PKCS8, PASSWORD)
    with pytest.raises(PasswordRequired, match="encrypted"):
        load_key_material(data)


def test_password_for_unencrypted_key_is_reported(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(WrongPassword, match="not encrypted"):
        load_key_material(pem(ec_key, serialization.PrivateFormat.PKCS8), password=PASSWORD)


def test_der_private_public_and_certificate(rsa_key: rsa.RSAPrivateKey) -> None:
    der_key = rsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der_pub = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cert = self_signed(rsa_key, serial=12345)
    assert load_key_material(der_key).private_keys[0].public_key() == rsa_key.public_key()
    assert load_key_material(der_pub).public_keys[0] == rsa_key.public_key()
    assert load_key_material(cert.public_bytes(serialization.Encoding.DER)).certificates == [cert]
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(PASSWORD)
    )
    assert load_key_material(encrypted, password=PASSWORD).private_keys[0].public_key() == rsa_key.public_key()
    with pytest.raises(WrongPassword):
        load_key_material(encrypted, password=b"wrong")
    with pytest.raises(PasswordRequired):
        load_key_material(encrypted)


def test_bundle_of_key_certificate_and_ec_parameters(ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert = self_signed(ec_key, serial=12345)
    data = (
        b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        + pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL)
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    material = load_key_material(data)
    assert len(material.private_keys) == 1 and material.certificates == [cert] and not material.public_keys


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\x00\x01garbage", "neither PEM nor"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n", "no complete"),
        (b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", "not a valid PEM private key"),
        (b"-----BEGIN CERTIFICATE-----\nbm90IGEga2V5\n-----END CERTIFICATE-----\n", "not a valid PEM X.509"),
        (b"-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n", "not a valid PEM public key"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "OPENSSH PRIVATE KEY"),
        (b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n", "no key or certificate"),
    ],
)
def test_garbage_raises_invalid_key_data(data: bytes, message: str) -> None:
    with pytest.raises(InvalidKeyData, match=message):
        load_key_material(data)


def test_unsupported_key_in_pem_is_refused() -> None:
    data = pem(dsa.generate_private_key(1024), serialization.PrivateFormat.PKCS8)
    with pytest.raises(UnsupportedKeyType):
        load_key_material(data)


def test_wrong_argument_types() -> None:
    with pytest.raises(TypeError, match="bytes or str"):
        load_key_material(12345)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="password"):
        load_key_material(b"-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n", password=1)  # type: ignore[arg-type]
