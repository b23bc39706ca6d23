"""RSA-OAEP with a hash or label the token lacks (SoftHSM 2.6.1: SHA-1 and no label only): raw RSA on the token
and the padding removed in software (p11.ops.oaep), checked against cryptography's own OAEP encryption."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from p11 import errors
from p11.api.objects import PrivateKey
from p11.api.session import Session
from p11.constants import Attribute, KeyType, Mechanism
from p11.crypto import DecryptionFailed, token_key
from p11.mechanisms import OAEP
from p11.ops import oaep
from tests.support import imported_rsa

CASES = [
    (hashes.SHA256(), None),
    (hashes.SHA256(), b"device enrolment"),
    (hashes.SHA1(), None),  # the one SoftHSM does itself
    (hashes.SHA1(), b"a label SoftHSM would ignore"),
    (hashes.SHA512(), b"x" * 300),
]
IDS = ["sha256", "sha256-label", "sha1", "sha1-label", "sha512-long-label"]


@pytest.fixture(scope="module")
def pair(hsm: Session) -> tuple[rsa.RSAPrivateKey, PrivateKey]:
    return imported_rsa(hsm, "oaep-rsa")


def _pad(algorithm: hashes.HashAlgorithm, label: bytes | None) -> padding.OAEP:
    return padding.OAEP(padding.MGF1(algorithm), algorithm, label)


@pytest.mark.parametrize(("algorithm", "label"), CASES, ids=IDS)
def test_token_key_decrypts_what_cryptography_encrypted(pair: Any, algorithm: Any, label: bytes | None) -> None:
    software, private = pair
    pad = _pad(algorithm, label)
    for message in (b"", b"session key", bytes(range(62))):
        ciphertext = software.public_key().encrypt(message, pad)
        assert token_key(private).decrypt(ciphertext, pad) == message
        # the core API the same way, and cryptography agrees with the software key
        assert private.decrypt(ciphertext, OAEP(algorithm.name, label=label or b"")) == message
        assert software.decrypt(ciphertext, pad) == message


def test_the_plan_uses_the_token_where_it_does_the_parameters_and_raw_rsa_elsewhere(pair: Any) -> None:
    _, private = pair
    from p11.ops.plans import DECRYPT, plan

    assert plan(private, OAEP("sha1"), DECRYPT).mechanism == Mechanism.RSA_PKCS_OAEP
    for params in (OAEP("sha256"), OAEP("sha1", label=b"l")):
        chosen = plan(private, params, DECRYPT)
        assert chosen.mechanism == Mechanism.RSA_X_509 and chosen.wrap is not None


def _tampered(ciphertext: bytes) -> list[bytes]:
    out = []
    for position in (0, 1, 2, 17, 100, 200, len(ciphertext) - 1):
        changed = bytearray(ciphertext)
        changed[position] ^= 0x01
        out.append(bytes(changed))
    return out


@pytest.mark.parametrize(("algorithm", "label"), CASES, ids=IDS)
def test_tampered_ciphertexts_all_raise_the_same_error(pair: Any, algorithm: Any, label: bytes | None) -> None:
    software, private = pair
    pad = _pad(algorithm, label)
    ciphertext = software.public_key().encrypt(b"secret", pad)
    wrong_label = software.public_key().encrypt(b"secret", _pad(algorithm, (label or b"") + b"!"))
    messages = set()
    for bad in [*_tampered(ciphertext), wrong_label]:
        with pytest.raises(DecryptionFailed) as info:
            token_key(private).decrypt(bad, pad)
        messages.add(str(info.value))
    assert messages == {"Decryption failed: the ciphertext is not valid for this key and padding"}


def test_the_software_path_raises_one_core_error_for_every_failure(pair: Any) -> None:
    software, private = pair
    pad = _pad(hashes.SHA256(), b"L")
    ciphertext = software.public_key().encrypt(b"secret", pad)
    seen = set()
    for bad in _tampered(ciphertext):
        with pytest.raises(errors.CryptokiError) as info:
            private.decrypt(bad, OAEP("sha256", label=b"L"))
        seen.add((type(info.value), str(info.value)))
    assert seen == {(type(oaep.decoding_error()), str(oaep.decoding_error()))}


def _block(params: OAEP, k: int = 256, message: bytes = b"m") -> bytearray:
    return bytearray(oaep.encode(message, params, k, hashlib.new(params.hash.name, b"seed").digest()))


def test_decode_refuses_every_kind_of_bad_block_with_one_error() -> None:
    params = OAEP("sha256", label=b"L")
    good = _block(params)
    assert oaep.decode(bytes(good), params, 256) == b"m"
    assert oaep.decode(bytes(good[1:]), params, 256) == b"m"  # a token that drops the leading zero byte
    first_byte = bytearray(good)
    first_byte[0] = 1
    wrong_label = _block(OAEP("sha256", label=b"M"))
    wrong_hash = _block(OAEP("sha256", mgf="sha1", label=b"L"))
    # a block whose data block has no 0x01 separator, and one with a non-zero byte in the padding
    h_len, k = 32, 256
    seed = hashlib.sha256(b"s").digest()
    l_hash = hashlib.sha256(b"L").digest()

    def raw(db: bytes) -> bytes:
        masked_db = oaep._xor(db, oaep._mgf1(seed, k - h_len - 1, "sha256"))
        return b"\x00" + oaep._xor(seed, oaep._mgf1(masked_db, h_len, "sha256")) + masked_db

    no_separator = raw(l_hash + bytes(k - 2 * h_len - 1))
    dirty_padding = raw(l_hash + b"\x00\x02" + bytes(k - 2 * h_len - 5) + b"\x01m")
    assert oaep.decode(raw(l_hash + bytes(k - 2 * h_len - 3) + b"\x01m"), params, k) == b"m"  # the builder is right
    errors_seen = set()
    for bad in (bytes(first_byte), bytes(wrong_label), bytes(wrong_hash), no_separator, dirty_padding, bytes(257)):
        with pytest.raises(errors.CryptokiError) as info:
            oaep.decode(bad, params, k)
        errors_seen.add((type(info.value), str(info.value)))
    assert len(errors_seen) == 1


def test_without_raw_rsa_on_the_key_the_error_says_what_the_token_offers(hsm: Session) -> None:
    _, private = hsm.generate_keypair(
        KeyType.RSA,
        2048,
        token=False,
        label="oaep-only",
        private_attrs={Attribute.ALLOWED_MECHANISMS: [Mechanism.RSA_PKCS_OAEP, Mechanism.RSA_PKCS]},
    )
    with pytest.raises(errors.MechanismNotSupported) as info:
        private.decrypt(b"\x00" * 256, OAEP("sha256"))
    message = str(info.value)
    assert "its CKM_RSA_PKCS_OAEP does not take hash='sha256'" in message
    assert "does not allow CKM_RSA_X_509 (CKA_ALLOWED_MECHANISMS)" in message
    assert "RSA decryption it offers: " in message and "CKM_RSA_PKCS_OAEP" in message
    pad = _pad(hashes.SHA256(), None)
    with pytest.raises(UnsupportedAlgorithm, match="does not allow CKM_RSA_X_509"):
        token_key(private).decrypt(b"\x00" * 256, pad)


def test_a_key_that_may_not_decrypt_says_so(hsm: Session) -> None:
    software, private = imported_rsa(hsm, "no-decrypt")
    private.set_attributes({Attribute.DECRYPT: False})
    ciphertext = software.public_key().encrypt(b"x", _pad(hashes.SHA256(), None))
    with pytest.raises(errors.KeyCapabilityError, match="CKA_DECRYPT=false"):
        private.decrypt(ciphertext, OAEP("sha256"))
