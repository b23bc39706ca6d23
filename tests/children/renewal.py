"""Child process of tests/lifetime/test_renewal.py: a module loses its device (or its token store) and comes back;
p11 starts a new generation and the same key objects sign again, never with another key.

    python renewal.py outage SHIM LABEL ROUNDS      the fault shim answers CKR_DEVICE_ERROR to every call, then not
    python renewal.py reload ROUNDS                 a private SoftHSM store whose token directory goes away and back
    python renewal.py stale SHIM LABEL              handles of an ended generation never reach the next one
    python renewal.py exit SHIM LABEL               the interpreter exits while daemon threads report a lost device

The PIN comes from P11_TEST_PIN. Prints one JSON line of facts per round (the parent asserts on them); exits 0 when
every invariant held, with a message and 1 otherwise (an uncaught exception: a traceback and 1).
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

_AFTER_EXIT: list[Any] = []


def _after_p11_exit() -> None:
    # Registered before p11 is imported, so it runs after p11's exit handler (atexit runs last-in, first-out): the
    # module must stay finalised, whatever the daemon threads' reports try meanwhile.
    for module in _AFTER_EXIT:
        time.sleep(0.3)
        print(f"after-exit initialized={module._initialized} in_service={module._in_service}", flush=True)


atexit.register(_after_p11_exit)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout: tests.faults

import p11  # noqa: E402 - after the exit hook above, on purpose
from p11 import errors  # noqa: E402
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass  # noqa: E402
from p11.testing import SoftHSM  # noqa: E402
from tests.faults.faultmod import FaultModule  # noqa: E402
from tests.interop.harness import SigningThreads  # noqa: E402

HMAC = Mechanism.SHA256_HMAC
PIN = os.environ["P11_TEST_PIN"]
# A device that is gone: every call answers CKR_DEVICE_ERROR, C_Initialize too, except C_Finalize, which lets go of
# the module's state (as a client module does when its server went away).
DEVICE_GONE = "\n".join(
    f"{name} error=DEVICE_ERROR"
    for name in (
        "C_Initialize", "C_GetInfo", "C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList",
        "C_GetMechanismInfo", "C_OpenSession", "C_CloseSession", "C_CloseAllSessions", "C_GetSessionInfo",
        "C_Login", "C_Logout", "C_GetAttributeValue", "C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal",
        "C_SignInit", "C_Sign", "C_GenerateRandom", "C_CreateObject", "C_DestroyObject",
    )
)


def secret(value: bytes, label: str, on_token: bool, ident: bytes = b"") -> dict[Attribute, Any]:
    """The template of a private HMAC key holding ``value``."""
    return {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.TOKEN: on_token, Attribute.PRIVATE: True, Attribute.VALUE: value, Attribute.SIGN: True,
            Attribute.LABEL: label, Attribute.ID: ident}


def mac(value: bytes, data: bytes) -> bytes:
    return hmac.new(value, data, hashlib.sha256).digest()


class Hammer(SigningThreads):
    """Threads signing with one key until stopped (:class:`~tests.interop.harness.SigningThreads`, started): every
    result checked against the MAC the key's value gives, thread 3 in batches; each outcome counted by kind; when
    each thread last succeeded."""

    def __init__(self, key: Any, value: bytes, threads: int = 4) -> None:
        def attempt(i: int, n: int) -> bool:
            data = b"%d-%d" % (i, n)
            if i == 3:  # one thread in batches
                outs = key.sign_many([data, data + b"!"], HMAC, workers=2)
                return bool(outs == [mac(value, data), mac(value, data + b"!")])
            return bool(key.sign(data, HMAC) == mac(value, data))

        super().__init__(threads, attempt, typed=(errors.P11Error,))
        self.start()

    def finish(self) -> dict[str, Any]:
        stuck = self.stop()
        counts = self.counts()
        return {"ok": counts["ok"], "wrong": counts["wrong"], "typed": counts["typed"],
                "untyped": counts["untyped"][:5], "slowest_call": round(counts["slowest"], 3), "stuck_threads": stuck}


def fail(message: str) -> None:
    print(message, flush=True)
    sys.exit(1)


def outage(shim_path: str, label: str, rounds: int) -> None:
    shim = FaultModule(shim_path, os.environ["P11_FAULT_MODULE"])
    lib = p11.load(shim_path)
    token = lib.get_token(label=label)
    token.login(PIN, keep_pin=True)
    value = os.urandom(32)
    key = token.create_object(secret(value, f"renewal-mac-{os.getpid()}", True))
    doomed = token.generate_key(KeyType.GENERIC_SECRET, 256, label=f"renewal-doomed-{os.getpid()}", token=True)
    doomed.sign(b"x", HMAC)  # used: it knows who it is
    assert key.sign(b"x", HMAC) == mac(value, b"x")
    module = lib.module
    for r in range(rounds):
        session = token.open()
        hammer = Hammer(key, value)
        time.sleep(0.2)
        generation = module.generation
        shim.configure(DEVICE_GONE)
        lost_at = time.monotonic()
        time.sleep(0.8)
        state_during = module.health.state
        shim.configure("")
        back_at = time.monotonic()
        recovered = hammer.all_signed_since(back_at, 15)
        facts = hammer.finish()
        try:
            session.generate_random(4)
            explicit = "still open"
        except errors.SessionClosed as exc:
            explicit = "SessionClosed" if "before fork() or before its module" in str(exc) else str(exc)
        if r == 0:  # a key that no longer exists after the outage says so
            with token.open(user_pin=PIN, rw=True) as admin:
                for obj in admin.find(label=f"renewal-doomed-{os.getpid()}"):
                    obj.destroy()
            module.renew()
            try:
                doomed.sign(b"x", HMAC)
                gone = "signed"
            except errors.StaleObject as exc:
                gone = "StaleObject" if "no object matches it" in str(exc) else str(exc)
        else:
            gone = "skipped"
        facts.update(round=r, recovered_in=recovered, outage=round(back_at - lost_at, 2), state_during=state_during,
                     state_after=module.health.state, generations=module.generation - generation,
                     renewals=module.health.renewals, explicit_session=explicit, deleted_key=gone,
                     fresh_load_same=p11.load(shim_path) is lib and lib.get_token(label=label) is token)
        print(json.dumps(facts), flush=True)
        if facts["wrong"] or facts["untyped"] or facts["stuck_threads"] or recovered is None:
            fail(f"round {r} failed: {facts}")
    key.destroy()


def exiting(shim_path: str, label: str) -> None:
    """The interpreter exits while daemon threads keep hitting a module that lost its device, so renewals run
    during the exit: none may start the module again after the exit handler finalised it, nothing may crash."""
    shim = FaultModule(shim_path, os.environ["P11_FAULT_MODULE"])
    lib = p11.load(shim_path)
    token = lib.get_token(label=label)
    token.login(PIN, keep_pin=True)
    key = token.generate_key(KeyType.GENERIC_SECRET, 256, label=f"exit-{os.getpid()}", token=False)
    value_unknown = key.sign(b"x", HMAC)
    assert len(value_unknown) == 32
    _AFTER_EXIT.append(lib.module)
    hammer = Hammer(key, b"", threads=3)  # MACs are not checked here (the value is the token's): only typed errors
    time.sleep(0.1)
    shim.configure(DEVICE_GONE)
    time.sleep(0.05 + 0.1 * (os.getpid() % 5) / 5)  # exit at a different point of the renewal cycle each time
    print("exiting", json.dumps({"typed": hammer.typed, "untyped": hammer.untyped[:3]}), flush=True)


def reload(rounds: int) -> None:
    with SoftHSM(label="reloaded", user_pin=PIN) as hsm:
        lib = p11.load(hsm.module_path)
        token = lib.get_token(label="reloaded")
        token.login(PIN, keep_pin=True)
        value = os.urandom(32)
        key = token.create_object(secret(value, "reloaded-mac", True))
        assert key.sign(b"x", HMAC) == mac(value, b"x")
        (directory,) = [d for d in hsm.token_dir.iterdir() if d.is_dir()]
        for r in range(rounds):
            hammer = Hammer(key, value)
            time.sleep(0.2)
            renewals = lib.module.health.renewals
            directory.rename(directory.with_name(directory.name + ".away"))
            time.sleep(0.5)
            directory.with_name(directory.name + ".away").rename(directory)
            back_at = time.monotonic()
            recovered = hammer.all_signed_since(back_at, 15)
            facts = hammer.finish()
            facts.update(round=r, recovered_in=recovered, renewals=lib.module.health.renewals - renewals,
                         state_after=lib.module.health.state)
            print(json.dumps(facts), flush=True)
            if facts["wrong"] or facts["untyped"] or facts["stuck_threads"] or recovered is None:
                fail(f"round {r} failed: {facts}")


def stale(shim_path: str, label: str) -> None:
    """Deterministic: what a thread held before a renewal is refused after it, and nothing of it reaches the module."""
    shim = FaultModule(shim_path, os.environ["P11_FAULT_MODULE"])
    lib = p11.load(shim_path)
    module = lib.module
    token = lib.get_token(label=label)
    token.login(PIN, keep_pin=True)
    value = os.urandom(32)
    key = token.create_object(secret(value, f"stale-mac-{os.getpid()}", True, b"stale-%d" % os.getpid()))
    other = token.generate_key(KeyType.GENERIC_SECRET, 256, label=f"stale-other-{os.getpid()}", token=True,
                               id=b"stale-%d" % os.getpid())
    key.sign(b"x", HMAC)
    cached = key.cache.calls["sign", HMAC]  # the one-crossing call a thread may have fetched just before the renewal
    old_gate, old_handle = module.gate_address, key._handle
    search = token.find(object_class=ObjectClass.SECRET_KEY, id=b"stale-%d" % os.getpid())
    first = next(search)
    lease = token.pool.session()
    leased = lease.__enter__()
    explicit = token.open()
    module.renew(device_lost=False)
    shim.configure("")  # count from here
    facts: dict[str, Any] = {}

    def outcome(call: Any) -> str:
        try:
            call()
            return "ok"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    facts["cached_call"] = outcome(lambda: cached(b"x"))
    facts["pool_with_old_gate"] = outcome(lambda: token.pool.sign(HMAC, old_handle, b"x", 0, old_gate))
    facts["old_generation_functions"] = outcome(lambda: module.at(old_gate).C_GetInfo())
    facts["sign_calls_after_refusals"] = shim.calls("C_SignInit")
    facts["explicit_session"] = outcome(lambda: explicit.generate_random(4))
    pool = token.pool
    size = pool.size
    lease.__exit__(None, None, None)  # a session of the ended generation comes back: forgotten, not made idle
    facts["old_session_forgotten"] = pool.size == size and pool.idle <= pool.size and pool.in_use == 0
    del leased
    facts["later_search_result"] = outcome(lambda: next(search).sign(b"x", HMAC))
    facts["key_signs_again"] = key.sign(b"x", HMAC) == mac(value, b"x")
    facts["first_result_signs"] = outcome(lambda: first.sign(b"x", HMAC))
    key.destroy()
    other.destroy()
    print(json.dumps(facts), flush=True)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "outage":
        outage(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif what == "exit":
        exiting(sys.argv[2], sys.argv[3])
    elif what == "reload":
        reload(int(sys.argv[2]))
    elif what == "stale":
        stale(sys.argv[2], sys.argv[3])
    else:
        fail(f"unknown scenario {what!r}")
