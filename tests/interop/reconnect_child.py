"""The child of test_reconnect.py: signs with one key on a remote token (p11-kit-client.so -> p11-kit
server -> SoftHSM) from 4 threads while the parent kills and restarts the server, and verifies every signature with
the key's public key in ``cryptography``.

    python -m tests.interop.reconnect_child MODULE LABEL   (from the checkout; PIN in P11_INTEROP_PIN, never printed)

Protocol, one line each way: the child prints ``READY`` once every thread signed; the parent writes ``KILLED`` and
``RESTARTED`` as it does so; after ``RESTARTED`` the child waits (at most 30 s) until every thread signed again and
prints ``RECOVERED <seconds>`` (or ``STUCK``); on ``DONE`` it stops and prints one JSON line of facts.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import p11
from p11.constants import KeyType
from tests.interop.harness import SigningThreads

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

    def check(data: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, data, ECDSA)
        except InvalidSignature:
            return False
        return True

    def attempt(i: int, n: int) -> bool:
        data = b"thread %d request %d" % (i, n)
        if i == 3:  # batches, raw r||s from the p11 key
            signatures = raw.sign_many([data, data + b"!"], workers=2)
            return all(
                check(d, encode_dss_signature(int.from_bytes(s[:32], "big"), int.from_bytes(s[32:], "big")))
                for d, s in zip([data, data + b"!"], signatures, strict=True)
            )
        return check(data, key.sign(data, ECDSA))

    load = SigningThreads(4, attempt, typed=(p11.errors.P11Error,)).start()
    if load.all_signed_since(0.0, 30) is None:
        print("STUCK", flush=True)
        return 1
    print("READY", flush=True)
    recoveries = []
    for line in sys.stdin:
        command = line.strip()
        if command == "KILLED":
            load.note_kill()
        elif command == "RESTARTED":
            took = load.all_signed_since(time.monotonic(), 30)
            recoveries.append(took)
            if took is None:  # say what it is stuck on: the threads' stacks, the module's health, the errors
                faulthandler.dump_traceback(all_threads=True)
                health = token.library.module.health
                counts = load.counts()
                print(f"STUCK {health.state} last_error={health.last_error} why={health.last_failure!r} "
                      f"last_ok={load.last_ok} now={time.monotonic()} {json.dumps(counts)}", flush=True)
            else:
                print(f"RECOVERED {took:.3f}", flush=True)
        elif command == "DONE":
            break
    stuck = load.stop()
    health = token.library.module.health
    facts = load.counts()
    facts.update(recoveries=recoveries, stuck_threads=stuck, renewals=health.renewals, state=health.state,
                 untyped=facts["untyped"][:5])
    print("FACTS " + json.dumps(facts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
