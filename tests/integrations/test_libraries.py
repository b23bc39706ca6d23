"""The rows of docs/integrations.md for libraries that take a ``cryptography`` key: token keys through PyJWT,
signxml, ``cryptography``'s PKCS#7/S/MIME and josepy as they are, each signature checked independently (the
library's own verifier with the public key, or ``openssl cms -verify``); and the libraries that do not take one
(paramiko's RSAKey, asyncssh, jwcrypto's ``from_pyca``), pinned here so the table's "needs p11.integrations" stays
true."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import asyncssh
import josepy
import jwt
import paramiko
import pytest
import signxml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs7
from jwcrypto import jwk as jwcrypto_jwk
from lxml import etree

from p11.crypto import KeyNotExportable, TokenRefusedAlgorithm
from tests.integrations.helpers import TestCA


def _pem(cert: Any) -> bytes:
    return bytes(cert.public_bytes(serialization.Encoding.PEM))


# -- PyJWT: works as is ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "name"),
    [("ES256", "p256"), ("ES384", "p384"), ("ES512", "p521"), ("RS256", "rsa"), ("RS512", "rsa"), ("PS256", "rsa"),
     ("PS512", "rsa"), ("EdDSA", "ed25519"), ("EdDSA", "ed448")],
)
def test_pyjwt_signs_with_a_token_key(token_keys: dict[str, Any], alg: str, name: str) -> None:
    key = token_keys[name]
    token = jwt.encode({"sub": "device-1"}, key, algorithm=alg, headers={"kid": name})
    assert jwt.decode(token, key.public_key(), algorithms=[alg]) == {"sub": "device-1"}


def test_pyjwt_refuses_a_curve_that_does_not_match_the_algorithm(token_keys: dict[str, Any]) -> None:
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"sub": "x"}, token_keys["p256"], algorithm="ES384")


# -- signxml: works as is, SHA-3 RSA-PSS is UnsupportedAlgorithm on SoftHSM ----------------------------------


SIGNXML_CASES = [
    ("p256", signxml.SignatureMethod.ECDSA_SHA256),
    ("p384", signxml.SignatureMethod.ECDSA_SHA384),
    ("p256", signxml.SignatureMethod.ECDSA_SHA3_256),
    ("rsa", signxml.SignatureMethod.RSA_SHA256),
    ("rsa", signxml.SignatureMethod.RSA_SHA512),
    ("rsa", signxml.SignatureMethod.SHA256_RSA_MGF1),
    ("rsa", signxml.SignatureMethod.SHA512_RSA_MGF1),
]


@pytest.mark.parametrize(("name", "method"), SIGNXML_CASES, ids=lambda v: getattr(v, "name", v))
def test_signxml_signs_with_a_token_key(token_keys: dict[str, Any], test_ca: TestCA, name: str, method: Any) -> None:
    key = token_keys[name]
    cert = _pem(test_ca.issue(key.public_key(), f"xml {name}"))
    signed = signxml.XMLSigner(signature_algorithm=method).sign(etree.fromstring(b"<doc><a>1</a></doc>"),
                                                                  key=key, cert=cert)
    verified = signxml.XMLVerifier().verify(signed, x509_cert=cert, expect_config=signxml.SignatureConfiguration(
        signature_methods=frozenset({method})))
    assert etree.tostring(verified.signed_xml) == b"<doc><a>1</a></doc>"


def test_signxml_rsa_pss_with_sha3_is_unsupported_algorithm(token_keys: dict[str, Any], test_ca: TestCA) -> None:
    key = token_keys["rsa"]
    cert = _pem(test_ca.issue(key.public_key(), "xml pss sha3"))
    signer = signxml.XMLSigner(signature_algorithm=signxml.SignatureMethod.SHA3_256_RSA_MGF1)
    with pytest.raises(UnsupportedAlgorithm) as info:
        signer.sign(etree.fromstring(b"<doc/>"), key=key, cert=cert)
    assert isinstance(info.value, TokenRefusedAlgorithm)


# -- cryptography's PKCS#7 / S/MIME: works as is for EC, RSA and RSA-PSS ---------------------------------------


@pytest.mark.parametrize("case", ["p256", "rsa", "rsa-pss"])
def test_smime_signed_on_the_token_verifies_with_openssl(
    token_keys: dict[str, Any], test_ca: TestCA, tmp_path: Path, case: str
) -> None:
    key = token_keys[case.split("-")[0]]
    cert = test_ca.issue(key.public_key(), f"smime {case}")
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH) if case == "rsa-pss" else None
    message = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(b"signed on the token\r\n")
        .add_signer(cert, key, hashes.SHA256(), rsa_padding=pss)
        .sign(serialization.Encoding.SMIME, [])
    )
    (tmp_path / "msg.smime").write_bytes(message)
    (tmp_path / "ca.pem").write_bytes(_pem(test_ca.cert))
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-in", tmp_path / "msg.smime", "-inform", "SMIME", "-CAfile",
         tmp_path / "ca.pem", "-purpose", "any"],
        capture_output=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.replace(b"\r\n", b"\n") == b"signed on the token\n"


def test_smime_has_no_ed25519_for_any_key(token_keys: dict[str, Any], test_ca: TestCA) -> None:
    """cryptography's PKCS#7 builder refuses Ed25519 signers whatever the key (the table says so)."""
    key = token_keys["ed25519"]
    builder = pkcs7.PKCS7SignatureBuilder().set_data(b"x")
    with pytest.raises(TypeError):
        builder.add_signer(test_ca.issue(key.public_key(), "ed"), key, None)  # type: ignore[arg-type]


# -- josepy: signs as is; the private JWK's thumbprint and JSON need josepy_jwk / public_key() ---------------


@pytest.mark.parametrize(("alg", "name"), [("ES256", "p256"), ("RS256", "rsa"), ("PS256", "rsa")])
def test_josepy_signs_with_a_token_key(token_keys: dict[str, Any], alg: str, name: str) -> None:
    key = token_keys[name]
    jwk = josepy.JWKEC(key=key) if name.startswith("p") else josepy.JWKRSA(key=key)
    signed = josepy.JWS.sign(b"payload", key=jwk, alg=josepy.JWASignature.from_json(alg))
    assert signed.verify(jwk.public_key())
    with pytest.raises(KeyNotExportable):  # josepy builds the private JSON first
        jwk.thumbprint()
    assert jwk.public_key().thumbprint()  # the same value, from the public members


# -- the libraries that take no cryptography key as it is --------------------------------------------------------


def test_paramiko_rsakey_reads_private_numbers(token_keys: dict[str, Any]) -> None:
    """paramiko's own RSAKey reads ``private_numbers().public_numbers``: hence ``paramiko_key``; its ECDSAKey
    takes the adapter."""
    with pytest.raises(KeyNotExportable):
        paramiko.RSAKey(key=token_keys["rsa"]).asbytes()
    ecdsa = paramiko.ECDSAKey(vals=(token_keys["p256"], token_keys["p256"].public_key()))
    signed = ecdsa.sign_ssh_data(b"data")
    signed.rewind()
    assert ecdsa.verify_ssh_sig(b"data", signed)


def test_asyncssh_takes_no_cryptography_key_at_all(token_keys: dict[str, Any]) -> None:
    with pytest.raises(AttributeError):
        asyncssh.load_keypairs([token_keys["p256"]])


def test_jwcrypto_from_pyca_reads_private_numbers(token_keys: dict[str, Any]) -> None:
    with pytest.raises(KeyNotExportable):
        jwcrypto_jwk.JWK.from_pyca(token_keys["p256"])
