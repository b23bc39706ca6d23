"""Signatures and MACs, cross-checked with ``cryptography``: token signatures verify in software, software
signatures verify on the token, streaming equals single-shot."""

from __future__ import annotations

import hashlib
import hmac
import io

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p11 import errors
from p11.constants import MGF, Attribute, KeyType, Mechanism, ObjectClass
from p11.mechanisms import PSS, EdDSA, digest_info
from p11.ops.plans import SIGN, plan
from tests.api.helpers import software_public_key, split, token_public_key

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HASHES = {
    "sha1": hashes.SHA1(),
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
RSA_PKCS_MECHS = {
    "sha1": Mechanism.SHA1_RSA_PKCS,
    "sha224": Mechanism.SHA224_RSA_PKCS,
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
ECDSA_MECHS = {
    "sha1": Mechanism.ECDSA_SHA1,
    "sha224": Mechanism.ECDSA_SHA224,
    "sha256": Mechanism.ECDSA_SHA256,
    "sha384": Mechanism.ECDSA_SHA384,
    "sha512": Mechanism.ECDSA_SHA512,
}
HMAC_MECHS = {
    "sha1": Mechanism.SHA_1_HMAC,
    "sha224": Mechanism.SHA224_HMAC,
    "sha256": Mechanism.SHA256_HMAC,
    "sha384": Mechanism.SHA384_HMAC,
    "sha512": Mechanism.SHA512_HMAC,
}
CURVES = {
    "secp256r1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
    "secp521r1": ec.SECP521R1(),
    "secp256k1": ec.SECP256K1(),
}


@pytest.fixture(scope="module")
def rsa_pair(session):
    return session.generate_keypair("rsa", 2048, token=False, label="sign-rsa")


@pytest.fixture(scope="module")
def ec_pairs(session):
    return {name: session.generate_keypair("ec", curve=name, token=False) for name in CURVES}


@pytest.fixture(scope="module")
def rsa_software():
    return rsa.generate_private_key(65537, 2048)


def der_signature(raw: bytes) -> bytes:
    half = len(raw) // 2
    return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def raw_signature(der: bytes, size: int) -> bytes:
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# -- RSA PKCS#1 v1.5 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hash_name", list(HASHES))
def test_rsa_pkcs1_token_signs_software_verifies(session, rsa_pair, rsa_software, hash_name):
    pub, priv = rsa_pair
    data = b"rsa pkcs1 " + hash_name.encode()
    sig = priv.sign(data, RSA_PKCS_MECHS[hash_name])
    software_public_key(pub).verify(sig, data, padding.PKCS1v15(), HASHES[hash_name])
    pub.verify(data, sig, RSA_PKCS_MECHS[hash_name])
    # and the other way round: a software signature verifies on the token
    sw_sig = rsa_software.sign(data, padding.PKCS1v15(), HASHES[hash_name])
    token_pub = token_public_key(session, rsa_software.public_key())
    token_pub.verify(data, sw_sig, RSA_PKCS_MECHS[hash_name])
    assert not token_pub.verify_ok(data + b"!", sw_sig, RSA_PKCS_MECHS[hash_name])


def test_rsa_default_mechanism_is_sha256_pkcs1(rsa_pair):
    pub, priv = rsa_pair
    sig = priv.sign(b"default")
    software_public_key(pub).verify(sig, b"default", padding.PKCS1v15(), hashes.SHA256())


def test_rsa_pkcs_over_digest_info_equals_hash_and_sign(rsa_pair):
    _, priv = rsa_pair
    data = b"digest info"
    combined = priv.sign(data, Mechanism.SHA256_RSA_PKCS)
    raw = priv.sign(digest_info("sha256", hashlib.sha256(data).digest()), Mechanism.RSA_PKCS)
    assert raw == combined  # PKCS#1 v1.5 is deterministic: the software-hash fallback gives the same bytes


# -- RSA PSS -----------------------------------------------------------------------------------------------------


@SETTINGS
@given(
    data=st.binary(max_size=2048),
    hash_name=st.sampled_from(list(HASHES)),
    salt=st.integers(min_value=0, max_value=64),
)
def test_rsa_pss_any_hash_and_salt(session, rsa_pair, rsa_software, data, hash_name, salt):
    pub, priv = rsa_pair
    mgf_name = hash_name  # SoftHSM 2.6 insists on MGF1 with the signature's hash (see the next test)
    mech = PSS(hash_name, salt_length=salt)
    sig = priv.sign(data, mech)
    software_public_key(pub).verify(sig, data, padding.PSS(padding.MGF1(HASHES[mgf_name]), salt), HASHES[hash_name])
    pub.verify(data, sig, mech)
    sw_sig = rsa_software.sign(data, padding.PSS(padding.MGF1(HASHES[mgf_name]), salt), HASHES[hash_name])
    token_public_key(session, rsa_software.public_key()).verify(data, sw_sig, mech)


def test_rsa_pss_other_mgf_is_passed_to_the_token(session, rsa_pair):
    _, priv = rsa_pair
    mech = PSS("sha256", mgf="sha1", salt_length=20)
    from p11._cffi import ffi

    struct = ffi.cast("CK_RSA_PKCS_PSS_PARAMS *", mech.build().parameter_address)
    assert (struct.hashAlg, struct.mgf, struct.sLen) == (Mechanism.SHA256, MGF.SHA1, 20)
    with pytest.raises(errors.ArgumentsBad) as info:  # SoftHSM 2.6.1 only does MGF1 with the same hash
        priv.sign(b"data", mech)
    assert "SHA256_RSA_PKCS_PSS" in str(info.value)
    assert priv.sign(b"data", PSS("sha256"))  # the session is still usable


def test_rsa_pss_prehashed(rsa_pair):
    pub, priv = rsa_pair
    digest = hashlib.sha384(b"prehashed pss").digest()
    sig = priv.sign(digest, PSS("sha384", prehashed=True))
    software_public_key(pub).verify(
        sig, digest, padding.PSS(padding.MGF1(hashes.SHA384()), 48), utils.Prehashed(hashes.SHA384())
    )
    assert PSS("sha384", prehashed=True).mechanism == Mechanism.RSA_PKCS_PSS
    assert PSS("sha384").mechanism == Mechanism.SHA384_RSA_PKCS_PSS


# -- ECDSA -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("curve_name", list(CURVES))
@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha384", "sha512"])
def test_ecdsa_with_hashing_in_software_fallback(session, ec_pairs, curve_name, hash_name):
    pub, priv = ec_pairs[curve_name]
    mech = ECDSA_MECHS[hash_name]
    p = plan(priv, mech, SIGN)
    # SoftHSM 2.6.1 has no CKM_ECDSA_SHA*: p11 hashes with hashlib and signs the digest with CKM_ECDSA.
    assert p.mechanism == Mechanism.ECDSA and p.prehash is not None and p.prehash.name == hash_name
    order_bytes = (priv.key_size + 7) // 8
    assert p.truncate == (order_bytes if p.prehash.size > order_bytes else None)  # leftmost bits, as X9.62 says
    data = b"ecdsa " + curve_name.encode()
    sig = priv.sign(data, mech)
    size = (priv.key_size + 7) // 8
    assert len(sig) == 2 * size
    software_public_key(pub).verify(der_signature(sig), data, ec.ECDSA(HASHES[hash_name]))
    pub.verify(data, sig, mech)
    # a software signature verifies on the token, through the same fallback
    sw_key = ec.generate_private_key(CURVES[curve_name])
    sw_sig = raw_signature(sw_key.sign(data, ec.ECDSA(HASHES[hash_name])), size)
    token_pub = token_public_key(session, sw_key.public_key())
    token_pub.verify(data, sw_sig, mech)
    assert not token_pub.verify_ok(b"other data", sw_sig, mech)


def test_ecdsa_without_hashing_signs_the_given_digest(ec_pairs):
    pub, priv = ec_pairs["secp256r1"]
    digest = hashlib.sha256(b"raw ecdsa").digest()
    sig = priv.sign(digest, Mechanism.ECDSA)
    software_public_key(pub).verify(der_signature(sig), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    pub.verify(digest, sig, Mechanism.ECDSA)
    # the default EC mechanism is ECDSA with SHA-256 (hashed in software on SoftHSM)
    software_public_key(pub).verify(der_signature(priv.sign(b"raw ecdsa")), b"raw ecdsa", ec.ECDSA(hashes.SHA256()))


@SETTINGS
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=6))
def test_ecdsa_streaming_verifies_like_single_shot(ec_pairs, data, cuts):
    pub, priv = ec_pairs["secp384r1"]
    chunks = split(data, cuts)
    sig = priv.sign(iter(chunks), Mechanism.ECDSA_SHA384)
    software_public_key(pub).verify(der_signature(sig), data, ec.ECDSA(hashes.SHA384()))
    pub.verify(io.BytesIO(data), sig, Mechanism.ECDSA_SHA384)
    pub.verify(data, priv.sign(io.BytesIO(data), Mechanism.ECDSA_SHA384), Mechanism.ECDSA_SHA384)


# -- EdDSA -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sw_class"), [("ed25519", ed25519.Ed25519PrivateKey), ("ed448", ed448.Ed448PrivateKey)]
)
def test_eddsa_both_ways(session, name, sw_class):
    pub, priv = session.generate_keypair(name, token=False)
    data = b"edwards " + name.encode()
    sig = priv.sign(data)  # default for Edwards keys: CKM_EDDSA
    assert sig == priv.sign(data, Mechanism.EDDSA)  # deterministic
    software_public_key(pub).verify(sig, data)
    pub.verify(data, sig)
    assert priv.sign([data[:3], data[3:]]) == sig  # chunks are joined: EdDSA signs in one piece
    sw_key = sw_class.generate()
    token_pub = token_public_key(session, sw_key.public_key())
    token_pub.verify(data, sw_key.sign(data), Mechanism.EDDSA)
    assert not token_pub.verify_ok(data, bytes(len(sig)), Mechanism.EDDSA)


def test_eddsa_parameters_object():
    params = EdDSA(context=b"ctx", prehashed=True)
    assert params.mechanism == Mechanism.EDDSA
    from p11._cffi import ffi

    struct = ffi.cast("CK_EDDSA_PARAMS *", params.build().parameter_address)
    assert struct.phFlag == 1 and struct.ulContextDataLen == 3
    assert bytes(ffi.buffer(struct.pContextData, 3)) == b"ctx"


# -- HMAC --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hmac_secret():
    return bytes(range(64))  # SoftHSM wants HMAC keys at least as long as the hash output


@pytest.fixture(scope="module")
def hmac_key(session, hmac_secret):
    return session.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.VALUE: hmac_secret,
            Attribute.SIGN: True,
            Attribute.VERIFY: True,
            Attribute.TOKEN: False,
        }
    )


@pytest.mark.parametrize("hash_name", list(HMAC_MECHS))
def test_hmac_matches_python(hmac_key, hmac_secret, hash_name):
    data = b"hmac data " * 10
    mac = hmac_key.sign(data, HMAC_MECHS[hash_name])
    assert mac == hmac.new(hmac_secret, data, hash_name).digest()
    hmac_key.verify(data, mac, HMAC_MECHS[hash_name])
    assert not hmac_key.verify_ok(data, bytes(len(mac)), HMAC_MECHS[hash_name])
    assert not hmac_key.verify_ok(data, mac[:-1], HMAC_MECHS[hash_name])  # wrong length: also just False


def test_generated_hmac_key_matches_python(session):
    key = session.generate_key("hmac", 256, token=False, sensitive=False, extractable=True)
    assert key.sign(b"abc") == hmac.new(key[Attribute.VALUE], b"abc", "sha256").digest()


@SETTINGS
@given(data=st.binary(max_size=8192), cuts=st.lists(st.integers(min_value=0, max_value=8192), max_size=8))
def test_hmac_streaming_equals_single_shot(hmac_key, hmac_secret, data, cuts):
    chunks = split(data, cuts)
    single = hmac_key.sign(data, Mechanism.SHA512_HMAC)
    assert hmac_key.sign(chunks, Mechanism.SHA512_HMAC) == single
    assert hmac_key.sign(io.BytesIO(data), Mechanism.SHA512_HMAC) == single
    assert single == hmac.new(hmac_secret, data, "sha512").digest()
    hmac_key.verify(iter(chunks), single, Mechanism.SHA512_HMAC)


@SETTINGS
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=6))
def test_rsa_streaming_equals_single_shot(rsa_pair, data, cuts):
    pub, priv = rsa_pair
    single = priv.sign(data, Mechanism.SHA256_RSA_PKCS)
    assert priv.sign(split(data, cuts), Mechanism.SHA256_RSA_PKCS) == single
    pub.verify(split(data, cuts), single, Mechanism.SHA256_RSA_PKCS)


def test_large_file_streams(rsa_pair, tmp_path):
    pub, priv = rsa_pair
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 4096 * 3  # 3 MiB: many 64 KiB reads
    path.write_bytes(data)
    with path.open("rb") as f:
        sig = priv.sign(f, Mechanism.SHA256_RSA_PKCS)
    assert sig == priv.sign(data, Mechanism.SHA256_RSA_PKCS)
    with path.open("rb") as f:
        pub.verify(f, sig, Mechanism.SHA256_RSA_PKCS)


def test_verify_raises_signature_invalid(ec_pairs, rsa_pair):
    pub, priv = rsa_pair
    sig = bytearray(priv.sign(b"x"))
    sig[0] ^= 1
    with pytest.raises(errors.SignatureInvalid) as info:
        pub.verify(b"x", bytes(sig))
    assert isinstance(info.value, errors.SignatureError)
    assert pub.verify_ok(b"x", priv.sign(b"x"))


def test_the_default_mechanism_tables_cannot_be_changed(ec_pairs):
    # p11.mechanisms.DEFAULT_SIGN is public (the p11 command shows it): a program that could assign into it would
    # change what every key of the process signs with.
    from p11.mechanisms import DEFAULT_SIGN, DEFAULT_WRAP

    for table in (DEFAULT_SIGN, DEFAULT_WRAP):
        with pytest.raises(TypeError):
            table[KeyType.AES] = Mechanism.AES_MAC  # type: ignore[index]
    assert DEFAULT_SIGN[KeyType.EC] == Mechanism.ECDSA_SHA256
    pub, priv = ec_pairs["secp256r1"]
    pub.verify(b"default", priv.sign(b"default"), Mechanism.ECDSA_SHA256)
