"""Encryption, key wrapping, ECDH, digests and random, cross-checked with ``cryptography`` and ``hashlib``."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.padding import PKCS7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p11 import errors
from p11._cffi import ffi
from p11.constants import Attribute, KeyDerivation, KeyType, Mechanism, ObjectClass
from p11.mechanisms import CBC, CTR, ECDH1, GCM, OAEP, KeyWrap, Raw
from tests.api.helpers import software_public_key, split

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
AES_KEY = bytes(range(32))


def aes_key(session, value=AES_KEY, extra=None):
    tmpl = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE: value,
        Attribute.TOKEN: False,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: True,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
    }
    tmpl.update(extra or {})
    return session.create_object(tmpl)


@pytest.fixture(scope="module")
def key(session):
    return aes_key(session)


@pytest.fixture(scope="module")
def rsa_pair(session):
    return session.generate_keypair("rsa", 2048, token=False)


# -- AES ---------------------------------------------------------------------------------------------------------


@SETTINGS
@given(
    data=st.binary(max_size=3000),
    aad=st.binary(max_size=64),
    iv_len=st.sampled_from([12, 16]),
    tag_length=st.sampled_from([12, 16]),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=5),
)
def test_aes_gcm_matches_cryptography(key, data, aad, iv_len, tag_length, cuts):
    iv = os.urandom(iv_len)
    mech = GCM(iv, aad=aad, tag_length=tag_length)
    ct = key.encrypt(data, mech)
    assert len(ct) == len(data) + tag_length
    decryptor = Cipher(algorithms.AES(AES_KEY), modes.GCM(iv, ct[len(data) :], min_tag_length=tag_length)).decryptor()
    decryptor.authenticate_additional_data(aad)
    assert decryptor.update(ct[: len(data)]) + decryptor.finalize() == data
    assert key.decrypt(ct, mech) == data
    assert key.encrypt(split(data, cuts), mech) == ct  # streaming equals single-shot
    assert key.decrypt(split(ct, cuts), mech) == data
    if tag_length == 16:
        assert key.decrypt(AESGCM(AES_KEY).encrypt(iv, data, aad), mech) == data


def test_aes_gcm_tampering_is_detected_and_session_stays_usable(key):
    mech = GCM(os.urandom(12), aad=b"header")
    ct = bytearray(key.encrypt(b"secret message", mech))
    ct[0] ^= 1
    # SoftHSM 2.6.1 reports a bad tag as CKR_GENERAL_ERROR (and leaves the operation running: p11 ends it)
    with pytest.raises((errors.DataError, errors.GeneralError)):
        key.decrypt(bytes(ct), mech)
    ct[0] ^= 1
    assert key.decrypt(bytes(ct), mech) == b"secret message"


@SETTINGS
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=5))
def test_aes_cbc_pad_matches_cryptography(key, data, cuts):
    iv = os.urandom(16)
    ct = key.encrypt(data, CBC(iv))
    padder = PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(AES_KEY), modes.CBC(iv)).encryptor()
    assert ct == encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
    assert key.decrypt(ct, CBC(iv)) == data
    assert key.encrypt(split(data, cuts), CBC(iv)) == ct
    assert b"".join(key.decrypt_stream(split(ct, cuts), CBC(iv))) == data


def test_aes_cbc_without_padding(key):
    iv = os.urandom(16)
    data = os.urandom(64)
    ct = key.encrypt(data, CBC(iv, pad=False))
    encryptor = Cipher(algorithms.AES(AES_KEY), modes.CBC(iv)).encryptor()
    assert ct == encryptor.update(data) + encryptor.finalize()


@SETTINGS
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=5))
def test_aes_ctr_matches_cryptography(key, data, cuts):
    iv = os.urandom(16)
    ct = key.encrypt(data, CTR(iv))
    encryptor = Cipher(algorithms.AES(AES_KEY), modes.CTR(iv)).encryptor()
    assert ct == encryptor.update(data) + encryptor.finalize()
    assert key.decrypt(ct, CTR(iv)) == data
    assert key.encrypt(iter(split(data, cuts)), CTR(iv)) == ct


def test_stream_generators_yield_as_they_go(key):
    iv = os.urandom(16)
    data = os.urandom(1 << 18)
    pieces = list(key.encrypt_stream(io.BytesIO(data), CTR(iv)))
    assert len(pieces) > 1  # 64 KiB reads, one output piece each
    assert b"".join(pieces) == key.encrypt(data, CTR(iv))
    assert b"".join(key.decrypt_stream(iter(pieces), CTR(iv))) == data


def test_gcm_parameters_struct():
    mech = GCM(b"\x01" * 12, aad=b"aad!", tag_length=12)
    struct = ffi.cast("CK_GCM_PARAMS *", mech.build().parameter_address)
    assert (struct.ulIvLen, struct.ulIvBits, struct.ulAADLen, struct.ulTagBits) == (12, 96, 4, 96)
    assert bytes(ffi.buffer(struct.pIv, 12)) == b"\x01" * 12
    assert mech.build() is mech.build()  # built once
    assert "aad!" not in repr(mech)
    with pytest.raises(ValueError):
        GCM(b"")
    with pytest.raises(ValueError):
        GCM(b"x" * 12, tag_length=20)
    with pytest.raises(TypeError):
        GCM("not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CBC(b"short")
    with pytest.raises(ValueError):
        CTR(b"\x00" * 16, counter_bits=0)


# -- RSA ---------------------------------------------------------------------------------------------------------


def test_rsa_oaep_both_ways(rsa_pair):
    pub, priv = rsa_pair
    sw = software_public_key(pub)
    ct = sw.encrypt(b"oaep message", padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    assert priv.decrypt(ct, OAEP("sha1")) == b"oaep message"
    ct2 = pub.encrypt(b"token side", OAEP("sha1"))
    assert priv.decrypt(ct2, OAEP("sha1")) == b"token side"


def test_rsa_oaep_label_and_hash_reach_the_token(rsa_pair):
    pub, priv = rsa_pair
    mech = OAEP("sha256", label=b"my label")
    struct = ffi.cast("CK_RSA_PKCS_OAEP_PARAMS *", mech.build().parameter_address)
    assert struct.hashAlg == Mechanism.SHA256 and struct.ulSourceDataLen == 8
    assert bytes(ffi.buffer(struct.pSourceData, 8)) == b"my label"
    # SoftHSM 2.6.1 implements OAEP with SHA-1 and no label only, and says so with CKR_ARGUMENTS_BAD.
    with pytest.raises(errors.ArgumentsBad):
        pub.encrypt(b"x", mech)
    assert priv.decrypt(pub.encrypt(b"still fine", OAEP("sha1")), OAEP("sha1")) == b"still fine"


def test_rsa_pkcs1v15_encryption(rsa_pair):
    pub, priv = rsa_pair
    ct = software_public_key(pub).encrypt(b"pkcs1", padding.PKCS1v15())
    assert priv.decrypt(ct, Mechanism.RSA_PKCS) == b"pkcs1"
    assert priv.decrypt(pub.encrypt(b"both", Mechanism.RSA_PKCS), Mechanism.RSA_PKCS) == b"both"


# -- wrap and unwrap ---------------------------------------------------------------------------------------------


def test_aes_key_wrap_matches_rfc3394(session, key):
    inner_value = os.urandom(32)
    inner = aes_key(session, inner_value, {Attribute.EXTRACTABLE: True})
    wrapped = key.wrap_key(inner, KeyWrap())
    assert wrapped == keywrap.aes_key_wrap(AES_KEY, inner_value)
    assert key.wrap_key(inner) == wrapped  # the default for an AES wrapping key
    back = key.unwrap_key(wrapped, KeyWrap(), key_type=KeyType.AES, label="unwrapped")
    assert back.label == "unwrapped" and back.key_type == KeyType.AES
    assert back.sensitive and not back.extractable  # secure defaults for unwrapped keys too
    iv = os.urandom(16)
    assert back.encrypt(b"same key?", CBC(iv)) == inner.encrypt(b"same key?", CBC(iv))


def _generic_secret(session, value):
    tmpl = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
        Attribute.VALUE: value,
        Attribute.TOKEN: False,
        Attribute.EXTRACTABLE: True,
        Attribute.SIGN: True,
    }
    return session.create_object(tmpl)


def test_aes_key_wrap_with_padding_matches_rfc5649(session, key):
    # SoftHSM 2.6.1 offers RFC 5649 as CKM_AES_KEY_WRAP_PAD (0x210A); KeyWrap(pad=True) prefers the 3.0
    # CKM_AES_KEY_WRAP_KWP (0x210B) and falls back to it.
    mech = KeyWrap(pad=True)
    assert mech.mechanism == Mechanism.AES_KEY_WRAP_KWP and Mechanism.AES_KEY_WRAP_PAD in mech.alternatives
    value = os.urandom(24)  # RFC 5649's integrity value differs from RFC 3394's: a real KWP check
    wrapped = key.wrap_key(_generic_secret(session, value), mech)
    assert wrapped == keywrap.aes_key_wrap_with_padding(AES_KEY, value)
    assert wrapped != keywrap.aes_key_wrap(AES_KEY, value)
    back = key.unwrap_key(wrapped, mech, key_type="generic_secret", sign=True, sensitive=False, extractable=True)
    assert back[Attribute.VALUE] == value
    # A length that needs padding: the token unwraps what cryptography wraps. (SoftHSM 2.6.1's own wrap of such a
    # key is not RFC 5649: it pads the key to a multiple of 8 first and records that length.)
    odd = os.urandom(20)
    back = key.unwrap_key(
        keywrap.aes_key_wrap_with_padding(AES_KEY, odd),
        mech,
        key_type="generic_secret",
        sign=True,
        sensitive=False,
        extractable=True,
    )
    assert back[Attribute.VALUE] == odd


def test_rsa_oaep_wrap_and_unwrap(session, rsa_pair):
    pub, priv = rsa_pair
    value = os.urandom(16)
    inner = aes_key(session, value, {Attribute.EXTRACTABLE: True})
    wrapped = pub.wrap_key(inner, OAEP("sha1"))
    assert wrapped != value and len(wrapped) == 256
    back = priv.unwrap_key(wrapped, OAEP("sha1"), key_type=KeyType.AES, sensitive=False, extractable=True)
    assert back[Attribute.VALUE] == value


def test_rsa_oaep_wrap_cross_checked_with_cryptography(session, rsa_pair):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.api.helpers import token_public_key

    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    value = os.urandom(32)
    inner = aes_key(session, value, {Attribute.EXTRACTABLE: True})
    software = rsa.generate_private_key(65537, 2048)
    wrapped = token_public_key(session, software.public_key()).wrap_key(inner, OAEP("sha1"))
    assert software.decrypt(wrapped, oaep) == value  # the token wrapped for a software key
    pub, priv = rsa_pair
    sw_wrapped = software_public_key(pub).encrypt(value, oaep)  # software wraps for the token's key
    back = priv.unwrap_key(sw_wrapped, OAEP("sha1"), key_type="aes", sensitive=False, extractable=True)
    assert back[Attribute.VALUE] == value


def test_unextractable_keys_cannot_be_wrapped(session, key):
    locked = session.generate_key("aes", token=False)
    with pytest.raises(errors.KeyUnextractable) as info:
        key.wrap_key(locked)
    assert "extractable" in str(info.value)
    assert key.encrypt(b"usable", CTR(bytes(16)))


def test_wrapping_something_that_is_not_a_key_is_a_type_error(session, key, rsa_pair):
    pub, _ = rsa_pair
    for wrapping, mechanism in ((key, None), (pub, OAEP("sha1"))):
        with pytest.raises(TypeError, match="the key to wrap must be a p11 Key, not bytes"):
            wrapping.wrap_key(b"not a key", mechanism)


def test_key_operations_return_handles_and_the_object_layer_types_them(session, key, rsa_pair):
    # p11.ops never builds an object of p11.api: unwrap/derive/public_key_for give (handle, key type) back.
    from p11.ops import keyops

    value = os.urandom(16)
    inner = aes_key(session, value, {Attribute.EXTRACTABLE: True})
    wrapped = key.wrap_key(inner)
    made = keyops.unwrap_key(key, wrapped, None, KeyType.AES, ObjectClass.SECRET_KEY, None, {"sensitive": False})
    assert type(made) is tuple and type(made[0]) is int and made[1] is KeyType.AES
    # The same through the key's method: a typed SecretKey whose key type is known without a read.
    back = key.unwrap_key(wrapped, key_type="aes", sensitive=False, extractable=True)
    assert type(back).__name__ == "SecretKey" and back._key_type is KeyType.AES
    assert back[Attribute.VALUE] == value
    _, priv = rsa_pair
    handle, kt = keyops.public_key_for(priv)
    public = priv.public_key()
    assert type(public).__name__ == "PublicKey" and public.handle == handle and kt is KeyType.RSA
    assert public.key_type is KeyType.RSA


# -- ECDH --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "sw_curve"), [("secp256r1", ec.SECP256R1()), ("secp384r1", ec.SECP384R1())])
def test_ecdh_agrees_with_cryptography(session, name, sw_curve):
    pub, priv = session.generate_keypair("ec", curve=name, token=False, private_attrs={"derive": True})
    peer = ec.generate_private_key(sw_curve)
    peer_point = peer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    expected = peer.exchange(ec.ECDH(), software_public_key(pub))
    derived = priv.derive_key(ECDH1(peer_point), sensitive=False, extractable=True)
    assert derived.key_type == KeyType.GENERIC_SECRET
    assert derived[Attribute.VALUE] == expected
    assert not derived["token"]
    aes = priv.derive_key(ECDH1(peer_point), key_type=KeyType.AES, bits=128, sensitive=False, extractable=True)
    assert aes.key_size == 128 and aes[Attribute.VALUE] == expected[-16:]  # Cryptoki keeps the trailing bytes


def test_ecdh_with_a_kdf(session):
    _, priv = session.generate_keypair("ec", token=False, private_attrs={"derive": True})
    mech = ECDH1(b"\x04" + bytes(64), kdf="sha256", shared_data=b"info")
    struct = ffi.cast("CK_ECDH1_DERIVE_PARAMS *", mech.build().parameter_address)
    assert struct.kdf == KeyDerivation.SHA256_KDF and struct.ulSharedDataLen == 4 and struct.ulPublicDataLen == 65
    # SoftHSM 2.6.1 implements only the NULL KDF, and refuses the others with CKR_MECHANISM_PARAM_INVALID.
    with pytest.raises(errors.MechanismParamInvalid) as info:
        priv.derive_key(mech)
    assert "ECDH1_DERIVE" in str(info.value)
    with pytest.raises(ValueError):
        ECDH1(b"\x04" + bytes(64), shared_data=b"needs a kdf")


# -- digest and random -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mechanism", "name"),
    [
        (Mechanism.SHA_1, "sha1"),
        (Mechanism.SHA224, "sha224"),
        (Mechanism.SHA256, "sha256"),
        (Mechanism.SHA384, "sha384"),
        (Mechanism.SHA512, "sha512"),
        (Mechanism.MD5, "md5"),
    ],
)
def test_digest_equals_hashlib(session, mechanism, name):
    data = os.urandom(5000)
    assert session.digest(data, mechanism) == hashlib.new(name, data).digest()
    assert session.digest(split(data, [10, 4000]), mechanism) == hashlib.new(name, data).digest()
    assert session.digest(io.BytesIO(data), mechanism) == hashlib.new(name, data).digest()


def test_digest_default_and_unsupported(session):
    assert session.digest(b"abc") == hashlib.sha256(b"abc").digest()
    with pytest.raises(errors.MechanismNotSupported):
        session.digest(b"abc", Mechanism.SHA3_256)


def test_random(session):
    a, b = session.generate_random(32), session.generate_random(32)
    assert len(a) == 32 and a != b
    assert session.generate_random(0) == b""
    session.seed_random(b"more entropy")
    with pytest.raises(ValueError):
        session.generate_random(-1)
    with pytest.raises(TypeError):
        session.generate_random("8")  # type: ignore[arg-type]


def test_raw_parameter_object(key):
    iv = os.urandom(16)
    assert key.encrypt(b"raw", Raw(Mechanism.AES_CBC_PAD, iv)) == key.encrypt(b"raw", CBC(iv))
