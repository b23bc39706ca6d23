"""Encryption, decryption, digests, signatures and MACs through p11.lowlevel, cross-checked with hashlib and
cryptography."""

from __future__ import annotations

import array
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from p11 import errors, lowlevel
from p11._cffi import ffi, lib
from tests.support import HMAC_VALUE, mac

P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")
AES_VALUE = bytes(range(100, 132))
IV = bytes(range(16))


@pytest.fixture
def aes(module: lowlevel.Module, user_session: int) -> int:
    """A session AES-256 key with a known value."""
    return module.C_CreateObject(
        user_session,
        {
            lib.CKA_CLASS: lib.CKO_SECRET_KEY,
            lib.CKA_KEY_TYPE: lib.CKK_AES,
            lib.CKA_TOKEN: False,
            lib.CKA_VALUE: AES_VALUE,
            lib.CKA_ENCRYPT: True,
            lib.CKA_DECRYPT: True,
        },
    )


@pytest.fixture
def hmac_key(module: lowlevel.Module, user_session: int) -> int:
    return module.C_CreateObject(
        user_session,
        {
            lib.CKA_CLASS: lib.CKO_SECRET_KEY,
            lib.CKA_KEY_TYPE: lib.CKK_GENERIC_SECRET,
            lib.CKA_TOKEN: False,
            lib.CKA_VALUE: HMAC_VALUE,
            lib.CKA_SIGN: True,
            lib.CKA_VERIFY: True,
        },
    )


@pytest.fixture
def ec_keys(module: lowlevel.Module, user_session: int) -> tuple[int, int]:
    return module.C_GenerateKeyPair(
        user_session,
        lib.CKM_EC_KEY_PAIR_GEN,
        {lib.CKA_TOKEN: False, lib.CKA_EC_PARAMS: P256_PARAMS, lib.CKA_VERIFY: True},
        {lib.CKA_TOKEN: False, lib.CKA_SIGN: True},
    )


@pytest.fixture
def rsa_keys(module: lowlevel.Module, user_session: int) -> tuple[int, int, int]:
    """``(session, public, private)``: an RSA-2048 pair in the logged-in session."""
    public, private = module.C_GenerateKeyPair(
        user_session,
        lib.CKM_RSA_PKCS_KEY_PAIR_GEN,
        {
            lib.CKA_TOKEN: False,
            lib.CKA_MODULUS_BITS: 2048,
            lib.CKA_PUBLIC_EXPONENT: b"\x01\x00\x01",
            lib.CKA_ENCRYPT: True,
            lib.CKA_VERIFY: True,
        },
        {lib.CKA_TOKEN: False, lib.CKA_DECRYPT: True, lib.CKA_SIGN: True},
    )
    return user_session, public, private


def cbc_pad_reference(plaintext: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(AES_VALUE), modes.CBC(IV)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


# -- AES --------------------------------------------------------------------------------------------------------


def test_aes_cbc_pad_single_part(module: lowlevel.Module, user_session: int, aes: int) -> None:
    plaintext = b"attack at dawn, and bring snacks"  # 32 bytes: a whole padding block is added
    module.C_EncryptInit(user_session, lowlevel.Mech(lib.CKM_AES_CBC_PAD, IV), aes)
    ciphertext = module.C_Encrypt(user_session, plaintext)
    assert ciphertext == cbc_pad_reference(plaintext)
    module.C_DecryptInit(user_session, lowlevel.Mech(lib.CKM_AES_CBC_PAD, IV), aes)
    assert module.C_Decrypt(user_session, ciphertext) == plaintext


def test_aes_cbc_pad_multi_part(module: lowlevel.Module, user_session: int, aes: int) -> None:
    parts = [b"a" * 5, b"b" * 20, b"", b"c" * 40]
    mech = lowlevel.Mech(lib.CKM_AES_CBC_PAD, IV)
    module.C_EncryptInit(user_session, mech, aes)
    outputs = [module.C_EncryptUpdate(user_session, part) for part in parts]
    assert outputs[0] == b""  # less than a block: held back
    outputs.append(module.C_EncryptFinal(user_session))
    ciphertext = b"".join(outputs)
    assert ciphertext == cbc_pad_reference(b"".join(parts))
    module.C_DecryptInit(user_session, mech, aes)  # the same Mech again: its CK_MECHANISM is reused
    plain = [module.C_DecryptUpdate(user_session, ciphertext[i : i + 7]) for i in range(0, len(ciphertext), 7)]
    plain.append(module.C_DecryptFinal(user_session))
    assert b"".join(plain) == b"".join(parts)


def test_encrypt_final_with_nothing_left_completes_operation(
    module: lowlevel.Module, user_session: int, aes: int
) -> None:
    module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)
    assert len(module.C_EncryptUpdate(user_session, bytes(32))) == 32
    assert module.C_EncryptFinal(user_session) == b""
    # The operation is over: a new one can start.
    module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)
    assert len(module.C_Encrypt(user_session, bytes(16))) == 16


def test_aes_gcm_with_parameter_struct(module: lowlevel.Module, user_session: int, aes: int) -> None:
    iv, aad, plaintext = b"\x07" * 12, b"header", b"secret message"
    params = ffi.new("CK_GCM_PARAMS *")
    iv_buf = ffi.from_buffer("CK_BYTE[]", iv)
    aad_buf = ffi.from_buffer("CK_BYTE[]", aad)
    params.pIv, params.ulIvLen, params.ulIvBits = iv_buf, len(iv), len(iv) * 8
    params.pAAD, params.ulAADLen, params.ulTagBits = aad_buf, len(aad), 128
    mech = lowlevel.Mech(lib.CKM_AES_GCM, params, keep=(iv_buf, aad_buf))
    module.C_EncryptInit(user_session, mech, aes)
    ciphertext = module.C_Encrypt(user_session, plaintext)
    assert ciphertext == AESGCM(AES_VALUE).encrypt(iv, plaintext, aad)
    module.C_DecryptInit(user_session, mech, aes)
    assert module.C_Decrypt(user_session, ciphertext) == plaintext
    module.C_DecryptInit(user_session, mech, aes)
    # SoftHSM reports a failed GCM tag check as CKR_GENERAL_ERROR (the spec has CKR_ENCRYPTED_DATA_INVALID).
    with pytest.raises(errors.GeneralError):
        module.C_Decrypt(user_session, ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]))


def test_encrypt_accepts_any_bytes_like_input(module: lowlevel.Module, user_session: int, aes: int) -> None:
    expected = None
    for data in (bytes(16), bytearray(16), memoryview(bytes(32))[:16], array.array("I", [0, 0, 0, 0])):
        module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)
        out = module.C_Encrypt(user_session, data)
        expected = expected or out
        assert out == expected


def test_encrypt_refuses_str_and_copies_non_contiguous_input(
    module: lowlevel.Module, user_session: int, aes: int
) -> None:
    module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)
    with pytest.raises(TypeError, match="bytes-like"):
        module.C_Encrypt(user_session, "sixteen chars!!!")  # type: ignore[arg-type]
    # Refused before anything reached the module: the operation is still waiting for its data.
    expected = module.C_Encrypt(user_session, bytes(range(0, 32, 2)))
    # A strided memoryview is passed as a contiguous copy of what it shows (never a BufferError).
    module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)
    assert module.C_Encrypt(user_session, memoryview(bytes(range(32)))[::2]) == expected


def test_wrong_ciphertext_length(module: lowlevel.Module, user_session: int, aes: int) -> None:
    module.C_DecryptInit(user_session, lowlevel.Mech(lib.CKM_AES_CBC_PAD, IV), aes)
    with pytest.raises(errors.EncryptedDataLenRange):
        module.C_Decrypt(user_session, bytes(15))


def test_wrong_plaintext_length_for_ecb(module: lowlevel.Module, user_session: int, aes: int) -> None:
    module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)
    with pytest.raises(errors.DataLenRange):
        module.C_Encrypt(user_session, bytes(15))


def test_bad_mechanism_parameters(module: lowlevel.Module, user_session: int, aes: int) -> None:
    # SoftHSM's answers (the spec would have CKR_MECHANISM_PARAM_INVALID for both).
    with pytest.raises(errors.MechanismInvalid):
        module.C_EncryptInit(user_session, lowlevel.Mech(lib.CKM_AES_CBC_PAD, b"short"), aes)
    with pytest.raises(errors.ArgumentsBad):
        module.C_EncryptInit(user_session, lib.CKM_AES_CBC, aes)


def test_operation_not_initialised_and_active(module: lowlevel.Module, user_session: int, aes: int) -> None:
    with pytest.raises(errors.OperationNotInitialized):
        module.C_Encrypt(user_session, bytes(16))
    module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)
    with pytest.raises(errors.OperationActive):
        module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)
    module.C_Encrypt(user_session, bytes(16))


def test_key_without_permission(module: lowlevel.Module, user_session: int, aes: int) -> None:
    module.C_SetAttributeValue(user_session, aes, {lib.CKA_ENCRYPT: False})
    with pytest.raises(errors.KeyFunctionNotPermitted):
        module.C_EncryptInit(user_session, lib.CKM_AES_ECB, aes)


def test_key_type_inconsistent_with_mechanism(module: lowlevel.Module, user_session: int, hmac_key: int) -> None:
    with pytest.raises(errors.KeyTypeInconsistent):
        module.C_EncryptInit(user_session, lib.CKM_AES_ECB, hmac_key)


def test_unknown_mechanism(module: lowlevel.Module, user_session: int, aes: int) -> None:
    with pytest.raises(errors.MechanismInvalid):
        module.C_EncryptInit(user_session, lib.CKM_VENDOR_DEFINED + 99, aes)


def test_invalid_key_handle(module: lowlevel.Module, user_session: int) -> None:
    with pytest.raises(errors.ObjectHandleError):
        module.C_EncryptInit(user_session, lib.CKM_AES_ECB, 0xFFFF_FF00)


def test_operation_on_closed_session(module: lowlevel.Module, slot: int, aes: int) -> None:
    session = module.C_OpenSession(slot)
    module.C_CloseSession(session)
    with pytest.raises(errors.SessionHandleInvalid):
        module.C_EncryptInit(session, lib.CKM_AES_ECB, aes)
    with pytest.raises(errors.SessionHandleInvalid):
        module.C_Sign(session, b"data")
    with pytest.raises(errors.SessionHandleInvalid):
        module.C_GenerateRandom(session, 8)


# -- digests ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mechanism", "name"),
    [(lib.CKM_SHA_1, "sha1"), (lib.CKM_SHA256, "sha256"), (lib.CKM_SHA384, "sha384"), (lib.CKM_SHA512, "sha512")],
)
def test_digest_single_part(module: lowlevel.Module, session: int, mechanism: int, name: str) -> None:
    module.C_DigestInit(session, mechanism)
    assert module.C_Digest(session, b"The quick brown fox") == hashlib.new(name, b"The quick brown fox").digest()


def test_digest_multi_part(module: lowlevel.Module, session: int) -> None:
    module.C_DigestInit(session, lib.CKM_SHA256)
    for part in (b"one ", bytearray(b"two "), memoryview(b"three")):
        module.C_DigestUpdate(session, part)
    assert module.C_DigestFinal(session) == hashlib.sha256(b"one two three").digest()


def test_digest_of_large_input(module: lowlevel.Module, session: int) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    module.C_DigestInit(session, lib.CKM_SHA512)
    assert module.C_Digest(session, data) == hashlib.sha512(data).digest()


def test_digest_key(module: lowlevel.Module, user_session: int, aes: int) -> None:
    module.C_DigestInit(user_session, lib.CKM_SHA256)
    module.C_DigestUpdate(user_session, b"prefix")
    module.C_DigestKey(user_session, aes)
    assert module.C_DigestFinal(user_session) == hashlib.sha256(b"prefix" + AES_VALUE).digest()


# -- signatures and MACs ----------------------------------------------------------------------------------------


def test_ecdsa_sign_and_verify(module: lowlevel.Module, user_session: int, ec_keys: tuple[int, int]) -> None:
    public, private = ec_keys
    digest = hashlib.sha256(b"message").digest()
    module.C_SignInit(user_session, lib.CKM_ECDSA, private)
    signature = module.C_Sign(user_session, digest)
    assert len(signature) == 64  # r || s for P-256
    module.C_VerifyInit(user_session, lib.CKM_ECDSA, public)
    module.C_Verify(user_session, digest, signature)
    # cryptography agrees with the token.
    (point,) = module.C_GetAttributeValue(user_session, public, [lib.CKA_EC_POINT])
    assert point is not None
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key.verify(der, b"message", ec.ECDSA(hashes.SHA256()))


def test_verify_bad_signature(module: lowlevel.Module, user_session: int, ec_keys: tuple[int, int]) -> None:
    public, private = ec_keys
    digest = hashlib.sha256(b"message").digest()
    module.C_SignInit(user_session, lib.CKM_ECDSA, private)
    signature = bytearray(module.C_Sign(user_session, digest))
    signature[10] ^= 0xFF
    module.C_VerifyInit(user_session, lib.CKM_ECDSA, public)
    with pytest.raises(errors.SignatureInvalid) as info:
        module.C_Verify(user_session, digest, signature)
    assert isinstance(info.value, errors.SignatureError)
    module.C_VerifyInit(user_session, lib.CKM_ECDSA, public)
    with pytest.raises(errors.SignatureLenRange):
        module.C_Verify(user_session, digest, bytes(signature[:-1]))


def test_hmac_single_and_multi_part(module: lowlevel.Module, user_session: int, hmac_key: int) -> None:
    expected = mac(b"hello world")
    module.C_SignInit(user_session, lib.CKM_SHA256_HMAC, hmac_key)
    assert module.C_Sign(user_session, b"hello world") == expected
    module.C_SignInit(user_session, lib.CKM_SHA256_HMAC, hmac_key)
    module.C_SignUpdate(user_session, b"hello ")
    module.C_SignUpdate(user_session, b"world")
    assert module.C_SignFinal(user_session) == expected
    module.C_VerifyInit(user_session, lib.CKM_SHA256_HMAC, hmac_key)
    module.C_VerifyUpdate(user_session, b"hello ")
    module.C_VerifyUpdate(user_session, memoryview(b"world"))
    module.C_VerifyFinal(user_session, expected)
    module.C_VerifyInit(user_session, lib.CKM_SHA256_HMAC, hmac_key)
    module.C_VerifyUpdate(user_session, b"hello moon")
    with pytest.raises(errors.SignatureInvalid):
        module.C_VerifyFinal(user_session, expected)


def test_rsa_pkcs1_sign_and_verify(module: lowlevel.Module, rsa_keys: tuple[int, int, int]) -> None:
    session, public, private = rsa_keys
    module.C_SignInit(session, lib.CKM_SHA256_RSA_PKCS, private)
    module.C_SignUpdate(session, b"multi-part ")
    module.C_SignUpdate(session, b"rsa")
    signature = module.C_SignFinal(session)
    assert len(signature) == 256
    module.C_VerifyInit(session, lib.CKM_SHA256_RSA_PKCS, public)
    module.C_Verify(session, b"multi-part rsa", signature)


def test_rsa_pss_with_parameter_struct(module: lowlevel.Module, rsa_keys: tuple[int, int, int]) -> None:
    session, public, private = rsa_keys
    params = ffi.new("CK_RSA_PKCS_PSS_PARAMS *", {"hashAlg": lib.CKM_SHA256, "mgf": lib.CKG_MGF1_SHA256, "sLen": 32})
    mech = lowlevel.Mech(lib.CKM_SHA256_RSA_PKCS_PSS, params)
    module.C_SignInit(session, mech, private)
    first = module.C_Sign(session, b"pss")
    module.C_SignInit(session, mech, private)
    second = module.C_Sign(session, b"pss")
    assert first != second  # PSS is randomised
    module.C_VerifyInit(session, mech, public)
    module.C_Verify(session, b"pss", first)


def test_rsa_oaep_encrypt_and_decrypt(module: lowlevel.Module, rsa_keys: tuple[int, int, int]) -> None:
    session, public, private = rsa_keys
    params = ffi.new(
        "CK_RSA_PKCS_OAEP_PARAMS *",
        {"hashAlg": lib.CKM_SHA_1, "mgf": lib.CKG_MGF1_SHA1, "source": lib.CKZ_DATA_SPECIFIED},
    )
    mech = lowlevel.Mech(lib.CKM_RSA_PKCS_OAEP, params)
    module.C_EncryptInit(session, mech, public)
    ciphertext = module.C_Encrypt(session, b"session key")
    assert len(ciphertext) == 256
    module.C_DecryptInit(session, mech, private)
    assert module.C_Decrypt(session, ciphertext) == b"session key"
