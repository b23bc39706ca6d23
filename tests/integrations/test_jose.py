"""JWS and JWT signed with keys on the token through jwcrypto (``jwk``) and josepy (``josepy_jwk``), each verified
with nothing but the public JWK a verifier would be given."""

from __future__ import annotations

import copy
import json
from typing import Any

import josepy
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwe, jws, jwt
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto.common import JWException

from p11.api.session import Session
from p11.constants import Attribute
from p11.crypto import KeyNotExportable, UnsupportedKeyType
from p11.integrations.jose import josepy_jwk, jwk
from tests.integrations.helpers import generate

JWS_CASES = [
    ("ES256", "p256"), ("ES384", "p384"), ("ES512", "p521"),
    ("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"),
    ("PS256", "rsa"), ("PS384", "rsa"), ("PS512", "rsa"),
    ("EdDSA", "ed25519"), ("EdDSA", "ed448"), ("Ed25519", "ed25519"), ("Ed448", "ed448"),
]


def _verifier(key: Any) -> jwcrypto_jwk.JWK:
    """What a verifier holds: a JWK parsed from the published public JSON, nothing else."""
    return jwcrypto_jwk.JWK.from_json(key.export_public())


@pytest.mark.parametrize(("alg", "name"), JWS_CASES)
def test_jwcrypto_jws_signed_on_the_token_verifies_with_the_public_jwk(
    token_keys: dict[str, Any], alg: str, name: str
) -> None:
    key = jwk(token_keys[name])
    signed = jws.JWS(b'{"hello": "token"}')
    signed.add_signature(key, alg=alg, protected=json.dumps({"alg": alg, "kid": key.kid}))
    compact = signed.serialize(compact=True)
    check = jws.JWS()
    check.deserialize(compact, key=_verifier(key))
    assert check.payload == b'{"hello": "token"}' and check.jose_header["kid"] == key.kid


def test_jwcrypto_jwt_signed_on_the_token(token_keys: dict[str, Any]) -> None:
    key = jwk(token_keys["p256"], kid="device-1", use="sig")
    token = jwt.JWT(header={"alg": "ES256", "kid": key.kid}, claims={"sub": "device-1", "n": 7})
    token.make_signed_token(key)
    checked = jwt.JWT(jwt=token.serialize(), key=_verifier(key), expected_type="JWS")
    assert json.loads(checked.claims) == {"sub": "device-1", "n": 7}
    assert key.kid == "device-1" and key.use == "sig"


@pytest.mark.parametrize("name", ["p256", "rsa", "ed25519"])
def test_jwcrypto_public_members_thumbprint_and_kid_are_the_software_keys(
    token_keys: dict[str, Any], name: str
) -> None:
    key = jwk(token_keys[name])
    software = jwcrypto_jwk.JWK.from_pyca(token_keys[name].public_key())
    assert key.thumbprint() == software.thumbprint() == key.kid
    assert json.loads(key.export_public()) == json.loads(software.export_public())
    assert key.has_private and key.has_public and not key.is_symmetric
    assert key.public().export() == software.export()
    assert key == software or key.thumbprint() == software.thumbprint()


@pytest.mark.parametrize("name", ["p256", "rsa", "ed25519"])
def test_jwcrypto_private_export_is_refused(token_keys: dict[str, Any], name: str) -> None:
    key = jwk(token_keys[name])
    for export in (key.export, key.export_private, lambda: key.export_to_pem(private_key=True, password=None)):
        with pytest.raises(KeyNotExportable):
            export()
    assert "d" not in key.export(private_key=False, as_dict=True)
    assert key.kid in repr(key) and "token" not in key.export_public()
    assert copy.deepcopy(key).thumbprint() == key.thumbprint()


def test_jwcrypto_refuses_an_algorithm_for_another_curve(token_keys: dict[str, Any]) -> None:
    signed = jws.JWS(b"payload")
    with pytest.raises(JWException):
        signed.add_signature(jwk(token_keys["p256"]), alg="ES384", protected=json.dumps({"alg": "ES384"}))


@pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256"])
def test_jwcrypto_jwe_decrypts_on_the_token(token_keys: dict[str, Any], alg: str) -> None:
    key = jwk(token_keys["rsa"])
    message = jwe.JWE(b"secret for the device", protected=json.dumps({"alg": alg, "enc": "A256GCM"}))
    message.add_recipient(_verifier(key))  # encrypted to the public key, as a sender does
    received = jwe.JWE()
    received.deserialize(message.serialize(compact=True), key=key)
    assert received.payload == b"secret for the device"


def test_jwcrypto_ecdh_es_decrypts_on_the_token(integ_session: Session) -> None:
    ecdh = generate(integ_session, "p256", label="ecdh", private_attrs={Attribute.DERIVE: True})
    key = jwk(ecdh)
    message = jwe.JWE(b"ecdh secret", protected=json.dumps({"alg": "ECDH-ES+A256KW", "enc": "A256GCM"}))
    message.add_recipient(_verifier(key))
    received = jwe.JWE()
    received.deserialize(message.serialize(compact=True), key=key)
    assert received.payload == b"ecdh secret"


def test_a_large_payload_is_signed_whole(token_keys: dict[str, Any]) -> None:
    """16 MiB through ES256 (hashed here), RS256 (hashed on the token) and EdDSA (the whole message to the token)."""
    payload = bytes(range(256)) * (16 * 4096)
    for alg, name in (("ES256", "p256"), ("RS256", "rsa"), ("EdDSA", "ed25519")):
        key = jwk(token_keys[name])
        signed = jws.JWS(payload)
        signed.add_signature(key, alg=alg, protected=json.dumps({"alg": alg}))
        check = jws.JWS()
        check.deserialize(signed.serialize(compact=True), key=_verifier(key))
        assert check.payload == payload, alg


def test_jwk_members_of_the_key_itself_cannot_be_given(token_keys: dict[str, Any]) -> None:
    for member in ("d", "x", "crv", "kty"):
        with pytest.raises(ValueError, match="member of the key itself"):
            jwk(token_keys["p256"], **{member: "AAAA"})
    assert jwk(token_keys["p256"], alg="ES256", key_ops=["sign"]).alg == "ES256"


def test_jwk_takes_only_token_keys(token_keys: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="token private key"):
        jwk(ec.generate_private_key(ec.SECP256R1()))
    assert jwk(token_keys["p256"].token_object).thumbprint() == jwk(token_keys["p256"]).thumbprint()


# -- josepy -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "name"), [("ES256", "p256"), ("ES384", "p384"), ("RS256", "rsa"), ("PS256", "rsa")])
def test_josepy_jws_signed_on_the_token(token_keys: dict[str, Any], alg: str, name: str) -> None:
    key = josepy_jwk(token_keys[name])
    algorithm = josepy.JWASignature.from_json(alg)
    signed = josepy.JWS.sign(b"payload", key=key, alg=algorithm)
    published = josepy.JWK.from_json(key.public_key().to_json())
    assert josepy.JWS.json_loads(signed.json_dumps()).verify(published)
    assert signed.signature.combined.jwk == published  # the header carries the public key only


@pytest.mark.parametrize("name", ["p256", "rsa"])
def test_josepy_thumbprint_of_the_private_jwk_is_the_public_ones(token_keys: dict[str, Any], name: str) -> None:
    """What ACME's key authorisation reads; josepy's own JWK classes raise KeyNotExportable for it."""
    key = josepy_jwk(token_keys[name])
    plain = josepy.JWKRSA(key=token_keys[name]) if name == "rsa" else josepy.JWKEC(key=token_keys[name])
    with pytest.raises(KeyNotExportable):
        plain.thumbprint()
    assert key.thumbprint() == plain.public_key().thumbprint()
    with pytest.raises(KeyNotExportable, match="public_key"):
        key.to_json()
    assert key == josepy_jwk(token_keys[name]) and hash(key) == hash(josepy_jwk(token_keys[name]))
    assert key != josepy_jwk(token_keys["p384"])


def test_josepy_has_no_edwards_keys(token_keys: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedKeyType, match="RSA and EC"):
        josepy_jwk(token_keys["ed25519"])
