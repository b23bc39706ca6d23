"""Keys that need their PIN for every use (issue 21 item 3): ``CKA_ALWAYS_AUTHENTICATE`` keys sign and decrypt with
``pin=``, which logs in ``CKU_CONTEXT_SPECIFIC`` right after each operation's Init, in C, per call and per batch item.

Real SoftHSM keys, made both ways users make them: ``pkcs11-tool --keypairgen --always-auth`` in a child process,
and p11's own keygen with the attribute. SoftHSM refuses such a key's ``C_Sign``/``C_Decrypt`` without the per-use
login, so every signature here that verifies proves the login happened for that very operation.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.x509.oid import NameOID

import p11
from p11 import errors
from p11._cffi import lib
from p11.api.objects import PrivateKey
from p11.api.token import Token
from p11.constants import KeyType, Mechanism, ObjectClass
from p11.crypto import export_public_key, token_key
from p11.testing import SoftHSM
from tests.support import SECRET_PIN, WRONG_PIN, Faulty, unique_label

PKCS11_TOOL = shutil.which("pkcs11-tool")
pytestmark = pytest.mark.skipif(PKCS11_TOOL is None, reason="pkcs11-tool (OpenSC) is not installed")


def _tool(softhsm: SoftHSM, label: str, *args: str) -> None:
    assert PKCS11_TOOL is not None
    argv = [PKCS11_TOOL, "--module", softhsm.module_path, "--token-label", label, "--login", "--pin", SECRET_PIN, *args]
    done = subprocess.run(argv, env=softhsm.env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def token(softhsm: SoftHSM) -> Iterator[Token]:
    """A token of its own with two always-authenticate key pairs made by pkcs11-tool (EC P-256 ``tool-ec``, RSA
    2048 ``tool-rsa``), logged in for pooled use."""
    label = softhsm.add_token(unique_label("always-auth"), user_pin=SECRET_PIN).label
    _tool(softhsm, label, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "tool-ec", "--id", "e1",
          "--always-auth")  # fmt: skip
    _tool(softhsm, label, "--keypairgen", "--key-type", "rsa:2048", "--label", "tool-rsa", "--id", "a1",
          "--always-auth")  # fmt: skip
    tok = p11.load(softhsm.module_path).get_token(label=label)
    tok.login(SECRET_PIN)
    yield tok
    tok.close_pool()


def _private(token: Token, label: str) -> PrivateKey:
    key = token.get_key(label=label, object_class=ObjectClass.PRIVATE_KEY)
    assert isinstance(key, PrivateKey)
    return key


@pytest.fixture
def ec_key(token: Token) -> PrivateKey:
    return _private(token, "tool-ec")


@pytest.fixture
def rsa_key(token: Token) -> PrivateKey:
    return _private(token, "tool-rsa")


def _ec_public(key: PrivateKey) -> ec.EllipticCurvePublicKey:
    public = export_public_key(key)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


def _verify_raw_ecdsa(public: ec.EllipticCurvePublicKey, raw: bytes, data: bytes) -> None:
    """Verify a PKCS#11 ``r || s`` ECDSA signature over SHA-256(data) (raises InvalidSignature)."""
    half = len(raw) // 2
    der = utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    public.verify(der, data, ec.ECDSA(hashes.SHA256()))


# -- the attribute, and the error without a PIN ------------------------------------------------------------------


def test_pkcs11_tool_keys_say_they_need_their_pin_per_use(ec_key: PrivateKey, rsa_key: PrivateKey) -> None:
    assert ec_key.always_authenticate is True
    assert rsa_key.always_authenticate is True
    assert ec_key["always_authenticate"] is True


def test_sign_without_a_pin_says_the_key_needs_it_per_use_not_log_in_first(ec_key: PrivateKey) -> None:
    with pytest.raises(errors.ContextPinRequired) as caught:
        ec_key.sign(b"data")
    text = str(caught.value)
    assert "needs its PIN for every use" in text and "pin=" in text and "tool-ec" in text
    assert "log in first" not in text
    assert isinstance(caught.value, errors.LoginError)
    assert caught.value.rv == lib.CKR_USER_NOT_LOGGED_IN


@pytest.mark.parametrize("call", ["decrypt", "sign_many", "cryptography"])
def test_every_operation_without_a_pin_raises_context_pin_required(rsa_key: PrivateKey, call: str) -> None:
    with pytest.raises(errors.ContextPinRequired):
        if call == "decrypt":
            rsa_key.decrypt(b"\x00" * 256, Mechanism.RSA_PKCS)
        elif call == "sign_many":
            rsa_key.sign_many([b"a", b"b"])
        else:
            token_key(rsa_key).sign(b"data", padding.PKCS1v15(), hashes.SHA256())


# -- sign, sign_many, decrypt with pin= ------------------------------------------------------------------------


def test_sign_with_the_pin_gives_a_signature_that_verifies(ec_key: PrivateKey) -> None:
    public = _ec_public(ec_key)
    for data in (b"first", b"second", b"third"):  # a login per signature: SoftHSM refuses a second C_Sign without
        _verify_raw_ecdsa(public, ec_key.sign(data, pin=SECRET_PIN), data)


@pytest.mark.parametrize(
    "pin", [SECRET_PIN, SECRET_PIN.encode(), bytearray(SECRET_PIN.encode()), memoryview(SECRET_PIN.encode())]
)
def test_pin_may_be_str_or_any_bytes_like(ec_key: PrivateKey, pin: Any) -> None:
    _verify_raw_ecdsa(_ec_public(ec_key), ec_key.sign(b"typed", pin=pin), b"typed")


def test_a_callable_pin_is_asked_once_per_use(ec_key: PrivateKey) -> None:
    asked: list[int] = []

    def prompt() -> str:
        asked.append(1)
        return SECRET_PIN

    ec_key.sign(b"one", pin=prompt)
    ec_key.sign(b"two", pin=prompt)
    assert len(asked) == 2
    ec_key.sign_many([b"a", b"b", b"c"], pin=prompt)
    assert len(asked) == 3  # once for the whole batch


def test_a_pin_of_the_wrong_type_or_a_callable_returning_none(ec_key: PrivateKey) -> None:
    with pytest.raises(TypeError, match="pin must be str or bytes"):
        ec_key.sign(b"x", pin=1234)  # type: ignore[arg-type]
    with pytest.raises(errors.ContextPinRequired, match="returned None"):
        ec_key.sign(b"x", pin=lambda: None)  # type: ignore[arg-type,return-value]


def test_sign_many_logs_in_for_every_item(ec_key: PrivateKey) -> None:
    messages = [b"message %d" % i for i in range(25)]
    signatures = ec_key.sign_many(messages, pin=SECRET_PIN, workers=4)  # one session whatever workers says
    public = _ec_public(ec_key)
    for data, raw in zip(messages, signatures, strict=True):
        _verify_raw_ecdsa(public, raw, data)


def test_decrypt_with_the_pin(rsa_key: PrivateKey, token: Token) -> None:
    public = token.get_key(label="tool-rsa", object_class=ObjectClass.PUBLIC_KEY)
    ciphertext = public.encrypt(b"for the always-auth key", Mechanism.RSA_PKCS)  # type: ignore[attr-defined]
    assert rsa_key.decrypt(ciphertext, Mechanism.RSA_PKCS, pin=SECRET_PIN) == b"for the always-auth key"
    assert rsa_key.decrypt(ciphertext, Mechanism.RSA_PKCS, pin=SECRET_PIN) == b"for the always-auth key"


def test_streamed_signature_logs_in_after_sign_init(rsa_key: PrivateKey) -> None:
    chunks = [b"part one, ", b"part two, ", b"part three"]
    signature = rsa_key.sign(iter(chunks), Mechanism.SHA256_RSA_PKCS, pin=SECRET_PIN)  # C_SignInit, login, Update...
    rsa_public = export_public_key(rsa_key)
    rsa_public.verify(signature, b"".join(chunks), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    with pytest.raises(errors.PinIncorrect):
        rsa_key.sign(iter(chunks), Mechanism.SHA256_RSA_PKCS, pin=WRONG_PIN)
    assert rsa_key.sign(iter(chunks), Mechanism.SHA256_RSA_PKCS, pin=SECRET_PIN) == signature  # PKCS#1 v1.5: the same


def test_async_forms_take_the_pin(ec_key: PrivateKey) -> None:
    async def main() -> tuple[bytes, list[bytes]]:
        one = await ec_key.sign_async(b"async", pin=SECRET_PIN)
        many = await ec_key.sign_many_async([b"x", b"y"], pin=SECRET_PIN)
        return one, many

    one, many = asyncio.run(main())
    public = _ec_public(ec_key)
    _verify_raw_ecdsa(public, one, b"async")
    _verify_raw_ecdsa(public, many[1], b"y")


def test_keys_of_an_explicit_session_take_the_pin_too(token: Token) -> None:
    with token.open(user_pin=SECRET_PIN) as session:
        key = session.get_key(label="tool-rsa", object_class=ObjectClass.PRIVATE_KEY)
        assert isinstance(key, PrivateKey)
        rsa_public = export_public_key(key)
        signature = key.sign(b"explicit", Mechanism.SHA256_RSA_PKCS, pin=SECRET_PIN)
        rsa_public.verify(signature, b"explicit", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        batch = key.sign_many([b"a", b"b"], Mechanism.SHA256_RSA_PKCS, pin=SECRET_PIN.encode())
        rsa_public.verify(batch[1], b"b", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        ciphertext = rsa_public.encrypt(b"secret", padding.PKCS1v15())  # type: ignore[union-attr]
        with pytest.raises(errors.PinIncorrect):
            key.decrypt(ciphertext, Mechanism.RSA_PKCS, pin=WRONG_PIN)
        # The refused PIN left no operation active: the same session decrypts at once.
        assert key.decrypt(ciphertext, Mechanism.RSA_PKCS, pin=SECRET_PIN) == b"secret"


def test_keygen_with_the_attribute_makes_keys_that_need_their_pin(token: Token) -> None:
    for kind in (KeyType.EC, KeyType.RSA):
        public, private = token.generate_keypair(kind, token=False, private_attrs={"always_authenticate": True})
        assert private.always_authenticate
        with pytest.raises(errors.ContextPinRequired):
            private.sign(b"generated")
        mechanism = Mechanism.SHA256_RSA_PKCS if kind == KeyType.RSA else None
        assert public.verify_ok(b"generated", private.sign(b"generated", mechanism, pin=SECRET_PIN), mechanism)


# -- wrong PINs -------------------------------------------------------------------------------------------------


def test_a_wrong_pin_raises_pin_incorrect_naming_the_key_and_never_the_pin(ec_key: PrivateKey, token: Token) -> None:
    opened = token.pool.opened
    with pytest.raises(errors.PinIncorrect) as caught:
        ec_key.sign(b"data", pin=WRONG_PIN)
    assert caught.value.function == "C_Login"
    assert "tool-ec" in str(caught.value) and "per-use PIN" in str(caught.value)
    assert WRONG_PIN not in str(caught.value) and WRONG_PIN not in repr(caught.value)
    # The operation was ended on the pooled session: the next signature runs on the same session.
    _verify_raw_ecdsa(_ec_public(ec_key), ec_key.sign(b"data", pin=SECRET_PIN), b"data")
    assert token.pool.opened == opened


@pytest.mark.parametrize("on_error", ["raise", "return"])
def test_a_wrong_pin_stops_a_batch_at_its_first_item(ec_key: PrivateKey, on_error: Any) -> None:
    with pytest.raises(errors.PinIncorrect) as caught:
        ec_key.sign_many([b"a", b"b", b"c"], pin=WRONG_PIN, on_error=on_error)
    assert getattr(caught.value, "index", None) == 0


def test_a_key_without_the_attribute_ignores_the_pin(token: Token) -> None:
    public, private = token.generate_keypair(KeyType.EC, token=False)
    assert private.always_authenticate is False
    called: list[int] = []

    def prompt() -> str:
        called.append(1)
        return "never asked"

    assert public.verify_ok(b"plain", private.sign(b"plain", pin=prompt))
    assert public.verify_ok(b"plain", private.sign_many([b"plain"], pin=WRONG_PIN)[0])
    assert called == []


# -- cryptography keys and p11.open ----------------------------------------------------------------------------


def _csr(key: Any) -> x509.CertificateSigningRequest:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "always-auth")])
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())


@pytest.mark.parametrize("label", ["tool-ec", "tool-rsa"])
def test_cryptography_key_with_a_pin_signs_a_csr(token: Token, label: str) -> None:
    key = token_key(_private(token, label), pin=SECRET_PIN)
    csr = _csr(key)
    assert csr.is_signature_valid
    same = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert csr.public_key().public_bytes(*same) == key.public_key().public_bytes(*same)
    assert SECRET_PIN not in repr(key)


def test_cryptography_rsa_key_decrypts_with_a_pin_callable(rsa_key: PrivateKey) -> None:
    key = token_key(rsa_key, pin=lambda: SECRET_PIN.encode())
    ciphertext = key.public_key().encrypt(b"oaep", padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    assert key.decrypt(ciphertext, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)) == b"oaep"
    ciphertext = key.public_key().encrypt(b"v1.5", padding.PKCS1v15())
    assert key.decrypt(ciphertext, padding.PKCS1v15()) == b"v1.5"


def test_p11_open_gives_the_context_pin_to_the_cryptography_key(softhsm: SoftHSM, token: Token) -> None:
    uri = f"pkcs11:token={quote(token.label)};object=tool-ec;type=private?module-path={quote(softhsm.module_path)}"
    key = p11.open(uri, pin=SECRET_PIN, context_pin=SECRET_PIN)
    csr = _csr(key)
    assert csr.is_signature_valid
    without = p11.open(uri, pin=SECRET_PIN)
    with pytest.raises(errors.ContextPinRequired):
        _csr(without)
    digest = hashlib.sha256(b"x").digest()
    signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    key.public_key().verify(signature, b"x", ec.ECDSA(hashes.SHA256()))


# -- what reaches the token (counted by the fault-injecting shim around SoftHSM) ---------------------------------


def _always_auth_key(faulty: Faulty) -> tuple[Any, PrivateKey]:
    public, private = faulty.token.generate_keypair(
        KeyType.EC, label="per-use", private_attrs={"always_authenticate": True}
    )
    return public, private


def test_a_batch_logs_in_once_per_item_and_a_refused_pin_once_in_all(faulty: Faulty) -> None:
    public, private = _always_auth_key(faulty)
    faulty.shim.configure("")  # counts from here
    signatures = private.sign_many([b"m%d" % i for i in range(10)], pin=SECRET_PIN, workers=3)
    assert faulty.shim.calls("C_Login") == 10
    assert public.verify_many([b"m%d" % i for i in range(10)], signatures) == [True] * 10
    faulty.shim.configure("")
    with pytest.raises(errors.PinIncorrect):
        private.sign_many([b"m%d" % i for i in range(10)], pin=WRONG_PIN, workers=3, on_error="return")
    assert faulty.shim.calls("C_Login") == 1  # never offered again: a card would count each try
    assert faulty.shim.calls("C_Sign") == 1  # ... and the one operation was ended


def test_without_a_pin_no_operation_reaches_the_token(faulty: Faulty) -> None:
    _, private = _always_auth_key(faulty)
    faulty.shim.configure("")
    with pytest.raises(errors.ContextPinRequired):
        private.sign(b"data")
    assert faulty.shim.calls("C_SignInit") == faulty.shim.calls("C_Login") == faulty.shim.calls("C_Sign") == 0


def test_the_pool_recovers_a_session_a_refused_pin_left_active(faulty: Faulty) -> None:
    public, private = _always_auth_key(faulty)
    # The call that ends the refused operation answers CKR_BUFFER_TOO_SMALL: the operation stays active.
    with faulty.shim.faults("C_Sign buffer_too_small nth=1"):
        with pytest.raises(errors.PinIncorrect):
            private.sign(b"data", pin=WRONG_PIN)
        assert faulty.shim.injected("C_Sign") == 1
        signature = private.sign(b"data", pin=SECRET_PIN)
        # Its C_SignInit met CKR_OPERATION_ACTIVE: the pool opened a replacement and signed there.
        assert faulty.shim.calls("C_SignInit") == 3
        assert faulty.shim.calls("C_OpenSession") == 1
    assert public.verify_ok(b"data", signature)
