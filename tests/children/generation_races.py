"""Child process of tests/lifetime/test_generation_races.py: a new generation of a module (``Module.renew()``)
racing the threads that use it, on a private SoftHSM store. Each scenario forces its interleaving where it can
(a profile hook holds one thread at the point named, the way a thread switch would), and prints one JSON line of facts.

    python generation_races.py window      a key read in the moment the renewal has made its new gate
    python generation_races.py install     a one-crossing call cached just after the renewal dropped the cached ones
    python generation_races.py fork N      N forks while a thread renews in a loop and 3 threads sign

Exits 0 after printing its facts (the parent asserts on them); a crash shows as a signal exit, a hang as the
parent's timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import p11
from p11 import errors
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass
from p11.testing import SoftHSM

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout: tests.support
from tests.support import USER_PIN as PIN

HMAC = Mechanism.SHA256_HMAC
VALUES = {"mac-a": bytes(range(32)), "mac-b": bytes(range(100, 132))}
HOLD = 10.0  # s a held thread waits at most for the other side (a scenario that does not happen ends the wait)


def mac(label: str, data: bytes) -> bytes:
    return hmac.new(VALUES[label], data, hashlib.sha256).digest()


def setup(hsm: SoftHSM) -> tuple[Any, Any]:
    """The token (logged in, keep_pin) with two HMAC keys of different values and one EC key pair."""
    lib = p11.load(hsm.module_path)
    token = lib.get_token(label=hsm.label)
    with token.open(user_pin=PIN, rw=True) as session:
        for label, value in VALUES.items():
            session.create_object({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                                   Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.LABEL: label,
                                   Attribute.VALUE: value, Attribute.SIGN: True})  # fmt: skip
        session.generate_keypair(KeyType.EC, label="other", id=b"other")
    token.login(PIN, keep_pin=True)
    return lib, token


def outcome(call: Any) -> str:
    try:
        return call()  # type: ignore[no-any-return]
    except errors.P11Error as exc:
        return f"typed {type(exc).__name__}"
    except Exception as exc:  # what the parent counts as a failure
        return f"untyped {exc!r}"


def window(hsm: SoftHSM) -> dict[str, Any]:
    """Thread R signs with key mac-a through the full path (it reads the gate, then the key's handle) at the moment
    the renewing thread has made the new generation's gate; R then goes on once the renewal is over and the
    objects of the new generation are numbered so that mac-a's old handle names mac-b. R's signature must be
    mac-a's, or a typed error: never mac-b's."""
    _lib, token = setup(hsm)
    a = token.get_key(label="mac-a")
    b = token.get_key(label="mac-b")
    assert a.sign(b"x", HMAC) == mac("mac-a", b"x") and b.sign(b"x", HMAC) == mac("mac-b", b"x")
    old_a = a.handle
    module = token._module
    gate_made, reader_past, renewed = threading.Event(), threading.Event(), threading.Event()

    def renewer_hook(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code.co_name == "_new_gate" and not gate_made.is_set():
            gate_made.set()
            reader_past.wait(HOLD)  # R reads the gate and the key's handle now

    def reader_hook(frame: Any, event: str, arg: Any) -> None:
        if not gate_made.is_set() or reader_past.is_set():
            return
        name = frame.f_code.co_name
        # R read the key's handle as current (or saw the new generation and looks the key up again): it goes on
        # once the renewal is over and the new generation has numbered its objects.
        if (event == "call" and name == "_find_again") or (
            event == "return" and name == "handle" and frame.f_code.co_filename.endswith("objects.py")
        ):
            reader_past.set()
            renewed.wait(HOLD)

    facts: dict[str, Any] = {}

    def renewer() -> None:
        sys.setprofile(renewer_hook)
        try:
            module.renew()
        finally:
            sys.setprofile(None)

    def reader() -> None:
        gate_made.wait(HOLD)
        a.cache.calls.clear()  # the full path, as the first call after a generation change takes
        a.cache.sizes.clear()
        sys.setprofile(reader_hook)
        try:
            result = outcome(lambda: a.sign(b"data", HMAC))
        finally:
            sys.setprofile(None)
        facts["reader"] = ("mac-a" if result == mac("mac-a", b"data") else "mac-b" if result == mac("mac-b", b"data")
                           else result if isinstance(result, str) else "other bytes")  # fmt: skip

    threads = [threading.Thread(target=reader), threading.Thread(target=renewer)]
    for t in threads:
        t.start()
    threads[1].join(3 * HOLD)
    # The new generation numbers its objects as they are found: others first, until the next handle is mac-a's
    # old one, then mac-b.
    facts["old_handle_names"] = None
    pool = token.pool
    pool.give_back(pool.borrow())  # the pool's session of the new generation (a handle number too), logged in
    with token.open() as session:
        for _ in range(64):
            with session._lock:
                probe = session._module.C_CreateObject(session.handle, {
                    Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: False, Attribute.PRIVATE: False,
                    Attribute.LABEL: "filler"})  # fmt: skip
            if probe + 1 >= old_a:
                break
        if probe + 1 == old_a:
            facts["old_handle_names"] = "mac-b" if b.handle == old_a else f"handle {b.handle}"
        renewed.set()
        threads[0].join(3 * HOLD)
    facts["stuck_threads"] = sum(t.is_alive() for t in threads)
    facts["signs_after"] = outcome(lambda: a.sign(b"after", HMAC)) == mac("mac-a", b"after")
    return facts


def install(hsm: SoftHSM) -> dict[str, Any]:
    """Thread R's first signature (the full path) returns, and before R caches its one-crossing call the module
    starts a new generation (whose hooks drop the key's cached calls). The key must sign afterwards."""
    _lib, token = setup(hsm)
    a = token.get_key(label="mac-a")
    a.sign(b"plans", HMAC)
    a.cache.calls.clear()  # the plans stay: the next signature takes the full path, quickly
    a.cache.sizes.clear()
    returned, renewed = threading.Event(), threading.Event()

    def hook(frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code  # the return of a channel's bound call (p11.api.channel)
        if event == "return" and code.co_name.startswith("call") and code.co_filename.endswith("channel.py") \
                and not returned.is_set():
            returned.set()
            renewed.wait(HOLD)

    facts: dict[str, Any] = {}

    def reader() -> None:
        sys.setprofile(hook)
        try:
            facts["first"] = outcome(lambda: a.sign(b"first", HMAC)) == mac("mac-a", b"first")
        finally:
            sys.setprofile(None)

    thread = threading.Thread(target=reader)
    thread.start()
    facts["held"] = returned.wait(HOLD)
    token._module.renew()
    renewed.set()
    thread.join(3 * HOLD)
    later = [outcome(lambda i=i: a.sign(b"later %d" % i, HMAC)) for i in range(3)]
    facts["later"] = ["ok" if r == mac("mac-a", b"later %d" % i) else r for i, r in enumerate(later)]
    return facts


def fork(hsm: SoftHSM, forks: int) -> dict[str, Any]:
    """Fork ``forks`` times while one thread renews the module in a loop and three sign with a pooled key; each
    child signs with that key (found again there) and exits. No child may hang or crash, nor the parent."""
    _lib, token = setup(hsm)
    a = token.get_key(label="mac-a")
    a.sign(b"x", HMAC)
    module = token._module
    stop = threading.Event()
    results: dict[str, int] = {}
    lock = threading.Lock()

    def count(what: str) -> None:
        with lock:
            results[what] = results.get(what, 0) + 1

    def renewer() -> None:
        while not stop.is_set():
            with contextlib.suppress(errors.P11Error):
                module.renew()

    def signer() -> None:
        while not stop.is_set():
            result = outcome(lambda: a.sign(b"parent", HMAC))
            count("parent ok" if result == mac("mac-a", b"parent") else result if isinstance(result, str)
                  else "parent WRONG")  # fmt: skip

    threads = [threading.Thread(target=renewer, daemon=True)]
    threads += [threading.Thread(target=signer, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(forks):
        time.sleep(0.001 * (i % 5))
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)  # a child stuck inside the module dies of SIGALRM: counted as hung by the parent
            code = 4
            for _ in range(5):
                try:
                    code = 0 if a.sign(b"child", HMAC) == mac("mac-a", b"child") else 3
                    break
                except errors.P11Error:
                    time.sleep(0.05)
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            count("child hung" if os.WTERMSIG(status) == signal.SIGALRM else f"child signal {os.WTERMSIG(status)}")
        else:
            count({0: "child ok", 3: "child WRONG", 4: "child typed errors"}.get(os.WEXITSTATUS(status), "child ?"))
    stop.set()
    for t in threads:
        t.join(10)
    return {"results": results, "stuck_threads": sum(t.is_alive() for t in threads)}


def main() -> int:
    what = sys.argv[1]
    with SoftHSM(label="generations", user_pin=PIN) as hsm:
        if what == "window":
            facts = window(hsm)
        elif what == "install":
            facts = install(hsm)
        elif what == "fork":
            facts = fork(hsm, int(sys.argv[2]))
        else:
            raise SystemExit(f"unknown scenario {what!r}")
    print(json.dumps(facts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
