"""Batches on keys: ``sign_many``/``verify_many`` (HMAC, RSA, ECDSA, the software-hash fallback) and AES-GCM
``encrypt_many``/``decrypt_many``, on pooled keys and on explicit sessions; results equal the single calls, errors
name the failing index in both error modes, ``workers`` keeps input order.

One token for the module, logged in through its pool; the keys are made once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support import unique_label

import p11
from p11 import errors
from p11.api.objects import PrivateKey, PublicKey, SecretKey
from p11.api.token import Token
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass
from p11.mechanisms import GCM
from p11.testing import SoftHSM

USER_PIN = "551177"
HMAC_VALUE = b"batch-key" * 4


def mac(data: bytes) -> bytes:
    return hmac.new(HMAC_VALUE, data, hashlib.sha256).digest()


@dataclass
class Keys:
    token: Token
    hmac: SecretKey
    ec: tuple[PublicKey, PrivateKey]
    rsa: tuple[PublicKey, PrivateKey]
    aes: SecretKey


@pytest.fixture(scope="module")
def keys(softhsm: SoftHSM) -> Iterator[Keys]:
    spec = softhsm.add_token(unique_label("batches"), user_pin=USER_PIN)
    token = p11.load(softhsm.module_path).get_token(label=spec.label)
    token.login(USER_PIN, max_size=4)
    secret = token.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.TOKEN: False,
            Attribute.LABEL: "hmac",
            Attribute.VALUE: HMAC_VALUE,
            Attribute.SIGN: True,
            Attribute.VERIFY: True,
        }
    )
    assert isinstance(secret, SecretKey)
    ec = token.generate_keypair(KeyType.EC, token=False)
    rsa = token.generate_keypair(KeyType.RSA, 2048, token=False)
    aes = token.generate_key(KeyType.AES, 256, token=False)
    yield Keys(token, secret, ec, rsa, aes)
    token.close_pool()


MESSAGES = [b"message %d " % i * (1 + i % 5) for i in range(50)]


def test_hmac_batch_equals_single_calls_and_hashlib(keys: Keys) -> None:
    expected = [mac(m) for m in MESSAGES]
    assert keys.hmac.sign_many(MESSAGES) == expected
    assert keys.hmac.sign_many(MESSAGES, Mechanism.SHA256_HMAC) == [keys.hmac.sign(m) for m in MESSAGES]
    assert keys.hmac.verify_many(MESSAGES, expected) == [True] * len(MESSAGES)


def test_rsa_pkcs1_v15_batch_equals_single_calls(keys: Keys) -> None:
    public, private = keys.rsa
    batch = private.sign_many(MESSAGES[:10])  # default CKM_SHA256_RSA_PKCS: deterministic
    assert batch == [private.sign(m) for m in MESSAGES[:10]]
    assert public.verify_many(MESSAGES[:10], batch) == [True] * 10


def test_ecdsa_batch_verifies(keys: Keys) -> None:
    public, private = keys.ec
    digests = [hashlib.sha256(m).digest() for m in MESSAGES]
    signatures = private.sign_many(digests, Mechanism.ECDSA)
    assert all(len(s) == 64 for s in signatures)
    assert public.verify_many(digests, signatures, Mechanism.ECDSA) == [True] * len(digests)
    for digest, signature in zip(digests[:5], signatures[:5], strict=True):
        public.verify(digest, signature, Mechanism.ECDSA)


def test_ecdsa_with_hash_batch_hashes_in_software(keys: Keys) -> None:
    # SoftHSM 2.6 has no CKM_ECDSA_SHA256: each message is hashed in Python, then signed with CKM_ECDSA.
    public, private = keys.ec
    signatures = private.sign_many(MESSAGES, Mechanism.ECDSA_SHA256)
    assert public.verify_many(MESSAGES, signatures, Mechanism.ECDSA_SHA256) == [True] * len(MESSAGES)
    public.verify(MESSAGES[3], signatures[3])  # the single call agrees
    swapped = [signatures[1], signatures[0], *signatures[2:]]
    assert public.verify_many(MESSAGES, swapped)[:3] == [False, False, True]
    with pytest.raises(TypeError, match="message 2"):
        private.sign_many([b"a", b"b", "c"], Mechanism.ECDSA_SHA256)  # type: ignore[list-item]


def test_empty_and_single_item_batches(keys: Keys) -> None:
    assert keys.hmac.sign_many([]) == []
    assert keys.hmac.verify_many([], []) == []
    assert keys.aes.encrypt_many([]) == []
    assert keys.aes.decrypt_many([]) == []
    assert keys.hmac.sign_many([b"one"]) == [mac(b"one")]
    assert keys.hmac.sign_many((b"tuple",)) == [mac(b"tuple")]
    assert keys.hmac.sign_many(m for m in [b"gen"]) == [mac(b"gen")]


def test_failing_item_in_the_middle_raise_mode_names_the_index(keys: Keys) -> None:
    _, private = keys.rsa
    messages = [b"short"] * 5 + [b"x" * 300] + [b"short"] * 4  # raw PKCS#1 v1.5 takes at most 245 bytes
    with pytest.raises(errors.CryptokiError) as single:
        private.sign(messages[5], Mechanism.RSA_PKCS)  # SoftHSM 2.6 answers CKR_GENERAL_ERROR
    with pytest.raises(type(single.value)) as info:
        private.sign_many(messages, Mechanism.RSA_PKCS)
    assert info.value.index == 5  # type: ignore[attr-defined]
    assert "batch item 5" in str(info.value) and info.value.rv == single.value.rv


def test_failing_item_in_the_middle_return_mode_keeps_the_rest(keys: Keys) -> None:
    public, private = keys.rsa
    messages = [b"short %d" % i for i in range(5)] + [b"x" * 300] + [b"short %d" % i for i in range(5, 9)]
    results = private.sign_many(messages, Mechanism.RSA_PKCS, on_error="return")
    assert len(results) == len(messages)
    failed = results[5]
    assert isinstance(failed, errors.CryptokiError) and failed.index == 5  # type: ignore[attr-defined]
    for i, result in enumerate(results):
        if i != 5:
            assert result == private.sign(messages[i], Mechanism.RSA_PKCS)
            assert public.verify_ok(messages[i], result, Mechanism.RSA_PKCS)
    with pytest.raises(ValueError, match="on_error"):
        private.sign_many(messages, Mechanism.RSA_PKCS, on_error="ignore")  # type: ignore[arg-type]


def test_verify_many_bad_signature_is_false_and_errors_follow_on_error(keys: Keys) -> None:
    signatures = [mac(m) for m in MESSAGES]
    signatures[7] = bytes(32)
    signatures[9] = b"short"
    verdicts = keys.hmac.verify_many(MESSAGES, signatures)
    assert verdicts == [i not in (7, 9) for i in range(len(MESSAGES))]
    with pytest.raises(ValueError, match="signatures"):
        keys.hmac.verify_many(MESSAGES, signatures[:-1])


def test_workers_preserve_input_order(keys: Keys) -> None:
    messages = [b"ordered %d" % i * (1 + i % 3) for i in range(300)]
    expected = [mac(m) for m in messages]
    for workers in (2, 3, 4, None):
        assert keys.hmac.sign_many(messages, workers=workers) == expected
    verdicts = keys.hmac.verify_many(messages, [*expected[:150], bytes(32), *expected[151:]], workers=4)
    assert verdicts == [i != 150 for i in range(300)]
    public, private = keys.ec
    signatures = private.sign_many(messages, Mechanism.ECDSA_SHA256, workers=2)
    assert public.verify_many(messages, signatures, Mechanism.ECDSA_SHA256, workers=2) == [True] * 300
    with pytest.raises(ValueError, match="workers"):
        keys.hmac.sign_many(messages, workers=0)
    assert keys.token.pool.in_use == 0


def test_workers_on_an_explicit_session_use_the_pool(keys: Keys) -> None:
    with keys.token.open() as session:
        key = session.get_key(label="hmac")
        assert key.session is session
        assert key.sign_many(MESSAGES, workers=2) == [mac(m) for m in MESSAGES]
        assert key.sign_many(MESSAGES) == [mac(m) for m in MESSAGES]  # workers=1: on the session itself


def test_gcm_encrypt_many_fresh_ivs_and_decrypt_many(keys: Keys) -> None:
    pairs = keys.aes.encrypt_many(MESSAGES, aad=b"header")
    ivs = [iv for iv, _ in pairs]
    assert len(set(ivs)) == len(ivs) and all(len(iv) == 12 for iv in ivs)
    for message, (_iv, ciphertext) in zip(MESSAGES, pairs, strict=True):
        assert len(ciphertext) == len(message) + 16
    assert keys.aes.decrypt(pairs[4][1], GCM(pairs[4][0], aad=b"header")) == MESSAGES[4]
    assert keys.aes.decrypt_many(pairs, aad=b"header") == MESSAGES
    assert keys.aes.decrypt_many(pairs, aad=b"header", workers=2) == MESSAGES


def test_gcm_with_given_ivs_equals_single_calls(keys: Keys) -> None:
    ivs = [bytes([i]) * 12 for i in range(len(MESSAGES))]
    aads = [b"aad %d" % i for i in range(len(MESSAGES))]
    pairs = keys.aes.encrypt_many(MESSAGES, ivs=ivs, aad=aads, tag_length=12)
    for message, iv, aad, (got_iv, ciphertext) in zip(MESSAGES, ivs, aads, pairs, strict=True):
        assert got_iv == iv
        assert ciphertext == keys.aes.encrypt(message, GCM(iv, aad=aad, tag_length=12))
    assert keys.aes.decrypt_many(pairs, aad=aads, tag_length=12) == MESSAGES


def test_gcm_tampered_item_both_modes(keys: Keys) -> None:
    pairs = keys.aes.encrypt_many(MESSAGES[:6])
    iv, ciphertext = pairs[3]
    pairs[3] = (iv, bytes([ciphertext[0] ^ 1]) + ciphertext[1:])
    with pytest.raises(errors.CryptokiError) as info:
        keys.aes.decrypt_many(pairs)
    assert info.value.index == 3  # type: ignore[attr-defined]
    results = keys.aes.decrypt_many(pairs, on_error="return")
    assert isinstance(results[3], errors.CryptokiError) and results[3].index == 3
    assert [r for i, r in enumerate(results) if i != 3] == [m for i, m in enumerate(MESSAGES[:6]) if i != 3]


def test_batch_argument_errors(keys: Keys) -> None:
    with pytest.raises(TypeError, match="message 1"):
        keys.hmac.sign_many([b"ok", "not bytes"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        keys.hmac.sign_many(b"a single bytes object")
    with pytest.raises(ValueError, match="tag_length"):
        keys.aes.encrypt_many([b"x"], tag_length=20)
    with pytest.raises(errors.KeyTypeInconsistent):
        keys.hmac.encrypt_many([b"x"])
