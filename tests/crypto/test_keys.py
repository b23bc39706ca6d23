"""Token private keys behind cryptography's interfaces: signing, decryption and ECDH on SoftHSM."""

from __future__ import annotations

import copy
import hashlib
import pickle
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import given, settings
from hypothesis import strategies as st

from p11 import errors
from p11.api.objects import PrivateKey
from p11.api.session import Session
from p11.constants import Attribute, KeyType, Mechanism
from p11.crypto import (
    KeyNotExportable,
    TokenEd448PrivateKey,
    TokenEd25519PrivateKey,
    TokenEllipticCurvePrivateKey,
    TokenRSAPrivateKey,
    as_cryptography,
    import_private_key,
    token_key,
)
from tests.support import imported_rsa

HASHES = [hashes.SHA1(), hashes.SHA224(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512(), hashes.SHA3_256()]


@pytest.fixture(scope="module")
def rsa_pair(hsm: Session) -> tuple[rsa.RSAPrivateKey, TokenRSAPrivateKey]:
    """A software RSA key and the same key imported onto the token, as a cryptography key."""
    software, private = imported_rsa(hsm, "rsa-adapter")
    return software, token_key(private)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def generated_rsa(hsm: Session) -> TokenRSAPrivateKey:
    """An RSA key generated on the token (never seen outside it)."""
    _, private = hsm.generate_keypair(KeyType.RSA, 2048, label="rsa-generated", token=False)
    return token_key(private)  # type: ignore[return-value]


def ec_on_token(
    hsm: Session, curve: ec.EllipticCurve, *, derive: bool = False
) -> tuple[ec.EllipticCurvePrivateKey, TokenEllipticCurvePrivateKey]:
    """``curve`` key made in software and imported; ECDH (``derive``) only when asked, as p11.defaults says."""
    software = ec.generate_private_key(curve)
    attrs = {Attribute.DERIVE: True} if derive else None
    private = import_private_key(hsm, software, token=False, private_attrs=attrs).private_key
    assert private is not None
    return software, token_key(private)  # type: ignore[return-value]


# --- the adapters are what cryptography expects -------------------------------------------------------------------


def test_token_key_picks_the_right_interface(hsm: Session, rsa_pair: Any) -> None:
    _, key = rsa_pair
    assert isinstance(key, rsa.RSAPrivateKey) and isinstance(key, TokenRSAPrivateKey)
    _, ec_key = ec_on_token(hsm, ec.SECP256R1())
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)
    ed = import_private_key(hsm, ed25519.Ed25519PrivateKey.generate(), token=False).private_key
    assert isinstance(token_key(ed), ed25519.Ed25519PrivateKey)  # type: ignore[arg-type]
    assert as_cryptography is token_key


def test_token_key_refuses_what_is_not_a_private_key(hsm: Session, rsa_pair: Any) -> None:
    public = rsa_pair[1].token_object.public_key()
    with pytest.raises(TypeError, match="private key object"):
        token_key(public)
    with pytest.raises(TypeError, match="p11 private key object"):
        token_key(rsa.generate_private_key(65537, 1024))  # type: ignore[arg-type]


def test_key_size_and_public_key_come_from_the_token(rsa_pair: Any, generated_rsa: TokenRSAPrivateKey) -> None:
    software, key = rsa_pair
    assert key.key_size == 2048 and key.public_key() == software.public_key()
    assert generated_rsa.key_size == 2048
    assert isinstance(generated_rsa.public_key(), rsa.RSAPublicKey)


def test_private_material_is_refused_with_a_clear_error(rsa_pair: Any, hsm: Session) -> None:
    _, key = rsa_pair
    with pytest.raises(KeyNotExportable, match="never leaves"):
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(KeyNotExportable):
        key.private_numbers()
    with pytest.raises(TypeError):  # KeyNotExportable is a TypeError too
        key.private_numbers()
    ed = token_key(import_private_key(hsm, ed25519.Ed25519PrivateKey.generate(), token=False).private_key)  # type: ignore[arg-type]
    with pytest.raises(KeyNotExportable):
        ed.private_bytes_raw()  # type: ignore[union-attr]
    with pytest.raises(errors.P11Error):
        ed.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def test_copies_are_the_same_token_key_and_pickling_is_refused(rsa_pair: Any) -> None:
    _, key = rsa_pair
    assert copy.copy(key) is key and copy.deepcopy(key) is key
    assert key == token_key(key.token_object) and hash(key) == hash(token_key(key.token_object))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)


# --- RSA ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", HASHES, ids=lambda h: h.name)
def test_rsa_pkcs1v15_signature_equals_the_software_one(rsa_pair: Any, algorithm: hashes.HashAlgorithm) -> None:
    software, key = rsa_pair
    assert key.sign(b"message", padding.PKCS1v15(), algorithm) == software.sign(
        b"message", padding.PKCS1v15(), algorithm
    )


def test_rsa_prehashed_pkcs1v15_equals_hashing_on_the_token(rsa_pair: Any) -> None:
    software, key = rsa_pair
    digest = hashlib.sha384(b"message").digest()
    prehashed = key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA384()))
    assert prehashed == key.sign(b"message", padding.PKCS1v15(), hashes.SHA384())
    software.public_key().verify(prehashed, b"message", padding.PKCS1v15(), hashes.SHA384())
    with pytest.raises(ValueError, match="digest size"):
        key.sign(digest[:-1], padding.PKCS1v15(), Prehashed(hashes.SHA384()))


@pytest.mark.skipif(not hasattr(asym_utils, "NoDigestInfo"), reason="cryptography < 47 has no NoDigestInfo")
def test_rsa_pkcs1v15_without_digest_info_signs_the_data_as_given(rsa_pair: Any) -> None:
    software, key = rsa_pair
    payload = b"\x00" * 5 + b"arbitrary payload"
    no_info = asym_utils.NoDigestInfo()  # type: ignore[attr-defined]
    assert key.sign(payload, padding.PKCS1v15(), no_info) == software.sign(payload, padding.PKCS1v15(), no_info)
    with pytest.raises(ValueError, match="PKCS1v15"):
        key.sign(payload, padding.PSS(padding.MGF1(hashes.SHA256()), 32), no_info)


@pytest.mark.parametrize(
    "salt_length, expected",
    [(padding.PSS.DIGEST_LENGTH, 32), (padding.PSS.MAX_LENGTH, 256 - 32 - 2), (0, 0), (20, 20)],
    ids=["digest", "max", "zero", "twenty"],
)
def test_rsa_pss_signatures_verify_with_the_salt_length_asked(rsa_pair: Any, salt_length: Any, expected: int) -> None:
    software, key = rsa_pair
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), salt_length)
    signature = key.sign(b"pss message", pss, hashes.SHA256())
    exact = padding.PSS(padding.MGF1(hashes.SHA256()), expected)
    software.public_key().verify(signature, b"pss message", exact, hashes.SHA256())
    software.public_key().verify(
        signature, b"pss message", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256()
    )
    if expected != 0:  # a salted signature does not verify as a different salt length
        with pytest.raises(InvalidSignature):
            software.public_key().verify(
                signature, b"pss message", padding.PSS(padding.MGF1(hashes.SHA256()), expected - 1), hashes.SHA256()
            )


def test_rsa_pss_prehashed(rsa_pair: Any) -> None:
    # (SoftHSM 2.6.1 insists that the MGF1 hash is the message hash, so that is what is used here.)
    software, key = rsa_pair
    pss = padding.PSS(padding.MGF1(hashes.SHA512()), 32)
    digest = hashlib.sha512(b"m").digest()
    signature = key.sign(digest, pss, Prehashed(hashes.SHA512()))
    software.public_key().verify(signature, b"m", pss, hashes.SHA512())


def test_rsa_pss_refuses_auto_and_oversized_salt_like_cryptography(rsa_pair: Any) -> None:
    _, key = rsa_pair
    with pytest.raises(ValueError, match="AUTO"):
        key.sign(b"m", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())
    with pytest.raises(ValueError, match="salt length 300"):
        key.sign(b"m", padding.PSS(padding.MGF1(hashes.SHA256()), 300), hashes.SHA256())


def test_rsa_unsupported_hash_and_padding(rsa_pair: Any) -> None:
    _, key = rsa_pair
    with pytest.raises(UnsupportedAlgorithm, match="md5"):
        key.sign(b"m", padding.PKCS1v15(), hashes.MD5())
    with pytest.raises(UnsupportedAlgorithm, match="padding"):
        key.sign(b"m", padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None), hashes.SHA256())


@settings(max_examples=25, deadline=None)
@given(message=st.binary(min_size=0, max_size=70_000))
def test_rsa_signatures_of_any_size_verify(rsa_pair: Any, message: bytes) -> None:
    software, key = rsa_pair
    software.public_key().verify(
        key.sign(message, padding.PKCS1v15(), hashes.SHA256()), message, padding.PKCS1v15(), hashes.SHA256()
    )
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    software.public_key().verify(key.sign(message, pss, hashes.SHA256()), message, pss, hashes.SHA256())


def test_rsa_pkcs1v15_decryption(rsa_pair: Any) -> None:
    software, key = rsa_pair
    ciphertext = software.public_key().encrypt(b"for the token", padding.PKCS1v15())
    assert key.decrypt(ciphertext, padding.PKCS1v15()) == b"for the token"


def test_rsa_oaep_decryption(rsa_pair: Any, generated_rsa: TokenRSAPrivateKey) -> None:
    # SoftHSM 2.6.1 does OAEP with SHA-1, MGF1-SHA-1 and no label only.
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    software, key = rsa_pair
    assert key.decrypt(software.public_key().encrypt(b"oaep secret", oaep), oaep) == b"oaep secret"
    assert generated_rsa.decrypt(generated_rsa.public_key().encrypt(b"generated", oaep), oaep) == b"generated"


def test_rsa_decryption_of_garbage_raises_value_error_like_cryptography(rsa_pair: Any) -> None:
    _, key = rsa_pair
    with pytest.raises(ValueError) as info:
        key.decrypt(bytes(256), padding.PKCS1v15())
    assert isinstance(info.value, errors.P11Error)


# --- EC -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()], ids=lambda c: c.name)
@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()], ids=lambda h: h.name)
def test_ecdsa_signature_is_der_and_verifies(
    hsm: Session, curve: ec.EllipticCurve, algorithm: hashes.HashAlgorithm
) -> None:
    software, key = ec_on_token(hsm, curve)
    assert key.curve.name == curve.name and key.key_size == curve.key_size
    signature = key.sign(b"ec data", ec.ECDSA(algorithm))
    assert signature[0] == 0x30  # DER SEQUENCE, as cryptography returns it
    software.public_key().verify(signature, b"ec data", ec.ECDSA(algorithm))
    assert key.public_key() == software.public_key()


def test_ecdsa_prehashed_and_refusals(hsm: Session) -> None:
    software, key = ec_on_token(hsm, ec.SECP256R1())
    digest = hashlib.sha256(b"pre").digest()
    software.public_key().verify(
        key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), b"pre", ec.ECDSA(hashes.SHA256())
    )
    with pytest.raises(UnsupportedAlgorithm, match="deterministic"):
        key.sign(b"m", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    with pytest.raises(UnsupportedAlgorithm, match="ECDSA"):
        key.sign(b"m", object())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def p256_pair(hsm: Session) -> tuple[ec.EllipticCurvePrivateKey, TokenEllipticCurvePrivateKey]:
    return ec_on_token(hsm, ec.SECP256R1())


@settings(max_examples=20, deadline=None)
@given(message=st.binary(min_size=0, max_size=20_000))
def test_ecdsa_signatures_of_any_size_verify(p256_pair: Any, message: bytes) -> None:
    software, key = p256_pair
    software.public_key().verify(key.sign(message, ec.ECDSA(hashes.SHA256())), message, ec.ECDSA(hashes.SHA256()))


def test_token_generated_ec_key_signs(hsm: Session) -> None:
    _, private = hsm.generate_keypair(KeyType.EC, curve="P-384", token=False)
    key = token_key(private)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    key.public_key().verify(key.sign(b"g", ec.ECDSA(hashes.SHA384())), b"g", ec.ECDSA(hashes.SHA384()))


def test_ecdh_exchange_matches_the_peer(hsm: Session) -> None:
    _, key = ec_on_token(hsm, ec.SECP384R1(), derive=True)
    peer = ec.generate_private_key(ec.SECP384R1())
    shared = key.exchange(ec.ECDH(), peer.public_key())
    assert len(shared) == 48 and shared == peer.exchange(ec.ECDH(), key.public_key())
    with pytest.raises(ValueError, match="secp256r1"):
        key.exchange(ec.ECDH(), ec.generate_private_key(ec.SECP256R1()).public_key())


# --- EdDSA --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ed25519_pair(hsm: Session) -> tuple[ed25519.Ed25519PrivateKey, TokenEd25519PrivateKey]:
    software = ed25519.Ed25519PrivateKey.generate()
    private = import_private_key(hsm, software, token=False).private_key
    return software, token_key(private)  # type: ignore[arg-type,return-value]


@settings(max_examples=20, deadline=None)
@given(message=st.binary(min_size=0, max_size=10_000))
def test_ed25519_signatures_equal_the_software_key(ed25519_pair: Any, message: bytes) -> None:
    software, key = ed25519_pair
    assert key.sign(message) == software.sign(message)


def test_ed448_signs_like_the_software_key(hsm: Session) -> None:
    software = ed448.Ed448PrivateKey.generate()
    private = import_private_key(hsm, software, token=False).private_key
    key = token_key(private)  # type: ignore[arg-type]
    assert isinstance(key, TokenEd448PrivateKey) and key.public_key() == software.public_key()
    assert key.sign(b"ed448") == software.sign(b"ed448")


def test_token_generated_ed25519_key(hsm: Session) -> None:
    _, private = hsm.generate_keypair(KeyType.EC_EDWARDS, curve="ed25519", token=False)
    key = token_key(private)
    assert isinstance(key, TokenEd25519PrivateKey)
    key.public_key().verify(key.sign(b"made on the token"), b"made on the token")


def test_adapter_uses_the_token_object(rsa_pair: Any) -> None:
    _, key = rsa_pair
    assert isinstance(key.token_object, PrivateKey)
    raw = key.token_object.sign(b"direct", Mechanism.SHA256_RSA_PKCS)
    assert raw == key.sign(b"direct", padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("token_hashes", [True, False], ids=["token-hashes", "software-hashes"])
def test_both_hashing_paths_give_valid_signatures(
    rsa_pair: Any, p256_pair: Any, monkeypatch: pytest.MonkeyPatch, token_hashes: bool
) -> None:
    # Which path runs depends on the token's mechanism list; pretend it has (or lacks) every combined mechanism.
    # (SoftHSM lacks CKM_ECDSA_SHA256: p11's key layer then hashes for it, which is still a valid ECDSA signature.)
    monkeypatch.setattr(TokenRSAPrivateKey, "_can", lambda self, mechanism, flag: token_hashes)
    monkeypatch.setattr(TokenEllipticCurvePrivateKey, "_can", lambda self, mechanism, flag: token_hashes)
    software, key = rsa_pair
    assert key.sign(b"path", padding.PKCS1v15(), hashes.SHA512()) == software.sign(
        b"path", padding.PKCS1v15(), hashes.SHA512()
    )
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    software.public_key().verify(key.sign(b"path", pss, hashes.SHA256()), b"path", pss, hashes.SHA256())
    ec_software, ec_key = p256_pair
    ec_software.public_key().verify(ec_key.sign(b"path", ec.ECDSA(hashes.SHA256())), b"path", ec.ECDSA(hashes.SHA256()))
