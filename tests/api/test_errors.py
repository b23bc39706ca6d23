"""Bad input gets a specific exception, and a failed operation leaves the session usable."""

from __future__ import annotations

import io

import pytest

from p11 import errors
from p11.constants import Attribute, KeyType, Mechanism
from p11.mechanisms import CBC, GCM, PSS
from p11.ops.plans import SIGN, plan


@pytest.fixture(scope="module")
def ec_pair(session):
    return session.generate_keypair("ec", token=False, label="errors-ec")


@pytest.fixture(scope="module")
def aes(session):
    return session.generate_key("aes", token=False, label="errors-aes")


def test_mechanism_the_token_lacks_names_mechanism_token_and_operation(session, aes):
    with pytest.raises(errors.MechanismNotSupported) as info:
        aes.encrypt(b"data", Mechanism.AES_CCM)
    exc = info.value
    assert isinstance(exc, errors.MechanismError)
    assert exc.mechanism == Mechanism.AES_CCM and exc.token_label == session.token.label
    assert exc.operation == "encrypt"
    text = str(exc)
    assert "CKM_AES_CCM" in text and session.token.label in text and "encrypt" in text


def test_mechanism_the_key_cannot_do_names_key_and_mechanism(ec_pair, aes):
    _, priv = ec_pair
    with pytest.raises(errors.KeyTypeInconsistent) as info:
        priv.sign(b"data", Mechanism.SHA256_RSA_PKCS)
    assert "errors-ec" in str(info.value) and "SHA256_RSA_PKCS" in str(info.value) and "EC" in str(info.value)
    with pytest.raises(errors.KeyTypeInconsistent):
        aes.sign(b"data", PSS("sha256"))
    with pytest.raises(errors.KeyTypeInconsistent):
        priv.sign(b"data", Mechanism.SHA256_HMAC)


def test_key_attribute_forbids(session):
    _, priv = session.generate_keypair("ec", token=False, label="cannot-sign", private_attrs={"sign": False})
    with pytest.raises(errors.KeyCapabilityError) as info:
        priv.sign(b"data")
    assert info.value.attribute == "CKA_SIGN" and "cannot-sign" in str(info.value)
    secret = session.generate_key("aes", token=False, encrypt=False)
    with pytest.raises(errors.KeyCapabilityError) as info:
        secret.encrypt(b"data", CBC(bytes(16)))
    assert info.value.attribute == "CKA_ENCRYPT"
    assert secret.decrypt(bytes(16), CBC(bytes(16), pad=False))  # the session goes on


def test_wrong_argument_types(ec_pair, aes):
    pub, priv = ec_pair
    with pytest.raises(TypeError, match="str"):
        priv.sign("text is not bytes")
    with pytest.raises(TypeError):
        priv.sign(12345)
    with pytest.raises(TypeError, match="mechanism"):
        priv.sign(b"data", "ECDSA")
    with pytest.raises(TypeError):
        pub.verify(b"data", "signature")
    with pytest.raises(TypeError, match="mechanism"):
        aes.encrypt(b"data", None)
    with pytest.raises(TypeError):
        aes.wrap_key("not a key")
    with pytest.raises(TypeError, match="binary mode"):
        priv.sign(io.StringIO("text file"))
    assert pub.verify_ok(b"data", priv.sign(b"data"))


def test_bad_chunk_mid_stream_ends_the_operation(session, aes):
    hmac_key = session.generate_key("hmac", token=False)
    with pytest.raises(TypeError, match="chunk"):
        hmac_key.sign([b"good", "bad", b"never"])
    # the multi-part sign begun on the token was ended: a new operation starts fine
    assert hmac_key.sign(b"data") == hmac_key.sign([b"da", b"ta"])
    with pytest.raises(TypeError):
        aes.encrypt([b"x" * 16, 42], CBC(bytes(16)))
    assert aes.decrypt(aes.encrypt(b"fine", CBC(bytes(16))), CBC(bytes(16))) == b"fine"


def test_iterable_raising_mid_stream_ends_the_operation(session, ec_pair):
    hmac_key = session.generate_key("hmac", token=False)

    def chunks():
        yield b"first"
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        hmac_key.sign(chunks())
    with pytest.raises(RuntimeError, match="source failed"):
        session.digest(chunks())
    assert session.digest(b"abc")
    assert hmac_key.sign(b"after")


def test_verify_and_decrypt_of_an_iterable_raising_mid_stream_end_the_operation(session, aes):
    hmac_key = session.generate_key("hmac", token=False)
    mac = hmac_key.sign(b"firstsecond")

    def chunks():
        yield b"first"
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        hmac_key.verify(chunks(), mac)
    with pytest.raises(RuntimeError, match="source failed"):
        aes.decrypt(chunks(), CBC(bytes(16)))
    hmac_key.verify([b"first", b"second"], mac)  # the session runs new operations: the old ones were ended
    assert aes.decrypt(aes.encrypt([b"x" * 20, b"y"], CBC(bytes(16))), CBC(bytes(16))) == b"x" * 20 + b"y"


def test_stream_closed_early_ends_the_operation(session, aes):
    iv = bytes(16)
    data = [b"a" * 4096, b"b" * 4096, b"c" * 4096]
    stream = aes.encrypt_stream(iter(data), CBC(iv))
    assert len(next(stream)) == 4096
    stream.close()  # the consumer stops half-way: the token's operation is ended, the session given back
    assert b"".join(aes.encrypt_stream(iter(data), CBC(iv))) == aes.encrypt(b"".join(data), CBC(iv))
    assert session.digest([b"still ", b"usable"]) == session.digest(b"still usable")


def test_verify_failure_mid_stream_then_sign_on_the_same_session(session, ec_pair):
    hmac_key = session.generate_key("hmac", token=False)
    mac = hmac_key.sign(b"streamed data")
    with pytest.raises(errors.SignatureInvalid):
        hmac_key.verify([b"streamed", b" DATA"], mac)
    assert not hmac_key.verify_ok(iter([b"streamed", b" daTa"]), mac)
    pub, priv = ec_pair
    sig = priv.sign(b"after the failure")  # a successful sign on the same session
    pub.verify(b"after the failure", sig)
    hmac_key.verify([b"streamed", b" data"], mac)


def test_failed_decrypt_leaves_the_session_usable(session, aes):
    iv = bytes(12)
    with pytest.raises(errors.CryptokiError):
        aes.decrypt(b"too short for a tag", GCM(iv))
    with pytest.raises(errors.CryptokiError):
        aes.decrypt(b"x" * 15, CBC(bytes(16)))
    assert aes.decrypt(aes.encrypt(b"ok", GCM(iv)), GCM(iv)) == b"ok"


def test_no_default_mechanism_for_some_operations(ec_pair):
    pub, _ = ec_pair
    with pytest.raises(TypeError, match="mechanism"):
        pub.encrypt(b"data", None)


def test_plans_are_cached_per_key_and_mechanism(ec_pair):
    _, priv = ec_pair
    first = plan(priv, Mechanism.ECDSA_SHA256, SIGN)
    assert plan(priv, Mechanism.ECDSA_SHA256, SIGN) is first


def test_secrets_never_in_messages(session):
    secret = session.generate_key("aes", token=False, extractable=True, sensitive=False)
    value = secret[Attribute.VALUE]
    with pytest.raises(errors.KeyTypeInconsistent) as info:
        secret.sign(value, Mechanism.ECDSA)
    assert value.hex() not in str(info.value) and repr(value) not in str(info.value)
    assert KeyType.AES.name in str(info.value)
