"""The child of test_interop_reconnect.py: signs with one key on a remote token (p11-kit-client.so -> p11-kit
server -> SoftHSM) from 4 threads while the parent kills and restarts the server, and verifies every signature with
the key's public key in ``cryptography``.

    python reconnect_child.py MODULE LABEL        (PIN in P11_INTEROP_PIN; never printed)

Protocol, one line each way: the child prints ``READY`` once every thread signed; the parent writes ``KILLED`` and
``RESTARTED`` as it does so; after ``RESTARTED`` the child waits (at most 30 s) until every thread signed again and
prints ``RECOVERED <seconds>`` (or ``STUCK``); on ``DONE`` it stops and prints one JSON line of facts.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import threading
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import p11
from p11.constants import KeyType

ECDSA = ec.ECDSA(hashes.SHA256())


def main() -> int:
    module, label = sys.argv[1], sys.argv[2]
    pin = os.environ["P11_INTEROP_PIN"]
    token = p11.load(module).get_token(label=label)
    with token.open(user_pin=pin, rw=True) as session:
        for old in session.find(label="reconnect"):
            old.destroy()
        session.generate_keypair(KeyType.EC, curve="P-256", label="reconnect", id=b"\x7e")
    # The one-line path: the PIN in the URI (kept by the pool, so it can log in again after the restart).
    key = p11.open(f"pkcs11:token={label};object=reconnect;type=private?module-path={module}&pin-value={pin}")
    public = key.public_key()
    raw = key.token_object  # the p11 key under the cryptography one: its batches too
    lock = threading.Lock()
    facts: dict[str, Any] = {"ok": 0, "wrong": 0, "typed": {}, "untyped": [], "slowest": 0.0}
    last_ok = [0.0] * 4
    stop = threading.Event()

    def check(data: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, data, ECDSA)
        except InvalidSignature:
            return False
        return True

    def work(i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            data = b"thread %d request %d" % (i, n)
            started = time.monotonic()
            good: bool | None
            try:
                if i == 3:  # batches, raw r||s from the p11 key
                    signatures = raw.sign_many([data, data + b"!"], workers=2)
                    good = all(
                        check(d, encode_dss_signature(int.from_bytes(s[:32], "big"), int.from_bytes(s[32:], "big")))
                        for d, s in zip([data, data + b"!"], signatures, strict=True)
                    )
                else:
                    good = check(data, key.sign(data, ECDSA))
            except p11.errors.P11Error as exc:
                with lock:
                    facts["typed"][type(exc).__name__] = facts["typed"].get(type(exc).__name__, 0) + 1
                good = None
                time.sleep(0.005)
            except Exception as exc:  # an untyped error: what this counts
                with lock:
                    facts["untyped"].append(repr(exc)[:300])
                good = None
            with lock:
                facts["slowest"] = max(facts["slowest"], time.monotonic() - started)
                if good:
                    facts["ok"] += 1
                    last_ok[i] = time.monotonic()
                elif good is False:
                    facts["wrong"] += 1

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()

    def all_signed_since(t: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if all(last > t for last in last_ok):
                    return max(last_ok) - t
            time.sleep(0.01)
        return None

    if all_signed_since(0.0, 30) is None:
        print("STUCK", flush=True)
        return 1
    print("READY", flush=True)
    recoveries = []
    for line in sys.stdin:
        command = line.strip()
        if command == "KILLED":
            with lock:
                facts.setdefault("ok_before_kill", facts["ok"])
        elif command == "RESTARTED":
            took = all_signed_since(time.monotonic(), 30)
            recoveries.append(took)
            if took is None:  # say what it is stuck on: the threads' stacks, the module's health, the errors
                faulthandler.dump_traceback(all_threads=True)
                health = token.library.module.health
                with lock:
                    print(f"STUCK {health.state} last_error={health.last_error} why={health.last_failure!r} "
                          f"last_ok={last_ok} now={time.monotonic()} {json.dumps(facts)}", flush=True)
            else:
                print(f"RECOVERED {took:.3f}", flush=True)
        elif command == "DONE":
            break
    stop.set()
    for t in threads:
        t.join(30)
    health = token.library.module.health
    facts.update(recoveries=recoveries, stuck_threads=sum(t.is_alive() for t in threads), renewals=health.renewals,
                 state=health.state, untyped=facts["untyped"][:5])
    print("FACTS " + json.dumps(facts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
