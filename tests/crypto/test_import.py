"""Importing PEM/DER keys, certificates and raw secrets onto SoftHSM, and exporting public material back."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from p11 import errors, mechanisms
from p11.api.session import Session
from p11.constants import Attribute, CertificateType, KeyType, Mechanism, ObjectClass
from p11.crypto import (
    InvalidKeyData,
    KeyNotExportable,
    PasswordRequired,
    WrongPassword,
    certificate_to_x509,
    der_to_raw,
    export_public_key,
    import_certificate,
    import_der,
    import_pem,
    import_private_key,
    import_public_key,
    import_secret,
    key_id,
    to_der,
    to_pem,
    token_key,
)
from p11.encodings import der as _der

PASSWORD = b"s3cret-passphrase"


def private_pem(
    key: Any, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8, password: bytes | None = None
) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)  # type: ignore[no-any-return]


def certificate(
    subject_key: Any, issuer_key: Any, cn: str, issuer_cn: str | None = None, serial: int = 1000
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn or cn)]))
        .public_key(subject_key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(issuer_key, algorithm)
    )


def count_objects(session: Session) -> int:
    return sum(1 for _ in session.find())


# --- private keys -------------------------------------------------------------------------------------------------


def test_rsa_pkcs1_pem_becomes_private_and_public_objects_with_its_numbers(
    fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey
) -> None:
    result = import_pem(fresh_hsm, private_pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL), label="server")
    private, public = result.private_key, result.public_key
    assert private is not None and public is not None and not result.certificates
    numbers = rsa_key.private_numbers()
    for obj in (private, public):
        assert obj.label == "server" and obj.id == key_id(rsa_key) and obj.key_type == KeyType.RSA
        assert int.from_bytes(obj[Attribute.MODULUS], "big") == numbers.public_numbers.n
        assert int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big") == numbers.public_numbers.e
        assert obj[Attribute.TOKEN] is True
    assert private.object_class == ObjectClass.PRIVATE_KEY and public.object_class == ObjectClass.PUBLIC_KEY
    assert private.sensitive and not private.extractable and private.private
    with pytest.raises(errors.AttributeSensitive):
        private[Attribute.PRIVATE_EXPONENT]
    with pytest.raises(errors.AttributeSensitive):
        private[Attribute.PRIME_1]


def test_imported_rsa_key_signs_pkcs1v15_exactly_like_the_original(
    fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey
) -> None:
    private = import_pem(fresh_hsm, private_pem(rsa_key)).private_key
    assert private is not None
    message = b"the same bytes, signed twice"
    expected = rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    assert private.sign(message, Mechanism.SHA256_RSA_PKCS) == expected
    assert token_key(private).sign(message, padding.PKCS1v15(), hashes.SHA256()) == expected


def test_imported_sec1_ec_key_signatures_verify_both_ways(
    fresh_hsm: Session, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    result = import_pem(fresh_hsm, private_pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL), label="ec")
    private, public = result.private_key, result.public_key
    assert private is not None and public is not None
    assert private[Attribute.EC_PARAMS] == public[Attribute.EC_PARAMS] == bytes.fromhex("06082A8648CE3D030107")
    message = b"ec message"
    # token signs, the original public key verifies
    ec_key.public_key().verify(
        token_key(private).sign(message, ec.ECDSA(hashes.SHA256())), message, ec.ECDSA(hashes.SHA256())
    )
    # the original signs, the token's public key object verifies (raw r||s over the digest)
    signature = der_to_raw(ec_key.sign(message, ec.ECDSA(hashes.SHA256())), 32)
    public.verify(hashlib.sha256(message).digest(), signature, Mechanism.ECDSA)
    with pytest.raises(errors.SignatureInvalid):
        public.verify(hashlib.sha256(b"other").digest(), signature, Mechanism.ECDSA)
    assert export_public_key(public) == ec_key.public_key()


def test_imported_ed25519_key_signs_exactly_like_the_original(fresh_hsm: Session) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    result = import_pem(fresh_hsm, private_pem(key))
    assert result.private_key is not None and result.public_key is not None
    assert result.private_key.key_type == KeyType.EC_EDWARDS
    assert result.private_key[Attribute.EC_PARAMS] == bytes.fromhex("06032B6570")  # RFC 8410 id-Ed25519
    assert token_key(result.private_key).sign(b"ed message") == key.sign(b"ed message")
    result.public_key.verify(b"ed message", key.sign(b"ed message"), Mechanism.EDDSA)
    assert export_public_key(result.public_key) == key.public_key()
    assert export_public_key(result.private_key) == key.public_key()  # via the public object with its id


def test_softhsm_accepts_both_edwards_ec_params_forms(fresh_hsm: Session) -> None:
    # PKCS#11 3.0 allows the RFC 8410 OID (what p11 writes) or the PrintableString "edwards25519" (what SoftHSM
    # 2.6.1 itself stores on keys it generates); both must import, sign and export.
    key = ed25519.Ed25519PrivateKey.generate()
    name_form = {Attribute.EC_PARAMS: b"\x13\x0cedwards25519"}
    result = import_private_key(fresh_hsm, key, private_attrs=name_form, public_attrs=name_form, label="ed-name")
    assert result.private_key is not None and result.public_key is not None
    assert result.private_key[Attribute.EC_PARAMS] == b"\x13\x0cedwards25519"
    assert token_key(result.private_key).sign(b"either form") == key.sign(b"either form")
    assert export_public_key(result.public_key) == key.public_key()


def test_rsa_pss_signatures_verify_both_ways(fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey) -> None:
    result = import_pem(fresh_hsm, private_pem(rsa_key))
    private, public = result.private_key, result.public_key
    assert private is not None and public is not None
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    rsa_key.public_key().verify(token_key(private).sign(b"pss", pss, hashes.SHA256()), b"pss", pss, hashes.SHA256())
    public.verify(b"pss", rsa_key.sign(b"pss", pss, hashes.SHA256()), mechanisms.PSS("sha256", salt_length=32))


def test_password_encrypted_pkcs8_imports_with_the_password(
    fresh_hsm: Session, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    data = private_pem(ec_key, password=PASSWORD)
    assert b"ENCRYPTED PRIVATE KEY" in data
    private = import_pem(fresh_hsm, data, password=PASSWORD, label="enc").private_key
    assert private is not None and private.label == "enc"
    ec_key.public_key().verify(
        token_key(private).sign(b"m", ec.ECDSA(hashes.SHA384())), b"m", ec.ECDSA(hashes.SHA384())
    )


def test_wrong_or_missing_password_raises_and_creates_nothing(
    fresh_hsm: Session, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    data = private_pem(ec_key, password=PASSWORD)
    before = count_objects(fresh_hsm)
    with pytest.raises(WrongPassword) as info:
        import_pem(fresh_hsm, data, password=b"guess")
    assert "guess" not in str(info.value)
    with pytest.raises(PasswordRequired):
        import_pem(fresh_hsm, data)
    assert count_objects(fresh_hsm) == before


def test_garbage_raises_invalid_key_data_and_creates_nothing(fresh_hsm: Session) -> None:
    before = count_objects(fresh_hsm)
    with pytest.raises(InvalidKeyData):
        import_pem(fresh_hsm, b"-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InvalidKeyData):
        import_der(fresh_hsm, b"\x30\x03\x02\x01\x00")
    assert count_objects(fresh_hsm) == before


def test_der_private_key_and_explicit_id(fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey) -> None:
    der = rsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    result = import_der(fresh_hsm, der, id=b"\x01\x02", label="der")
    assert result.private_key is not None and result.private_key.id == b"\x01\x02"
    assert result.public_key is not None and result.public_key.id == b"\x01\x02"


def test_session_only_and_extractable_when_asked(fresh_hsm: Session, ec_key: ec.EllipticCurvePrivateKey) -> None:
    result = import_private_key(fresh_hsm, ec_key, token=False, extractable=True, public_key=False)
    private = result.private_key
    assert private is not None and not result.public_keys
    assert private[Attribute.TOKEN] is False and private.extractable


# --- certificates and bundles -------------------------------------------------------------------------------------


def test_certificate_import_has_subject_issuer_serial_and_exports_back_equal(
    fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    cert = certificate(ec_key, rsa_key, "leaf.example", "Example CA", serial=0x8000_0001)
    obj = import_certificate(fresh_hsm, cert.public_bytes(serialization.Encoding.PEM))
    assert obj.object_class == ObjectClass.CERTIFICATE
    assert obj.certificate_type == CertificateType.X_509
    assert obj.subject == cert.subject.public_bytes() and obj.issuer == cert.issuer.public_bytes()
    assert obj.serial_number == bytes.fromhex("02050080000001")
    assert _der.decode_integer(obj.serial_number) == cert.serial_number
    assert obj.value == cert.public_bytes(serialization.Encoding.DER)
    assert obj.label == "leaf.example" and obj.id == key_id(ec_key)
    assert certificate_to_x509(obj) == cert
    assert to_pem(obj) == cert.public_bytes(serialization.Encoding.PEM)
    assert to_der(obj) == cert.public_bytes(serialization.Encoding.DER)
    assert export_public_key(obj) == ec_key.public_key()


def test_bundle_pairs_key_and_certificate_and_keeps_the_chain_apart(
    fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    ca = certificate(rsa_key, rsa_key, "Example CA", serial=1)
    leaf = certificate(ec_key, rsa_key, "leaf.example", "Example CA", serial=2)
    bundle = (
        private_pem(ec_key, password=PASSWORD)
        + ca.public_bytes(serialization.Encoding.PEM)  # chain before leaf: pairing must not depend on order
        + leaf.public_bytes(serialization.Encoding.PEM)
    )
    result = import_pem(fresh_hsm, bundle, password=PASSWORD, label="web")
    private, public = result.private_key, result.public_key
    assert private is not None and public is not None and len(result.certificates) == 2
    own = next(c for c in result.certificates if c.value == leaf.public_bytes(serialization.Encoding.DER))
    other = next(c for c in result.certificates if c is not own)
    assert result.certificate == own  # the key's own certificate comes first
    assert private.id == public.id == own.id == key_id(ec_key)
    assert private.label == public.label == own.label == "web"
    assert private[Attribute.SUBJECT] == public[Attribute.SUBJECT] == leaf.subject.public_bytes()
    assert other.id == key_id(rsa_key) and other.label == "Example CA"
    assert fresh_hsm.get_object(object_class=ObjectClass.CERTIFICATE, id=private.id) == own


def test_import_private_key_with_its_certificate(fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey) -> None:
    cert = certificate(rsa_key, rsa_key, "self")
    result = import_private_key(fresh_hsm, rsa_key, certificate=cert, label="pair")
    assert result.private_key is not None and result.certificate is not None
    assert result.private_key.id == result.certificate.id
    with pytest.raises(ValueError, match="not for this private key"):
        import_private_key(fresh_hsm, ec.generate_private_key(ec.SECP256R1()), certificate=cert)


def test_failed_import_destroys_what_it_had_created(fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey) -> None:
    bundle = private_pem(rsa_key) + certificate(rsa_key, rsa_key, "self").public_bytes(serialization.Encoding.PEM)
    before = count_objects(fresh_hsm)
    # The certificate's template is refused (a label must be text) after both key objects were made. (A refusal
    # by SoftHSM itself is not used here: SoftHSM 2.6.1 leaves a half-made object behind when C_CreateObject
    # fails on an attribute, which no caller can clean up.)
    with pytest.raises(TypeError):
        import_pem(fresh_hsm, bundle, label="rollback", certificate_attrs={Attribute.LABEL: 12345})
    assert count_objects(fresh_hsm) == before
    assert not list(fresh_hsm.find(label="rollback"))


# --- public keys --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_public_key_import_and_export_round_trip(
    fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, kind: str
) -> None:
    key = {"rsa": rsa_key, "ec": ec_key, "ed25519": ed25519.Ed25519PrivateKey.generate()}[kind].public_key()
    spki = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    obj = import_public_key(fresh_hsm, spki, label=f"pub-{kind}")
    assert obj.object_class == ObjectClass.PUBLIC_KEY and obj.id == key_id(key)
    assert export_public_key(obj) == key
    assert to_pem(obj) == spki


def test_rsa_pkcs1_public_key_pem_imports(fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey) -> None:
    pkcs1 = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    assert b"RSA PUBLIC KEY" in pkcs1
    obj = import_public_key(fresh_hsm, pkcs1)
    encrypted = obj.encrypt(b"to the key", Mechanism.RSA_PKCS)
    assert rsa_key.decrypt(encrypted, padding.PKCS1v15()) == b"to the key"


def test_private_keys_are_not_exported(fresh_hsm: Session, rsa_key: rsa.RSAPrivateKey) -> None:
    private = import_pem(fresh_hsm, private_pem(rsa_key)).private_key
    with pytest.raises(KeyNotExportable, match="never leaves"):
        to_pem(private)
    with pytest.raises(KeyNotExportable):
        to_der(rsa_key)
    assert export_public_key(private) == rsa_key.public_key()  # the public half is fine


def test_public_half_of_ec_key_found_through_certificate_or_reported_missing(
    fresh_hsm: Session, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    alone = import_private_key(fresh_hsm, ec_key, public_key=False, id=b"alone").private_key
    assert alone is not None
    with pytest.raises(errors.NoSuchObject, match="public"):
        export_public_key(alone)
    import_certificate(fresh_hsm, certificate(ec_key, ec_key, "self-ec"), id=b"alone")
    assert export_public_key(alone) == ec_key.public_key()
    assert token_key(alone).public_key() == ec_key.public_key()


def test_token_generated_edwards_key_exports(fresh_hsm: Session) -> None:
    public, private = fresh_hsm.generate_keypair(KeyType.EC_EDWARDS, curve="ed25519", label="gen-ed")
    exported = export_public_key(public)
    assert isinstance(exported, ed25519.Ed25519PublicKey)
    exported.verify(token_key(private).sign(b"generated"), b"generated")


# --- secrets ------------------------------------------------------------------------------------------------------


def test_hmac_secret_signs_like_python_hmac_and_stays_secret(fresh_hsm: Session) -> None:
    secret = b"k" * 32
    key = import_secret(fresh_hsm, secret, KeyType.GENERIC_SECRET, label="hmac")
    assert key.object_class == ObjectClass.SECRET_KEY and key.label == "hmac"
    assert key.sign(b"data", Mechanism.SHA256_HMAC) == hmac.new(secret, b"data", hashlib.sha256).digest()
    assert key.sensitive and not key.extractable
    with pytest.raises(errors.AttributeSensitive):
        key[Attribute.VALUE]


def test_aes_secret_encrypts_like_cryptography(fresh_hsm: Session) -> None:
    secret = bytes(range(32))
    key = import_secret(fresh_hsm, secret, KeyType.AES, label="aes", wrap=True)
    assert key["wrap"] is True and key["unwrap"] is False
    iv = bytes(12)
    ciphertext = key.encrypt(b"plain text", mechanisms.GCM(iv))
    assert AESGCM(secret).decrypt(iv, ciphertext, None) == b"plain text"


def test_bad_secret_raises_before_touching_the_token(fresh_hsm: Session) -> None:
    before = count_objects(fresh_hsm)
    with pytest.raises(ValueError, match="AES key is 16, 24, 32 bytes"):
        import_secret(fresh_hsm, bytes(20), KeyType.AES)
    with pytest.raises(TypeError, match="unknown attribute keyword"):
        import_secret(fresh_hsm, bytes(16), KeyType.AES, not_an_attribute=True)
    assert count_objects(fresh_hsm) == before


def test_key_and_certificate_from_separate_files_merge_and_pair(fresh_hsm, rsa_key, ec_key):
    """A key file (PKCS#1 PEM) and its certificate file (DER) read apart import as one: matching ids."""
    from p11.crypto import KeyMaterial, load_key_material

    cert = certificate(rsa_key, rsa_key, "thing")
    key_part = load_key_material(private_pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL))
    cert_part = load_key_material(cert.public_bytes(serialization.Encoding.DER))
    merged = KeyMaterial.merge(key_part, cert_part)
    merged.check_certificate_matches()
    result = import_pem(fresh_hsm, merged, label="thing", id=b"\x00\x00")
    assert result.private_key is not None and result.certificate is not None
    assert result.private_key.id == result.certificate.id == b"\x00\x00"

    wrong = KeyMaterial.merge(load_key_material(private_pem(ec_key)), cert_part)
    with pytest.raises(InvalidKeyData, match=r"does not match the certificate.*CN=thing"):
        wrong.check_certificate_matches()
