"""X.509 with keys that never leave the token: a CA, leaves it signs, CSRs — checked by cryptography and openssl."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.x509.oid import NameOID

from p11.api.session import Session
from p11.constants import KeyType, ObjectClass
from p11.crypto import certificate_to_x509, import_certificate, key_id, to_pem, token_key

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


def generate(session: Session, kind: str, label: str) -> Any:
    """A key pair generated on the token, as a cryptography private key."""
    if kind == "rsa":
        _, private = session.generate_keypair(KeyType.RSA, 2048, label=label)
    elif kind == "p256":
        _, private = session.generate_keypair(KeyType.EC, curve="P-256", label=label)
    else:
        _, private = session.generate_keypair(KeyType.EC_EDWARDS, curve="ed25519", label=label)
    return token_key(private)


def hash_for(key: Any) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "p11 tests"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def ca_certificate(key: Any, **sign_options: Any) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name("p11 test CA"))
        .issuer_name(name("p11 test CA"))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hash_for(key), **sign_options)
    )


def leaf_certificate(ca_key: Any, ca: x509.Certificate, leaf_public: Any, **sign_options: Any) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name("leaf.p11.test"))
        .issuer_name(ca.subject)
        .public_key(leaf_public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("leaf.p11.test")]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hash_for(ca_key), **sign_options)
    )


def openssl_verify(tmp_path: Path, ca: x509.Certificate, leaf: x509.Certificate) -> subprocess.CompletedProcess[str]:
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, "verify", "-CAfile", "ca.pem", "leaf.pem"], cwd=tmp_path, capture_output=True, text=True, check=False
    )


@needs_openssl
@pytest.mark.parametrize("ca_kind", ["rsa", "p256", "ed25519"])
@pytest.mark.parametrize("leaf_kind", ["rsa", "p256", "ed25519"])
def test_token_ca_signs_a_token_leaf_that_cryptography_and_openssl_verify(
    fresh_hsm: Session, tmp_path: Path, ca_kind: str, leaf_kind: str
) -> None:
    ca_key = generate(fresh_hsm, ca_kind, "ca")
    leaf_key = generate(fresh_hsm, leaf_kind, "leaf")
    ca = ca_certificate(ca_key)
    leaf = leaf_certificate(ca_key, ca, leaf_key.public_key())
    ca.verify_directly_issued_by(ca)
    leaf.verify_directly_issued_by(ca)
    result = openssl_verify(tmp_path, ca, leaf)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leaf.pem: OK" in result.stdout


@needs_openssl
def test_openssl_rejects_a_leaf_from_another_ca(fresh_hsm: Session, tmp_path: Path) -> None:
    ca_key, other_key = generate(fresh_hsm, "p256", "ca"), generate(fresh_hsm, "p256", "other")
    ca, other_ca = ca_certificate(ca_key), ca_certificate(other_key)
    leaf = leaf_certificate(other_key, other_ca, ec.generate_private_key(ec.SECP256R1()).public_key())
    result = openssl_verify(tmp_path, ca, leaf)
    assert result.returncode != 0


@needs_openssl
@pytest.mark.parametrize("salt", [padding.PSS.DIGEST_LENGTH, padding.PSS.MAX_LENGTH], ids=["digest", "max"])
def test_rsa_pss_signed_certificates_verify(fresh_hsm: Session, tmp_path: Path, salt: Any) -> None:
    ca_key = generate(fresh_hsm, "rsa", "pss-ca")
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), salt)
    ca = ca_certificate(ca_key, rsa_padding=pss)
    leaf = leaf_certificate(ca_key, ca, ec.generate_private_key(ec.SECP256R1()).public_key(), rsa_padding=pss)
    leaf.verify_directly_issued_by(ca)
    result = openssl_verify(tmp_path, ca, leaf)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind", ["rsa", "p256", "ed25519"])
def test_csr_built_with_a_token_key_is_valid(fresh_hsm: Session, tmp_path: Path, kind: str) -> None:
    key = generate(fresh_hsm, kind, "csr")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name("csr.p11.test"))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("csr.p11.test")]), critical=False)
        .sign(key, hash_for(key))
    )
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()
    if OPENSSL is not None:
        (tmp_path / "req.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        result = subprocess.run(
            [OPENSSL, "req", "-in", "req.pem", "-verify", "-noout"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0 and "verif" in (result.stdout + result.stderr).lower()


def test_signed_certificate_pairs_with_its_token_key_on_import(fresh_hsm: Session) -> None:
    ca_key = generate(fresh_hsm, "rsa", "ca")
    public, private = fresh_hsm.generate_keypair(KeyType.EC, curve="P-256", label="server")
    leaf_key = token_key(private)
    ca = ca_certificate(ca_key)
    leaf = leaf_certificate(ca_key, ca, leaf_key.public_key())
    obj = import_certificate(fresh_hsm, leaf, id=private.id, label="server")
    assert obj.id == private.id == public.id
    found = fresh_hsm.get_object(object_class=ObjectClass.CERTIFICATE, id=private.id)
    assert certificate_to_x509(found) == leaf
    assert to_pem(found) == leaf.public_bytes(serialization.Encoding.PEM)
    # imported without an id, it gets the key-derived one
    assert import_certificate(fresh_hsm, ca).id == key_id(ca_key.public_key())
