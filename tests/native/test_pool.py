"""``p11._native.SessionPool`` against SoftHSM: bounds and waiting, dead sessions, re-login, fork, close, asyncio,
parallel batches.

Each test gets its own token (login state belongs to the application and token, and these tests log out, close
all sessions and fork), with a private HMAC key and an EC key pair stored as token objects, so they outlive every
session the tests close. Its PIN is distinctive (SECRET_PIN), so a leak into a message or repr would be noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from p11 import _native, errors, lowlevel
from p11._cffi import lib
from p11.testing import SoftHSM
from tests.support import HMAC_VALUE, SECRET_PIN, mac, unique_label

HMAC = lib.CKM_SHA256_HMAC
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")


@dataclass(frozen=True)
class Token:
    """A fresh token with a private HMAC key (label ``hmac``) and an EC pair (``ec-public``, ``ec-private``).

    SoftHSM drops every object handle of a slot when its last session closes, and the private ones at logout (the
    specification allows handles to change then), so tests look handles up with :meth:`key` while the pool holds a
    logged-in session, instead of keeping the ones from the setup.
    """

    module: lowlevel.Module
    slot: int

    def key(self, label: str, slot: int | None = None) -> int:
        session = self.module.C_OpenSession(self.slot if slot is None else slot, lib.CKF_SERIAL_SESSION)
        try:
            self.module.C_FindObjectsInit(session, {lib.CKA_LABEL: label})
            found = self.module.C_FindObjects(session, 2)
            self.module.C_FindObjectsFinal(session)
        finally:
            self.module.C_CloseSession(session)
        assert len(found) == 1, f"{label!r}: {found}"
        return found[0]

    def anchor(self) -> int:
        """A session of the test's own: keeps the slot's object handles (and login) alive while it is open."""
        return self.module.C_OpenSession(self.slot, lib.CKF_SERIAL_SESSION)


@pytest.fixture
def token(module: lowlevel.Module, softhsm: SoftHSM) -> Iterator[Token]:
    spec = softhsm.add_token(unique_label("pool"), user_pin=SECRET_PIN)
    slot = softhsm.slot_of(spec.label)
    session = module.C_OpenSession(slot, lib.CKF_RW_SESSION)
    module.C_Login(session, lib.CKU_USER, SECRET_PIN)
    module.C_CreateObject(
        session,
        {
            lib.CKA_CLASS: lib.CKO_SECRET_KEY,
            lib.CKA_KEY_TYPE: lib.CKK_GENERIC_SECRET,
            lib.CKA_TOKEN: True,
            lib.CKA_PRIVATE: True,
            lib.CKA_LABEL: "hmac",
            lib.CKA_VALUE: HMAC_VALUE,
            lib.CKA_SIGN: True,
            lib.CKA_VERIFY: True,
        },
    )
    module.C_GenerateKeyPair(
        session,
        lib.CKM_EC_KEY_PAIR_GEN,
        {lib.CKA_TOKEN: True, lib.CKA_LABEL: "ec-public", lib.CKA_EC_PARAMS: P256_PARAMS, lib.CKA_VERIFY: True},
        {lib.CKA_TOKEN: True, lib.CKA_LABEL: "ec-private", lib.CKA_PRIVATE: True, lib.CKA_SIGN: True},
    )
    module.C_CloseSession(session)  # the last session of the token: logged out again
    yield Token(module, slot)
    with contextlib.suppress(errors.CryptokiError):
        module.C_CloseAllSessions(slot)


def logged_in(token: Token, **options: object) -> tuple[_native.SessionPool, int]:
    """A pool that logged in with the user PIN (its first session is open), and the HMAC key's handle."""
    pool = _native.SessionPool(token.module, token.slot, user_pin=SECRET_PIN, **options)
    pool.generate_random(1)
    return pool, token.key("hmac")


def session_valid(module: lowlevel.Module, handle: int, slot: int) -> bool:
    try:
        return module.C_GetSessionInfo(handle).slot_id == slot
    except errors.SessionError:
        return False


def wait_until(condition, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# -- construction and bounds --------------------------------------------------------------------------------------


def test_default_bound_and_configuration(token: Token) -> None:
    info = token.module.C_GetTokenInfo(token.slot)
    with _native.SessionPool(token.module, token.slot) as pool:
        # SoftHSM reports no session limit (CK_EFFECTIVELY_INFINITE): the default cap applies.
        assert info.max_session_count in (0, None)
        assert pool.max_size == _native.DEFAULT_POOL_SIZE == 8
        assert pool.size == pool.in_use == 0  # lazy: nothing opened yet
        assert pool.rw and not pool.closed
    with _native.SessionPool(token.module.gate_address, token.slot, max_size=3, rw=False) as pool:
        assert pool.max_size == 3 and not pool.rw
        with pool.session() as handle:
            assert not token.module.C_GetSessionInfo(handle).flags & lib.CKF_RW_SESSION
    with pytest.raises(ValueError, match="max_size"):
        _native.SessionPool(token.module, token.slot, max_size=0)
    with pytest.raises(errors.SlotIdInvalid):
        _native.SessionPool(token.module, 0xBAD5107)


def test_sessions_are_opened_lazily_and_reused(token: Token) -> None:
    pool = _native.SessionPool(token.module, token.slot, user_pin=SECRET_PIN)
    assert pool.size == pool.opened == 0
    pool.generate_random(1)
    key = token.key("hmac")  # visible: the pool logged in
    with pool:
        for i in range(20):
            assert pool.sign(HMAC, key, b"%d" % i, 32) == mac(b"%d" % i)
        assert pool.size == pool.opened == 1 and pool.in_use == 0 and pool.idle == 1


def test_borrowers_beyond_the_bound_wait_then_proceed(token: Token) -> None:
    pool, key = logged_in(token, max_size=2)
    held = [pool.borrow(), pool.borrow()]
    results: dict[int, bytes] = {}
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with pool.session() as handle:
                results[i] = _native.sign(token.module.gate_address, handle, HMAC, key, b"w", 32)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: pool.waiting == 3, "three borrowers to block")
    assert not results and pool.size == pool.in_use == 2  # nobody got a third session
    for handle in held:
        pool.give_back(handle)
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    assert not failures
    assert results == {0: mac(b"w"), 1: mac(b"w"), 2: mac(b"w")}
    assert pool.opened == 2 and pool.size == 2 and pool.waiting == 0
    pool.close()


def test_borrow_timeout_raises_pool_timeout(token: Token) -> None:
    with _native.SessionPool(token.module, token.slot, max_size=1) as pool:
        handle = pool.borrow()
        with pytest.raises(_native.PoolTimeout, match="max_size=1") as caught:
            pool.borrow(timeout=0.05)
        assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, errors.P11Error)
        assert pool.waiting == 0
        pool.give_back(handle)
        assert pool.borrow(timeout=0.05) == handle  # the same session, reused
        pool.give_back(handle)


def test_pool_never_holds_more_sessions_than_its_bound(token: Token) -> None:
    pool, key = logged_in(token, max_size=3)
    seen: list[int] = []
    errors_seen: list[BaseException] = []

    def hammer() -> None:
        try:
            for i in range(100):
                assert pool.sign(HMAC, key, b"%d" % i, 32) == mac(b"%d" % i)
                seen.append(pool.size)
        except BaseException as exc:
            errors_seen.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors_seen
    assert max(seen) <= 3 and pool.opened <= 3 and pool.size <= 3
    pool.close()


def test_give_back_of_a_foreign_handle_raises(token: Token) -> None:
    with _native.SessionPool(token.module, token.slot) as pool:
        other = token.module.C_OpenSession(token.slot, lib.CKF_RW_SESSION)
        with pytest.raises(ValueError, match="not borrowed from this pool"):
            pool.give_back(other)
        token.module.C_CloseSession(other)


# -- dead sessions, login ------------------------------------------------------------------------------------------


def test_dead_session_is_replaced_and_not_handed_out_again(token: Token) -> None:
    module = token.module
    pool, key = logged_in(token, keep_pin=True)
    anchor = token.anchor()  # keeps the key handle valid while the pool's sessions die
    with pool:
        # Two idle sessions, then both closed behind the pool's back.
        first, second = pool.borrow(), pool.borrow()
        pool.give_back(first)
        pool.give_back(second)
        module.C_CloseSession(first)
        module.C_CloseSession(second)
        assert pool.sign(HMAC, key, b"after", 32) == mac(b"after")
        assert pool.verify(HMAC, key, b"after", mac(b"after"))
        assert pool.opened == 3  # one replacement; the other dead handle was swept, not retried
        assert pool.size == 1 and pool.in_use == 0
        for handle in pool.idle_handles():
            assert session_valid(module, handle, token.slot)
    module.C_CloseSession(anchor)


def test_dead_session_in_context_manager_is_discarded(token: Token) -> None:
    module = token.module
    with _native.SessionPool(module, token.slot) as pool:
        with pytest.raises(errors.SessionHandleInvalid), pool.session() as handle:
            module.C_CloseSession(handle)
            _native.generate_random(module.gate_address, handle, 8)
        assert pool.size == 0 and pool.in_use == 0 and pool.idle_handles() == ()


def test_relogin_with_kept_pin_after_close_all_sessions(token: Token) -> None:
    module = token.module
    pool, key = logged_in(token, keep_pin=True)
    with pool:
        assert pool.sign(HMAC, key, b"one", 32) == mac(b"one")
        module.C_CloseAllSessions(token.slot)  # every session gone, and the token logged out
        assert len(pool.generate_random(4)) == 4  # the dead session is replaced; the new one logs in again
        probe = token.anchor()
        assert module.C_GetSessionInfo(probe).state == lib.CKS_RO_USER_FUNCTIONS  # logged in, by the pool
        module.C_CloseSession(probe)
        key = token.key("hmac")  # SoftHSM gave the key a new handle when the last session closed
        assert pool.sign(HMAC, key, b"two", 32) == mac(b"two")
        assert pool.keeps_pin and pool.opened == 2


def test_relogin_with_kept_pin_after_logout_behind_the_pools_back(token: Token) -> None:
    module = token.module
    pool, key = logged_in(token, keep_pin=True)
    with pool:
        other = module.C_OpenSession(token.slot, lib.CKF_SERIAL_SESSION)
        module.C_Logout(other)  # login state is per token: the pool's session is logged out too
        assert module.C_GetSessionInfo(other).state == lib.CKS_RO_PUBLIC_SESSION
        # SoftHSM drops the handles of private objects at logout: the old handle stays invalid, but the pool
        # noticed the lost login and logged in again (no session was replaced).
        with pytest.raises(errors.ObjectHandleError):
            pool.sign(HMAC, key, b"one", 32)
        assert module.C_GetSessionInfo(other).state == lib.CKS_RO_USER_FUNCTIONS
        module.C_CloseSession(other)
        assert pool.sign(HMAC, token.key("hmac"), b"two", 32) == mac(b"two")
        assert pool.opened == 1


def test_without_keep_pin_the_pool_cannot_log_in_again(token: Token) -> None:
    module = token.module
    pool, key = logged_in(token)
    with pool:
        assert pool.sign(HMAC, key, b"one", 32) == mac(b"one")
        assert not pool.keeps_pin  # used once, then wiped
        module.C_CloseAllSessions(token.slot)
        assert len(pool.generate_random(4)) == 4  # a new session, not logged in
        probe = token.anchor()
        assert module.C_GetSessionInfo(probe).state == lib.CKS_RO_PUBLIC_SESSION
        module.C_CloseSession(probe)


def test_rejected_pin_is_never_tried_again(token: Token) -> None:
    module = token.module
    wrong = "wr0ng-p1n"
    pool = _native.SessionPool(module, token.slot, user_pin=wrong, keep_pin=True)
    with pytest.raises(errors.PinIncorrect) as caught:
        pool.generate_random(1)
    assert wrong not in str(caught.value) and wrong not in repr(pool)
    assert not pool.keeps_pin and pool.size == 0
    before = module.C_GetTokenInfo(token.slot).flags
    assert before & lib.CKF_USER_PIN_COUNT_LOW  # the one failure counted
    for _ in range(20):  # no further C_Login with the rejected PIN: this would lock the PIN otherwise
        pool.generate_random(1)
    after = module.C_GetTokenInfo(token.slot).flags
    assert not after & (lib.CKF_USER_PIN_FINAL_TRY | lib.CKF_USER_PIN_LOCKED)
    pool.close()


def test_pin_never_appears_in_repr(token: Token) -> None:
    pool, _ = logged_in(token, keep_pin=True)
    with pool:
        assert SECRET_PIN not in repr(pool) and "pin" not in repr(pool).lower()


# -- close, fork ---------------------------------------------------------------------------------------------------


def test_close_returns_the_tokens_session_count_to_baseline(token: Token) -> None:
    module = token.module
    baseline = module.C_GetTokenInfo(token.slot).session_count
    pool = _native.SessionPool(module, token.slot, max_size=4, user_pin=SECRET_PIN)
    handles = [pool.borrow() for _ in range(4)]
    assert len(set(handles)) == 4
    for h in handles[:3]:
        pool.give_back(h)
    pool.close()
    assert pool.closed and pool.size == 1  # the borrowed one closes when it comes back
    with pytest.raises(_native.PoolClosed):
        pool.borrow()
    pool.give_back(handles[3])
    assert pool.size == 0
    for h in handles:
        assert not session_valid(module, h, token.slot)
    count = module.C_GetTokenInfo(token.slot).session_count
    if count is not None:  # SoftHSM does not report it (CK_UNAVAILABLE_INFORMATION); the handles tell instead
        assert count == baseline
    pool.close()  # a second close is harmless


def test_close_wakes_waiters_with_pool_closed(token: Token) -> None:
    pool = _native.SessionPool(token.module, token.slot, max_size=1)
    handle = pool.borrow()
    outcome: list[BaseException] = []

    def waiter() -> None:
        try:
            pool.borrow()
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    wait_until(lambda: pool.waiting == 1, "the waiter to block")
    pool.close()
    t.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], _native.PoolClosed)
    pool.give_back(handle)
    assert pool.size == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_gets_a_fresh_pool_and_parent_is_untouched(token: Token) -> None:
    module = token.module
    pool, key = logged_in(token, keep_pin=True)
    assert pool.sign(HMAC, key, b"parent", 32) == mac(b"parent")
    parent_handles = pool.idle_handles()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            if pool.size == 0 and pool.idle_handles() == () and pool.opened == 1:
                code = 2
                pool.generate_random(1)  # the child's own session, logged in with the kept PIN
                # The module was initialised afresh in the child: SoftHSM numbers slots and handles anew.
                child_key = token.key("hmac", pool.slot_id)
                if pool.sign(HMAC, child_key, b"child", 32) == mac(b"child"):
                    code = 3
                    if pool.size == 1 and pool.opened == 2:
                        code = 0
            pool.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child failed at step {os.WEXITSTATUS(status)}"
    # The parent's pool: the same sessions, still valid, still logged in, nothing new opened.
    assert pool.idle_handles() == parent_handles
    for handle in parent_handles:
        assert session_valid(module, handle, token.slot)
    assert pool.sign(HMAC, key, b"parent again", 32) == mac(b"parent again")
    assert pool.opened == 1
    pool.close()


# -- pooled batches ------------------------------------------------------------------------------------------------


def test_parallel_batches_preserve_input_order(token: Token) -> None:
    messages = [b"item %d" % i * (1 + i % 7) for i in range(200)]
    expected = [mac(m) for m in messages]
    pool, key = logged_in(token, max_size=4)
    with pool:
        assert pool.sign_many(HMAC, key, messages, 32, workers=4) == expected
        assert pool.opened <= 4
        assert pool.sign_many(HMAC, key, messages, workers=None) == expected
        assert pool.sign_many(HMAC, key, messages[:3], 32, workers=8) == expected[:3]
        signatures = list(expected)
        signatures[150] = bytes(32)
        verdicts = pool.verify_many(HMAC, key, messages, signatures, workers=3)
        assert verdicts == [i != 150 for i in range(200)]
        pairs = pool.encrypt_many(key, [], workers=2)
        assert pairs == []
        with pytest.raises(ValueError, match="workers"):
            pool.sign_many(HMAC, key, messages, workers=0)


def test_parallel_batch_failing_item_names_the_index(token: Token) -> None:
    messages = [b"m%d" % i for i in range(40)]
    signatures = [mac(m) for m in messages]
    pool, key = logged_in(token, max_size=4)
    ec_public = token.key("ec-public")
    with pool:
        # A public EC key cannot sign: every item fails at C_SignInit; raise mode reports the first index.
        with pytest.raises(errors.CryptokiError) as caught:
            pool.sign_many(HMAC, ec_public, messages, 32, workers=4)
        assert caught.value.index == 0 and caught.value.function == "C_SignInit"
        results = pool.sign_many(HMAC, ec_public, messages, 32, workers=4, on_error="return")
        assert [r.index for r in results] == list(range(40))
        assert all(type(r) is type(caught.value) for r in results)
        # A bad signature in the third chunk is just False; the rest verify.
        signatures[25] = bytes(32)
        assert pool.verify_many(HMAC, key, messages, signatures, workers=4) == [i != 25 for i in range(40)]
        assert pool.in_use == 0


def test_batch_resumes_on_a_new_session_when_its_session_dies(token: Token) -> None:
    module = token.module
    messages = [b"m%d" % i for i in range(30)]
    pool, key = logged_in(token, keep_pin=True)
    anchor = token.anchor()
    with pool:
        (idle,) = pool.idle_handles()
        module.C_CloseSession(idle)
        assert pool.sign_many(HMAC, key, messages, 32) == [mac(m) for m in messages]
        assert pool.opened == 2
    module.C_CloseSession(anchor)


# -- asyncio -------------------------------------------------------------------------------------------------------


def test_thousand_concurrent_awaits_on_a_small_pool_all_verify(token: Token) -> None:
    messages = [b"async %d" % i for i in range(1000)]
    pool, key = logged_in(token, max_size=2)
    with pool:

        async def main() -> list[bool]:
            signatures = await asyncio.gather(*(pool.sign_async(HMAC, key, m, 32) for m in messages))
            return await asyncio.gather(
                *(pool.verify_async(HMAC, key, m, s) for m, s in zip(messages, signatures, strict=True))
            )

        verdicts = asyncio.run(main())
        assert verdicts == [True] * 1000
        assert pool.opened <= 2 and pool.in_use == 0

        async def batch() -> list[bytes]:
            return await pool.sign_many_async(HMAC, key, messages[:10], 32)

        assert asyncio.run(batch()) == [mac(m) for m in messages[:10]]


# -- pooled attribute reads and parallel batches after fork ---------------------------------------------------------


def test_pooled_attribute_read_survives_a_dead_session(token: Token) -> None:
    module = token.module
    pool, key = logged_in(token, keep_pin=True)
    anchor = token.anchor()  # keeps the key handle valid while the pool's session dies
    with pool:
        wanted = [lib.CKA_LABEL, lib.CKA_KEY_TYPE, lib.CKA_SIGN]
        before = pool.get_attributes(key, wanted)
        assert before == {lib.CKA_LABEL: "hmac", lib.CKA_KEY_TYPE: lib.CKK_GENERIC_SECRET, lib.CKA_SIGN: True}
        (idle,) = pool.idle_handles()
        module.C_CloseSession(idle)  # behind the pool's back
        assert pool.get_attributes(key, wanted) == before  # retried once on a fresh session
        assert pool.opened == 2 and idle not in pool.idle_handles()
    module.C_CloseSession(anchor)


def test_fork_child_runs_a_two_worker_batch(token: Token) -> None:
    messages = [b"forked %d" % i for i in range(100)]
    pool, key = logged_in(token, keep_pin=True, max_size=2)
    assert pool.sign_many(HMAC, key, messages, 32, workers=2) == [mac(m) for m in messages]  # workers started here
    pid = os.fork()
    if pid == 0:  # the child: the parent's worker threads do not exist here; new ones must be started
        code = 1
        try:
            pool.generate_random(1)
            child_key = token.key("hmac", pool.slot_id)
            if pool.sign_many(HMAC, child_key, messages, 32, workers=2) == [mac(m) for m in messages]:
                code = 0
            pool.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the forked child's two-worker batch failed"
    assert pool.sign_many(HMAC, key, messages, 32, workers=2) == [mac(m) for m in messages]
    pool.close()
