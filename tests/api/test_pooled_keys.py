"""Keys used without an explicit session: ``token.login(pin)``, ``token.get_key(...)``, ``key.sign(...)`` from any
thread, each call on a session borrowed from the token's pool; explicit sessions keep their keys; the one-crossing
fast path keeps the checks of the full path; closing the library closes the pools.

Each test gets a token of its own (login state belongs to the application and token, and a pool keeps the token
logged in for as long as it holds a session), with an HMAC key of known value, an EC pair and an AES key.
"""

from __future__ import annotations

import hashlib
import os
import textwrap
import threading
from collections.abc import Iterator

import pytest

import p11
from p11 import errors
from p11.api.objects import PrivateKey, PublicKey, SecretKey
from p11.api.session import PooledSession
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass
from p11.mechanisms import CBC, GCM
from p11.testing import SoftHSM
from tests.support import SECRET_PIN, WRONG_PIN, TokenKeys, mac, python, token_with_keys, unique_label


@pytest.fixture
def keys(softhsm: SoftHSM) -> Iterator[TokenKeys]:
    """A token of the test's own (its PIN distinctive, so a leak into a message or repr would be noticed), its
    pool logged in, with token-object keys."""
    with token_with_keys(softhsm, "pooled", pin=SECRET_PIN) as made:
        yield made


def test_login_then_keys_sign_with_no_session_in_sight(keys: TokenKeys) -> None:
    token = keys.token
    key = token.get_key(label="hmac")
    assert isinstance(key, SecretKey) and isinstance(key.session, PooledSession)
    for data in (b"first", b"second", b"first"):  # the first call plans, the next ones take the fast path
        assert key.sign(data) == mac(data)
        key.verify(data, mac(data))
    assert key.sign(b"x", Mechanism.SHA256_HMAC) == mac(b"x")
    with pytest.raises(errors.SignatureInvalid):
        key.verify(b"x", mac(b"y"))
    assert key.verify_ok(b"x", mac(b"x")) and not key.verify_ok(b"x", mac(b"y"))
    assert token.pool.in_use == 0 and 1 <= token.pool.size <= token.pool.max_size
    assert token.logged_in == p11.UserType.USER


def test_pooled_key_operations_from_several_threads(keys: TokenKeys) -> None:
    private = keys.token.get_key(label="ec", object_class=ObjectClass.PRIVATE_KEY)
    public = keys.token.get_key(label="ec", object_class=ObjectClass.PUBLIC_KEY)
    secret = keys.token.get_key(label="hmac")
    failures: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(60):
                data = b"thread %d message %d" % (n, i)
                assert secret.sign(data) == mac(data)
                signature = private.sign(data, Mechanism.ECDSA_SHA256)
                public.verify(data, signature, Mechanism.ECDSA_SHA256)
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    pool = keys.token.pool
    assert pool.in_use == 0 and pool.size <= pool.max_size


def test_wrong_pin_raises_and_the_right_one_then_works(softhsm: SoftHSM) -> None:
    spec = softhsm.add_token(unique_label("pooled"), user_pin=SECRET_PIN)
    token = p11.load(softhsm.module_path).get_token(label=spec.label)
    try:
        with pytest.raises(errors.PinIncorrect) as info:
            token.login(WRONG_PIN)
        assert WRONG_PIN not in str(info.value) and WRONG_PIN not in repr(info.value)
        token.login(SECRET_PIN, max_size=2, keep_pin=True)
        assert token.pool.max_size == 2 and token.pool.keeps_pin
        assert SECRET_PIN not in repr(token.pool)
        with pytest.raises(RuntimeError, match="before first use"):
            token.configure_pool(max_size=4)
        assert len(token.generate_random(16)) == 16
    finally:
        token.close_pool()


def test_explicit_sessions_keep_their_keys(keys: TokenKeys) -> None:
    pool = keys.token.pool
    opened = pool.opened
    with keys.token.open() as session:
        key = session.get_key(label="hmac")
        assert key.session is session
        assert [key.sign(b"m%d" % i) for i in range(3)] == [mac(b"m%d" % i) for i in range(3)]
        assert key.sign_many([b"a", b"b"]) == [mac(b"a"), mac(b"b")]
    assert pool.opened == opened and pool.in_use == 0  # nothing went through the pool
    with pytest.raises(errors.SessionClosed):
        key.sign(b"after close")  # the cached fast path too: the closed session's handle is 0


def test_session_objects_stay_on_their_session(keys: TokenKeys) -> None:
    with keys.token.open(rw=True) as session:
        ephemeral = session.generate_key(KeyType.GENERIC_SECRET, token=False, label="ephemeral")
        assert ephemeral.session is session
        first = ephemeral.sign(b"data")
        assert ephemeral.sign(b"data") == first and len(first) == 32
    with pytest.raises(errors.SessionClosed):
        ephemeral.sign(b"data")
    with pytest.raises(errors.NoSuchObject):
        keys.token.get_key(label="ephemeral")  # gone with its session


def test_fast_path_keeps_the_checks_of_the_full_path(keys: TokenKeys) -> None:
    key = keys.hmac
    assert key.sign(b"warm") == mac(b"warm")  # the fast path is installed for the default mechanism
    with pytest.raises(TypeError, match="str"):
        key.sign("text")  # type: ignore[arg-type]
    assert key.sign([b"str", b"eamed"]) == mac(b"streamed")  # a stream still streams
    assert key.sign(bytearray(b"warm")) == mac(b"warm") and key.sign(memoryview(b"warm")) == mac(b"warm")
    with pytest.raises(errors.MechanismNotSupported):
        key.sign(b"x", Mechanism.SHA3_256_HMAC)
    with pytest.raises(errors.KeyTypeInconsistent):
        key.sign(b"x", Mechanism.ECDSA)
    with pytest.raises(errors.KeyTypeInconsistent):
        key.sign_many([b"x"], Mechanism.ECDSA)
    no_sign = keys.token.generate_key(KeyType.GENERIC_SECRET, token=False, sign=False, verify=True)
    for _ in range(2):  # the failure is not cached as a success
        with pytest.raises(errors.KeyCapabilityError):
            no_sign.sign(b"x")
    with pytest.raises(errors.KeyCapabilityError) as info:
        no_sign.sign_many([b"x", b"y"])
    assert info.value.index == 0  # type: ignore[attr-defined]


def test_ecdsa_with_hash_hashed_in_software_signs_and_verifies(keys: TokenKeys) -> None:
    if keys.token.supports(Mechanism.ECDSA_SHA256):
        pytest.skip("the token has CKM_ECDSA_SHA256 itself")
    private, public = keys.ec_private, keys.ec_public
    for i in range(3):
        data = b"message %d" % i
        signature = private.sign(data)  # default ECDSA_SHA256: SHA-256 in Python, CKM_ECDSA on the token
        assert len(signature) == 64
        public.verify(data, signature)
        assert public.verify_ok(hashlib.sha256(data).digest(), signature, Mechanism.ECDSA)
        assert not public.verify_ok(data + b"!", signature)


def test_get_attributes_names_and_members(keys: TokenKeys) -> None:
    key = keys.token.get_key(label="ec", object_class=ObjectClass.PUBLIC_KEY)
    attrs = key.get_attributes([Attribute.LABEL, "key_type", Attribute.VERIFY])
    assert attrs == {Attribute.LABEL: "ec", Attribute.KEY_TYPE: KeyType.EC, Attribute.VERIFY: True}
    assert all(isinstance(k, Attribute) for k in attrs)
    assert key.get_attributes(iter([Attribute.LABEL])) == {Attribute.LABEL: "ec"}
    with pytest.raises(ValueError, match="colour"):
        key.get_attributes(["colour"])
    assert key["label"] == "ec" and key.key_type == KeyType.EC


def test_token_conveniences_use_the_pool(keys: TokenKeys) -> None:
    token = keys.token
    found = list(token.find(label="ec"))
    assert {type(o) for o in found} == {PublicKey, PrivateKey}
    assert all(isinstance(o.session, PooledSession) for o in found)
    assert token.get_object(label="aes") == keys.aes
    assert len(token.generate_random(32)) == 32
    assert token.digest(b"abc") == hashlib.sha256(b"abc").digest()
    iv = token.generate_random(12)
    ciphertext = keys.aes.encrypt(b"secret", GCM(iv))
    assert keys.aes.decrypt(ciphertext, GCM(iv)) == b"secret"
    iv16 = token.generate_random(16)
    pieces = keys.aes.encrypt_stream([b"a" * 20, b"b" * 30], CBC(iv16))  # a pooled session held across yields
    assert keys.aes.decrypt(b"".join(pieces), CBC(iv16)) == b"a" * 20 + b"b" * 30
    assert token.pool.in_use == 0


def test_close_pool_closes_its_sessions(keys: TokenKeys) -> None:
    token = keys.token
    module = token.library.module
    pool = token.pool
    held = [pool.borrow() for _ in range(3)]
    for handle in held:
        pool.give_back(handle)
    handles = pool.idle_handles()
    assert set(held) <= set(handles)
    token.close_pool()
    assert pool.closed and pool.size == 0
    for handle in handles:
        with pytest.raises(errors.SessionHandleInvalid):
            module.C_GetSessionInfo(handle)
    with pytest.raises(errors.PoolClosed):
        keys.hmac.sign(b"x")  # bound to the closed pool
    token.login(SECRET_PIN)  # a new pool
    assert token.get_key(label="hmac").sign(b"x") == mac(b"x")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_pooled_key_signs_in_a_fork_child(keys: TokenKeys) -> None:
    token = keys.token
    token.login(SECRET_PIN, keep_pin=True)  # the child's pool logs in again with the kept PIN
    assert keys.hmac.sign(b"parent") == mac(b"parent")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # Handles change with the child's re-initialisation: find the key again, through the pool.
            if token.get_key(label="hmac").sign(b"child") == mac(b"child"):
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert keys.hmac.sign(b"parent again") == mac(b"parent again")


def test_library_close_closes_the_pools(softhsm: SoftHSM) -> None:
    # In a child process: closing the session-wide library here would end every other test's sessions.
    spec = softhsm.add_token(unique_label("pooled"), user_pin=SECRET_PIN)
    code = textwrap.dedent(
        f"""
        import p11
        from p11 import errors
        from p11.constants import KeyType

        library = p11.load({softhsm.module_path!r})
        token = library.get_token(label={spec.label!r})
        baseline = library.module.C_GetTokenInfo(token.slot.id).session_count
        token.login({SECRET_PIN!r}, max_size=3)
        key = token.generate_key(KeyType.GENERIC_SECRET, token=False)
        signatures = [key.sign(b"m%d" % i) for i in range(10)]
        pool = token.pool
        held = [pool.borrow() for _ in range(3)]
        for h in held:
            pool.give_back(h)
        assert pool.size == 3
        with token.open() as session:
            assert session.generate_random(4)
        count = library.module.C_GetTokenInfo(token.slot.id).session_count
        if baseline is not None:  # SoftHSM does not report it (CK_UNAVAILABLE_INFORMATION)
            assert count == baseline + 3, (count, baseline)
        library.close()
        assert pool.closed and pool.size == 0 and pool.in_use == 0
        try:
            key.sign(b"after")
        except errors.StaleObject as exc:  # the key's library was closed: it says so
            assert "library was closed" in str(exc)
        else:
            raise SystemExit("a pooled key signed after the library was closed")
        print("ok")
        """
    )
    proc = python(code, env=softhsm.env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
