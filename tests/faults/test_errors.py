"""Errors a real HSM returns and SoftHSM never does, injected by the fault shim (``native/faultmod``) in front of
SoftHSM: each surfaces as its own ``p11.errors`` class; the pool discards dead sessions, replaces them and logs in
again; a batch with ``on_error="return"`` keeps the good items; no session is left open (checked by the fixture).

Session errors are injected with ``kill``: the shim makes them true first (closes the session, logs the token out,
closes all of the slot's sessions), since a pool must never close a handle the module called invalid.
"""

from __future__ import annotations

import pytest

from p11 import errors
from p11._cffi import lib
from p11.constants import Mechanism
from p11.mechanisms import GCM
from tests.support import SECRET_PIN, Faulty, mac

MECH = Mechanism.SHA256_HMAC

# Errors that say the session is gone (the pool replaces it and retries once), with how each is injected: made true
# where that leaves SoftHSM's object handles valid (the fixture's explicit session keeps the token's login). A real
# logout or the loss of every session makes SoftHSM drop its object handles: see the tests further down.
SESSION_GONE = {
    "SESSION_HANDLE_INVALID": "kill",
    "SESSION_CLOSED": "kill",
    "USER_NOT_LOGGED_IN": "",
    "OPERATION_ACTIVE": "",
}
ALL_SLOT = ["DEVICE_REMOVED", "TOKEN_NOT_PRESENT"]  # made true by closing every session of the slot


def rv(name: str) -> int:
    return int(getattr(lib, f"CKR_{name}"))


@pytest.mark.parametrize("name", ["DEVICE_ERROR", "PIN_LOCKED", *SESSION_GONE])
def test_persistent_error_raises_its_class(faulty: Faulty, name: str) -> None:
    """Every call failing: the error raised is the class of that CKR_ value, naming the function, after at most
    one retry (bounded: the shim counts the calls); the key works again once the fault is gone."""
    with faulty.shim.faults(f"C_Sign error={name} {SESSION_GONE.get(name, '')}"):
        with pytest.raises(errors.error_class(rv(name))) as info:
            faulty.hmac.sign(b"m", MECH)
        assert 1 <= faulty.shim.calls("C_Sign") <= 2
    assert info.value.rv == rv(name)
    assert info.value.function == "C_Sign"
    assert faulty.hmac.sign(b"m", MECH) == mac(b"m")


@pytest.mark.parametrize("name", ALL_SLOT)
def test_persistent_device_loss_raises_and_the_token_comes_back(faulty: Faulty, name: str) -> None:
    """Every session of the slot closed at each call (idle ones, the explicit one): the call fails with the
    device's error, or (today, on SoftHSM) with ObjectHandleInvalid from the retry, because SoftHSM renumbers its
    handles once all sessions are gone and the key does not find itself again yet (issue 10: stale objects).
    Never a hang or a crash; keys found again work, on new sessions logged in again."""
    with faulty.shim.faults(f"C_Sign error={name} kill"):
        with pytest.raises((errors.error_class(rv(name)), errors.ObjectHandleInvalid)):
            faulty.hmac.sign(b"m", MECH)
        assert 1 <= faulty.shim.calls("C_Sign") <= 2
    key = faulty.token.get_key(label="hmac")
    assert key.sign(b"m", MECH) == mac(b"m")


@pytest.mark.parametrize("name", SESSION_GONE)
def test_dead_session_is_replaced_and_the_call_retried(faulty: Faulty, name: str) -> None:
    """The failure reported once: the pool drops the session, takes another and the call succeeds; so do the
    private key's."""
    faulty.hmac.sign(b"warm", MECH)
    with faulty.shim.faults(f"C_Sign error={name} {SESSION_GONE[name]} nth=1"):
        assert faulty.hmac.sign(b"m", MECH) == mac(b"m")
        assert faulty.shim.injected("C_Sign") == 1
        assert faulty.shim.calls("C_Sign") == 2
    signature = faulty.ec_private.sign(b"after", Mechanism.ECDSA)
    assert faulty.ec_public.verify_ok(b"after", signature, Mechanism.ECDSA)


def test_logged_out_behind_the_pools_back_logs_in_again(faulty: Faulty) -> None:
    """A real logout (the shim calls C_Logout, then says CKR_USER_NOT_LOGGED_IN): the pool logs in again by
    itself (the PIN was kept); a key found afresh signs (SoftHSM renumbered its private objects' handles)."""
    with faulty.shim.faults("C_Sign error=USER_NOT_LOGGED_IN kill nth=1"):
        with pytest.raises((errors.UserNotLoggedIn, errors.ObjectHandleInvalid)):  # issue 10: stale handle
            faulty.hmac.sign(b"m", MECH)
        key = faulty.token.get_key(label="hmac")
        assert key.sign(b"m", MECH) == mac(b"m")
        assert faulty.shim.calls("C_Login") >= 1


def test_operation_left_active_is_replaced_with_the_login_kept(faulty: Faulty) -> None:
    """Regression: discarding a session for CKR_OPERATION_ACTIVE closed it, and when it was the token's last
    session that logged the token out (SoftHSM then forgets the handles of private objects: the retry failed with
    ObjectHandleInvalid). The pool now opens the replacement before closing the old one: the retry signs with the
    same key object, no login is lost or repeated. Here no other session holds the login."""
    faulty.keeper.close()
    faulty.hmac.sign(b"warm", MECH)
    assert faulty.token.pool.size == 1
    with faulty.shim.faults("C_SignInit error=OPERATION_ACTIVE nth=1"):
        assert faulty.hmac.sign(b"m", MECH) == mac(b"m")
        assert faulty.shim.calls("C_Login") == 0
    assert faulty.token.pool.size == 1


def test_pin_locked_at_login_raises_and_leaves_no_session(faulty: Faulty) -> None:
    faulty.token.close_pool()
    before = faulty.shim.open_sessions()
    with faulty.shim.faults("C_Login error=PIN_LOCKED"), pytest.raises(errors.PinLocked):
        faulty.token.login(SECRET_PIN, keep_pin=True)
    assert faulty.shim.open_sessions() == before
    faulty.token.login(SECRET_PIN, keep_pin=True)
    assert faulty.token.get_key(label="hmac").sign(b"m", MECH) == mac(b"m")


@pytest.mark.parametrize("name", ["DEVICE_ERROR", "PIN_LOCKED", "GENERAL_ERROR"])
def test_batch_returns_the_failed_items_and_keeps_the_rest(faulty: Faulty, name: str) -> None:
    """Every third C_Sign fails: with ``on_error="return"`` each failed item holds its exception and every other
    item its correct signature."""
    messages = [b"msg-%d" % i for i in range(30)]
    with faulty.shim.faults(f"C_Sign error={name} every=3"):
        results = faulty.hmac.sign_many(messages, MECH, on_error="return")
        injected = faulty.shim.injected("C_Sign")
    failed = [i for i, r in enumerate(results) if isinstance(r, errors.CryptokiError)]
    assert failed == list(range(2, 30, 3))
    assert len(failed) == injected
    for i, result in enumerate(results):
        if i in failed:
            assert isinstance(result, errors.error_class(rv(name)))
            assert result.index == i
        else:
            assert result == mac(messages[i])


@pytest.mark.parametrize("name", SESSION_GONE)
def test_batch_survives_one_dead_session(faulty: Faulty, name: str) -> None:
    """A session dying mid-batch: the chunk is finished on a new session; every result is right."""
    messages = [b"d-%d" % i for i in range(40)]
    with faulty.shim.faults(f"C_Sign error={name} {SESSION_GONE[name]} nth=17"):
        results = faulty.hmac.sign_many(messages, MECH, workers=2, on_error="return")
        assert faulty.shim.injected("C_Sign") == 1
    assert results == [mac(m) for m in messages]


def test_batch_on_two_workers_with_random_faults(faulty: Faulty) -> None:
    """Faults on a seeded 10% of calls across two worker sessions: every item is its signature or its error."""
    messages = [b"w-%d" % i for i in range(200)]
    with faulty.shim.faults("C_Sign error=DEVICE_ERROR prob=0.1 seed=11"):
        results = faulty.hmac.sign_many(messages, MECH, workers=2, on_error="return")
        injected = faulty.shim.injected("C_Sign")
    errors_seen = sum(isinstance(r, errors.DeviceError) for r in results)
    assert errors_seen == injected > 0
    assert all(r == mac(m) for r, m in zip(results, messages, strict=True) if not isinstance(r, errors.DeviceError))


def test_batch_raise_names_the_failing_index(faulty: Faulty) -> None:
    messages = [b"r-%d" % i for i in range(10)]
    with faulty.shim.faults("C_Sign error=DEVICE_ERROR nth=5"), pytest.raises(errors.DeviceError) as info:
        faulty.hmac.sign_many(messages, MECH)
    assert info.value.index == 4


def test_find_on_a_dead_session_fails_once_and_the_session_is_not_reused(faulty: Faulty) -> None:
    """A search is not retried (it is not one call), but the dead session goes: the next search works."""
    with faulty.shim.faults("C_FindObjectsInit error=SESSION_HANDLE_INVALID kill nth=1"):
        with pytest.raises(errors.SessionHandleInvalid):
            faulty.token.get_key(label="hmac")
        key = faulty.token.get_key(label="hmac")
    assert key.sign(b"m", MECH) == mac(b"m")


def test_attribute_read_on_a_dead_session_is_retried(faulty: Faulty) -> None:
    key = faulty.token.get_key(label="hmac")
    with faulty.shim.faults("C_GetAttributeValue error=SESSION_CLOSED kill nth=1"):
        assert key.label == "hmac"
        assert faulty.shim.injected("C_GetAttributeValue") == 1


def test_explicit_session_reports_a_dead_session_and_closes_quietly(faulty: Faulty) -> None:
    """An explicit session is the caller's: no silent replacement, the error says the session is gone; and
    leaving the ``with`` block does not raise a second error for closing what the module already closed."""
    with faulty.token.open(rw=True) as session:
        key = session.get_key(label="hmac")
        with faulty.shim.faults("C_Sign error=SESSION_HANDLE_INVALID kill nth=1"), pytest.raises(
            errors.SessionHandleInvalid
        ):
            key.sign(b"m", MECH)
    assert session.closed


@pytest.mark.parametrize("rule", ["C_SignInit error=DEVICE_ERROR", "C_Sign error=OPERATION_ACTIVE",
                                  "C_Sign error=SESSION_HANDLE_INVALID kill"])
def test_async_gather_reports_each_failure(faulty: Faulty, rule: str) -> None:
    """``asyncio.gather`` of ``sign_async`` under a persistent fault: every await raises, none hangs."""
    import asyncio

    async def main() -> list[object]:
        return await asyncio.gather(*(faulty.hmac.sign_async(b"a%d" % i, MECH) for i in range(20)),
                                    return_exceptions=True)

    with faulty.shim.faults(rule):
        results = asyncio.run(main())
    assert all(isinstance(r, errors.CryptokiError) for r in results), results


def _round_trip(faulty: Faulty, function: str) -> None:
    """One operation of each kind through the pool, its result checked."""
    iv = bytes(12)
    if function in ("C_Encrypt", "C_Decrypt"):
        sealed = faulty.aes.encrypt(b"payload", GCM(iv))
        assert faulty.aes.decrypt(sealed, GCM(iv)) == b"payload"
    else:
        signature = faulty.ec_private.sign(b"v" * 32, Mechanism.ECDSA)
        assert faulty.ec_public.verify_ok(b"v" * 32, signature, Mechanism.ECDSA)


@pytest.mark.parametrize("function", ["C_Encrypt", "C_Decrypt", "C_Verify"])
@pytest.mark.parametrize("name", ["SESSION_CLOSED", "OPERATION_ACTIVE"])
def test_other_operations_survive_a_dead_session(faulty: Faulty, function: str, name: str) -> None:
    """Encrypt, decrypt and verify take the same path as sign: a session lost once is replaced, the call retried."""
    with faulty.shim.faults(f"{function} error={name} {SESSION_GONE[name]} nth=1"):
        _round_trip(faulty, function)
        assert faulty.shim.injected(function) == 1


@pytest.mark.parametrize("function", ["C_Encrypt", "C_Decrypt", "C_Verify"])
def test_other_operations_raise_a_persistent_device_error(faulty: Faulty, function: str) -> None:
    with faulty.shim.faults(f"{function} error=DEVICE_ERROR"), pytest.raises(errors.DeviceError) as info:
        _round_trip(faulty, function)
    assert info.value.function == function
    _round_trip(faulty, function)
