"""One-crossing operations and batches of ``p11._native`` against SoftHSM, cross-checked with p11.lowlevel,
hashlib and cryptography.

The keys live on a token of this module's own (its login state is not shared with tests that log out), as session
objects of one logged-in session.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from support import unique_label

from p11 import _native, errors, lowlevel
from p11._cffi import ffi, lib
from p11.testing import SoftHSM

P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")
AES_VALUE = bytes(range(100, 132))
HMAC_VALUE = b"k" * 32
IV16 = bytes(range(16))
HMAC = lib.CKM_SHA256_HMAC


@dataclass(frozen=True)
class Keys:
    fl: int
    session: int
    hmac: int
    aes: int
    rsa_public: int
    rsa_private: int
    ec_public: int
    ec_private: int
    no_sign: int  # an HMAC key with CKA_SIGN false


@pytest.fixture(scope="module")
def keys(module: lowlevel.Module, softhsm: SoftHSM) -> Iterator[Keys]:
    token = softhsm.add_token(unique_label("native-ops"))
    session = module.C_OpenSession(softhsm.slot_of(token.label), lib.CKF_RW_SESSION)
    module.C_Login(session, lib.CKU_USER, token.user_pin)

    def secret(key_type: int, value: bytes, **flags: bool) -> int:
        template = {
            lib.CKA_CLASS: lib.CKO_SECRET_KEY,
            lib.CKA_KEY_TYPE: key_type,
            lib.CKA_TOKEN: False,
            lib.CKA_VALUE: value,
        }
        template.update({getattr(lib, f"CKA_{name.upper()}"): v for name, v in flags.items()})
        return module.C_CreateObject(session, template)

    rsa_public, rsa_private = module.C_GenerateKeyPair(
        session,
        lib.CKM_RSA_PKCS_KEY_PAIR_GEN,
        {
            lib.CKA_TOKEN: False,
            lib.CKA_MODULUS_BITS: 2048,
            lib.CKA_PUBLIC_EXPONENT: b"\x01\x00\x01",
            lib.CKA_VERIFY: True,
            lib.CKA_ENCRYPT: True,
        },
        {lib.CKA_TOKEN: False, lib.CKA_SIGN: True, lib.CKA_DECRYPT: True},
    )
    ec_public, ec_private = module.C_GenerateKeyPair(
        session,
        lib.CKM_EC_KEY_PAIR_GEN,
        {lib.CKA_TOKEN: False, lib.CKA_EC_PARAMS: P256_PARAMS, lib.CKA_VERIFY: True},
        {lib.CKA_TOKEN: False, lib.CKA_SIGN: True},
    )
    yield Keys(
        fl=module.gate_address,
        session=session,
        hmac=secret(lib.CKK_GENERIC_SECRET, HMAC_VALUE, sign=True, verify=True),
        aes=secret(lib.CKK_AES, AES_VALUE, encrypt=True, decrypt=True),
        rsa_public=rsa_public,
        rsa_private=rsa_private,
        ec_public=ec_public,
        ec_private=ec_private,
        no_sign=secret(lib.CKK_GENERIC_SECRET, HMAC_VALUE, sign=False, verify=True),
    )
    module.C_CloseSession(session)


def mac(data: bytes) -> bytes:
    return hmac.new(HMAC_VALUE, data, hashlib.sha256).digest()


def ll_sign(module: lowlevel.Module, k: Keys, mechanism: int, key: int, data: bytes) -> bytes:
    module.C_SignInit(k.session, mechanism, key)
    return module.C_Sign(k.session, data)


def ec_public_key(module: lowlevel.Module, k: Keys) -> ec.EllipticCurvePublicKey:
    (point,) = module.C_GetAttributeValue(k.session, k.ec_public, [lib.CKA_EC_POINT])
    assert point is not None and point[0] == 0x04  # DER OCTET STRING around the uncompressed point
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])


def assert_session_usable(k: Keys) -> None:
    """No operation was left active: a new one starts and completes."""
    assert _native.sign(k.fl, k.session, HMAC, k.hmac, b"still usable", 32) == mac(b"still usable")


# -- single operations ----------------------------------------------------------------------------------------


def test_hmac_equals_lowlevel_and_hashlib(module: lowlevel.Module, keys: Keys) -> None:
    data = b"the quick brown fox"
    signature = _native.sign(keys.fl, keys.session, HMAC, keys.hmac, data, 32)
    assert signature == ll_sign(module, keys, HMAC, keys.hmac, data) == mac(data)


def test_rsa_pkcs1_v15_equals_lowlevel(module: lowlevel.Module, keys: Keys) -> None:
    data = b"deterministic padding"
    signature = _native.sign(keys.fl, keys.session, lib.CKM_SHA256_RSA_PKCS, keys.rsa_private, data, 256)
    assert signature == ll_sign(module, keys, lib.CKM_SHA256_RSA_PKCS, keys.rsa_private, data)
    assert _native.verify(keys.fl, keys.session, lib.CKM_SHA256_RSA_PKCS, keys.rsa_public, data, signature)
    assert not _native.verify(keys.fl, keys.session, lib.CKM_SHA256_RSA_PKCS, keys.rsa_public, data + b"!", signature)


def test_ecdsa_signature_verifies_with_lowlevel_and_cryptography(module: lowlevel.Module, keys: Keys) -> None:
    data = b"sign me with P-256"
    digest = hashlib.sha256(data).digest()
    signature = _native.sign(keys.fl, keys.session, lib.CKM_ECDSA, keys.ec_private, digest, 64)
    assert len(signature) == 64
    module.C_VerifyInit(keys.session, lib.CKM_ECDSA, keys.ec_public)
    module.C_Verify(keys.session, digest, signature)  # raises if it does not verify
    assert _native.verify(keys.fl, keys.session, lib.CKM_ECDSA, keys.ec_public, digest, signature)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    ec_public_key(module, keys).verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))


def test_digest_and_random(keys: Keys) -> None:
    assert _native.digest(keys.fl, keys.session, lib.CKM_SHA256, b"abc") == hashlib.sha256(b"abc").digest()
    big = bytes(range(256)) * 64  # 16 KiB input
    assert _native.digest(keys.fl, keys.session, lib.CKM_SHA512, big, 64) == hashlib.sha512(big).digest()
    first = _native.generate_random(keys.fl, keys.session, 32)
    assert len(first) == 32 and first != _native.generate_random(keys.fl, keys.session, 32)
    assert _native.generate_random(keys.fl, keys.session, 0) == b""
    assert len(_native.generate_random(keys.fl, keys.session, 5000)) == 5000


def test_encrypt_decrypt_with_caller_iv_equals_lowlevel(module: lowlevel.Module, keys: Keys) -> None:
    mechanism = _native.Mechanism.with_parameter(lib.CKM_AES_CBC_PAD, IV16)
    plaintext = b"attack at dawn" * 3
    ciphertext = _native.encrypt(keys.fl, keys.session, mechanism, keys.aes, plaintext, len(plaintext) + 16)
    module.C_EncryptInit(keys.session, lowlevel.Mech(lib.CKM_AES_CBC_PAD, IV16), keys.aes)
    assert ciphertext == module.C_Encrypt(keys.session, plaintext)
    assert _native.decrypt(keys.fl, keys.session, mechanism, keys.aes, ciphertext, len(ciphertext)) == plaintext


def test_large_output_goes_through_a_preallocated_buffer(keys: Keys) -> None:
    mechanism = _native.Mechanism.with_parameter(lib.CKM_AES_CBC_PAD, IV16)
    plaintext = bytes(range(256)) * 40  # 10 KiB: larger than the stack buffer
    guess = len(plaintext) + 16
    ciphertext = _native.encrypt(keys.fl, keys.session, mechanism, keys.aes, plaintext, guess)
    assert len(ciphertext) == guess
    # An over-estimate (decrypt: ciphertext length) is shrunk to what the token wrote.
    assert _native.decrypt(keys.fl, keys.session, mechanism, keys.aes, ciphertext, len(ciphertext)) == plaintext
    assert _native.decrypt(keys.fl, keys.session, mechanism, keys.aes, ciphertext) == plaintext  # unknown size


def test_mechanism_from_a_prepared_ck_mechanism(module: lowlevel.Module, keys: Keys) -> None:
    iv, aad, plaintext = b"\x05" * 12, b"header", b"gcm through a prepared struct"
    params = ffi.new("CK_GCM_PARAMS *")
    iv_buf, aad_buf = ffi.from_buffer("CK_BYTE[]", iv), ffi.from_buffer("CK_BYTE[]", aad)
    params.pIv, params.ulIvLen, params.ulIvBits = iv_buf, len(iv), len(iv) * 8
    params.pAAD, params.ulAADLen, params.ulTagBits = aad_buf, len(aad), 128
    ll_mech = lowlevel.Mech(lib.CKM_AES_GCM, params, keep=(iv_buf, aad_buf))
    mechanism = _native.Mechanism.from_address(int(ffi.cast("uintptr_t", ll_mech.cdata())), keepalive=ll_mech)
    assert mechanism.type == lib.CKM_AES_GCM and mechanism.parameter_length == ffi.sizeof("CK_GCM_PARAMS")
    ciphertext = _native.encrypt(keys.fl, keys.session, mechanism, keys.aes, plaintext, len(plaintext) + 16)
    assert ciphertext == AESGCM(AES_VALUE).encrypt(iv, plaintext, aad)
    # Mechanism.of takes the lowlevel Mech (or its CK_MECHANISM * cdata) directly, and keeps it alive.
    of_mech = _native.Mechanism.of(ll_mech)
    del ll_mech, iv_buf, aad_buf, params
    assert _native.encrypt(keys.fl, keys.session, of_mech, keys.aes, plaintext, len(plaintext) + 16) == ciphertext
    assert _native.Mechanism.of(HMAC) is _native.mechanism_for(HMAC)
    assert _native.Mechanism.of(of_mech) is of_mech
    with pytest.raises(TypeError, match="cannot make a mechanism"):
        _native.Mechanism.of("CKM_AES_GCM")
    assert _native.mechanism_for(HMAC) is _native.mechanism_for(HMAC)
    assert _native.sign(keys.fl, keys.session, _native.mechanism_for(HMAC), keys.hmac, b"x") == mac(b"x")


@pytest.mark.parametrize("out_len", [1, 4, 31])
def test_too_small_size_guess_falls_back(keys: Keys, out_len: int) -> None:
    assert _native.sign(keys.fl, keys.session, HMAC, keys.hmac, b"guess", out_len) == mac(b"guess")
    assert_session_usable(keys)


def test_too_small_guess_for_rsa_and_unknown_size(module: lowlevel.Module, keys: Keys) -> None:
    expected = ll_sign(module, keys, lib.CKM_SHA256_RSA_PKCS, keys.rsa_private, b"m")
    for out_len in (0, 16, 255, 256, 4096):
        assert _native.sign(keys.fl, keys.session, lib.CKM_SHA256_RSA_PKCS, keys.rsa_private, b"m", out_len) == expected


def test_failure_after_init_names_the_call_and_leaves_session_usable(keys: Keys) -> None:
    # PKCS#1 v1.5 over 300 bytes cannot fit a 2048-bit modulus: C_SignInit succeeds, C_Sign fails.
    with pytest.raises(errors.CryptokiError) as caught:
        _native.sign(keys.fl, keys.session, lib.CKM_RSA_PKCS, keys.rsa_private, b"x" * 300, 256)
    assert caught.value.function == "C_Sign"
    assert_session_usable(keys)


def test_failure_at_init_is_typed_and_leaves_session_usable(keys: Keys) -> None:
    with pytest.raises(errors.KeyFunctionNotPermitted) as caught:
        _native.sign(keys.fl, keys.session, HMAC, keys.no_sign, b"data", 32)
    assert caught.value.function == "C_SignInit"
    with pytest.raises(errors.ObjectHandleError):
        _native.sign(keys.fl, keys.session, HMAC, 0xDEAD, b"data", 32)
    assert_session_usable(keys)


def test_verify_false_for_bad_or_wrong_length_signature_and_raises_otherwise(keys: Keys) -> None:
    good = mac(b"msg")
    assert _native.verify(keys.fl, keys.session, HMAC, keys.hmac, b"msg", good) is True
    assert _native.verify(keys.fl, keys.session, HMAC, keys.hmac, b"msg", bytes(32)) is False
    assert _native.verify(keys.fl, keys.session, HMAC, keys.hmac, b"msg", good[:10]) is False
    with pytest.raises(errors.ObjectHandleError) as caught:
        _native.verify(keys.fl, keys.session, HMAC, 0xDEAD, b"msg", good)
    assert caught.value.function == "C_VerifyInit"
    assert_session_usable(keys)


def test_bytes_like_inputs_and_bad_arguments(keys: Keys) -> None:
    data = b"bytes-like"
    for form in (bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        assert _native.sign(keys.fl, keys.session, HMAC, keys.hmac, form, 32) == mac(data)
    with pytest.raises(TypeError, match="not str"):
        _native.sign(keys.fl, keys.session, HMAC, keys.hmac, "text", 32)
    # A strided memoryview is signed from a contiguous copy (never a BufferError).
    assert _native.sign(keys.fl, keys.session, HMAC, keys.hmac, memoryview(b"abcdef")[::2], 32) == mac(b"ace")
    with pytest.raises(TypeError, match="mechanism"):
        _native.sign(keys.fl, keys.session, "CKM_SHA256_HMAC", keys.hmac, data, 32)
    with pytest.raises(TypeError):
        _native.sign(True, keys.session, HMAC, keys.hmac, data, 32)
    with pytest.raises(ValueError):
        _native.sign(0, keys.session, HMAC, keys.hmac, data, 32)
    with pytest.raises(ValueError, match="out_len"):
        _native.sign(keys.fl, keys.session, HMAC, keys.hmac, data, -1)
    with pytest.raises(OverflowError):
        _native.sign(keys.fl, -1, HMAC, keys.hmac, data, 32)


def test_module_object_in_place_of_the_address(module: lowlevel.Module, keys: Keys) -> None:
    assert _native.sign(module, keys.session, HMAC, keys.hmac, b"via module", 32) == mac(b"via module")


def test_open_and_close_session(module: lowlevel.Module, keys: Keys) -> None:
    slot = module.C_GetSessionInfo(keys.session).slot_id
    handle = _native.open_session(keys.fl, slot)
    info = module.C_GetSessionInfo(handle)
    assert info.slot_id == slot and info.flags & lib.CKF_RW_SESSION
    _native.close_session(keys.fl, handle)
    with pytest.raises(errors.SessionHandleInvalid):
        _native.close_session(keys.fl, handle)
    read_only = _native.open_session(keys.fl, slot, rw=False)
    assert not module.C_GetSessionInfo(read_only).flags & lib.CKF_RW_SESSION
    _native.close_session(keys.fl, read_only)


# -- batches ----------------------------------------------------------------------------------------------------


MESSAGES = [f"message number {i}".encode() * (1 + i % 5) for i in range(50)]


def test_sign_many_equals_single_calls(keys: Keys) -> None:
    batch = _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, MESSAGES, 32)
    assert batch == [_native.sign(keys.fl, keys.session, HMAC, keys.hmac, m, 32) for m in MESSAGES]
    assert batch == [mac(m) for m in MESSAGES]
    # Unknown size (learnt from the first result) and a too-small guess give the same.
    assert _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, MESSAGES) == batch
    assert _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, MESSAGES, 8) == batch


def test_sign_many_rsa_equals_single_calls(module: lowlevel.Module, keys: Keys) -> None:
    messages = MESSAGES[:5]
    batch = _native.sign_many(keys.fl, keys.session, lib.CKM_SHA256_RSA_PKCS, keys.rsa_private, messages, 256)
    assert batch == [ll_sign(module, keys, lib.CKM_SHA256_RSA_PKCS, keys.rsa_private, m) for m in messages]


def test_empty_and_single_item_batches(keys: Keys) -> None:
    assert _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, [], 32) == []
    assert _native.verify_many(keys.fl, keys.session, HMAC, keys.hmac, [], []) == []
    assert _native.encrypt_many(keys.fl, keys.session, keys.aes, []) == []
    assert _native.decrypt_many(keys.fl, keys.session, keys.aes, []) == []
    assert _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, [b"one"], 32) == [mac(b"one")]
    assert _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, (m for m in [b"gen"])) == [mac(b"gen")]


def test_sign_many_failing_item_raise_mode_names_the_index(keys: Keys) -> None:
    messages = [b"short"] * 3 + [b"x" * 300] + [b"short"] * 3  # item 3 does not fit the modulus
    with pytest.raises(errors.CryptokiError) as caught:
        _native.sign_many(keys.fl, keys.session, lib.CKM_RSA_PKCS, keys.rsa_private, messages, 256)
    assert caught.value.index == 3
    assert "batch item 3" in str(caught.value)
    assert caught.value.function == "C_Sign"
    assert_session_usable(keys)


def test_sign_many_failing_item_return_mode(module: lowlevel.Module, keys: Keys) -> None:
    messages = [b"a", b"b", b"x" * 300, b"c"]
    results = _native.sign_many(
        keys.fl, keys.session, lib.CKM_RSA_PKCS, keys.rsa_private, messages, 256, on_error="return"
    )
    assert isinstance(results[2], errors.CryptokiError) and results[2].index == 2
    for i in (0, 1, 3):
        assert results[i] == ll_sign(module, keys, lib.CKM_RSA_PKCS, keys.rsa_private, messages[i])
    assert_session_usable(keys)


def test_verify_many_invalid_signature_is_false(keys: Keys) -> None:
    signatures = [mac(m) for m in MESSAGES[:6]]
    signatures[2] = bytes(32)
    signatures[4] = signatures[4][:5]  # wrong length: also just False
    assert _native.verify_many(keys.fl, keys.session, HMAC, keys.hmac, MESSAGES[:6], signatures) == [
        True,
        True,
        False,
        True,
        False,
        True,
    ]


def test_verify_many_errors_follow_on_error(keys: Keys) -> None:
    messages = [b"m"] * 3
    signatures = [mac(b"m")] * 3
    with pytest.raises(errors.ObjectHandleError) as caught:
        _native.verify_many(keys.fl, keys.session, HMAC, 0xDEAD, messages, signatures, on_error="return")
    assert caught.value.index == 0  # an invalid key fails every item: the batch raises in either mode
    with pytest.raises(ValueError, match="3 messages but 2 signatures"):
        _native.verify_many(keys.fl, keys.session, HMAC, keys.hmac, messages, signatures[:2])
    with pytest.raises(ValueError, match="on_error"):
        _native.verify_many(keys.fl, keys.session, HMAC, keys.hmac, messages, signatures, on_error="ignore")


def test_gcm_encrypt_many_fresh_ivs_and_roundtrip(keys: Keys) -> None:
    pairs = _native.encrypt_many(keys.fl, keys.session, keys.aes, MESSAGES, aad=b"hdr")
    ivs = [iv for iv, _ in pairs]
    assert all(len(iv) == 12 for iv in ivs) and len(set(ivs)) == len(ivs)
    reference = AESGCM(AES_VALUE)
    for (iv, ciphertext), message in zip(pairs, MESSAGES, strict=True):
        assert reference.decrypt(iv, ciphertext, b"hdr") == message
    assert _native.decrypt_many(keys.fl, keys.session, keys.aes, pairs, aad=b"hdr") == MESSAGES


def test_gcm_encrypt_many_with_given_ivs_and_per_message_aad(keys: Keys) -> None:
    ivs = [i.to_bytes(12, "big") for i in range(1, 4)]
    aads = [b"a", b"", b"ccc"]
    messages = [b"one", b"", b"three"]
    pairs = _native.encrypt_many(keys.fl, keys.session, keys.aes, messages, ivs=ivs, aad=aads, tag_bits=96)
    reference = AESGCM(AES_VALUE)
    for (iv, ciphertext), given, aad, message in zip(pairs, ivs, aads, messages, strict=True):
        assert iv == given
        assert len(ciphertext) == len(message) + 12
        assert ciphertext == reference.encrypt(iv, message, aad)[: len(message) + 12]  # a truncated tag
    assert _native.decrypt_many(keys.fl, keys.session, keys.aes, pairs, aad=aads, tag_bits=96) == messages


def test_gcm_decrypt_many_tampered_item_both_modes(keys: Keys) -> None:
    pairs = _native.encrypt_many(keys.fl, keys.session, keys.aes, [b"first", b"second", b"third"])
    iv, ciphertext = pairs[1]
    pairs[1] = (iv, bytes([ciphertext[0] ^ 1]) + ciphertext[1:])
    with pytest.raises(errors.CryptokiError) as caught:
        _native.decrypt_many(keys.fl, keys.session, keys.aes, pairs)
    assert caught.value.index == 1 and "batch item 1" in str(caught.value)
    results = _native.decrypt_many(keys.fl, keys.session, keys.aes, pairs, on_error="return")
    assert results[0] == b"first" and results[2] == b"third"
    assert isinstance(results[1], errors.CryptokiError) and results[1].index == 1
    assert_session_usable(keys)


def test_batch_input_errors_name_the_item(keys: Keys) -> None:
    with pytest.raises(TypeError, match="message 1"):
        _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, [b"ok", "text"], 32)
    with pytest.raises(TypeError, match="single bytes"):
        _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, b"not a list", 32)
    with pytest.raises(ValueError, match="2 messages but 1 IVs"):
        _native.encrypt_many(keys.fl, keys.session, keys.aes, [b"a", b"b"], ivs=[bytes(12)])
    with pytest.raises(TypeError, match="item 0"):
        _native.decrypt_many(keys.fl, keys.session, keys.aes, [b"not a pair"])
    with pytest.raises(ValueError, match="tag_bits"):
        _native.encrypt_many(keys.fl, keys.session, keys.aes, [b"a"], tag_bits=100)
    assert_session_usable(keys)


def test_batch_accepts_bytes_like_items(keys: Keys) -> None:
    items = [bytearray(b"ba"), memoryview(b"mv"), b"by"]
    assert _native.sign_many(keys.fl, keys.session, HMAC, keys.hmac, items, 32) == [mac(b"ba"), mac(b"mv"), mac(b"by")]
