"""Concurrency soak: 2, 8 and 32 threads mixing sign, verify, find and attribute reads on shared keys through the
token's pool, plus explicit sessions shared between the threads; then asyncio with thousands of concurrent awaits.

    python tests/soak/concurrency.py SECONDS [--faults]

Every ECDSA signature is verified in software against the right public key, every HMAC compared with Python's.
At the end the sessions opened through the shim are back to zero. Without ``--faults`` no error is allowed; with
it, the shim fails a seeded fraction of calls (DeviceError, OperationActive) and adds latency: only those errors
may appear, and every result that comes back is still right.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import sys
import threading
import time
from collections import Counter
from typing import Any

from common import HMAC_VALUE, USER_PIN, report, rig
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from p11 import errors
from p11.constants import Mechanism, ObjectClass
from p11.crypto import export_public_key
from p11.crypto.ecdsa import raw_to_der

FAULTS = ("C_Sign error=DEVICE_ERROR prob=0.002 seed=1; C_SignInit error=OPERATION_ACTIVE prob=0.002 seed=2; "
          "C_GetAttributeValue error=DEVICE_ERROR prob=0.002 seed=3; C_FindObjectsInit error=DEVICE_ERROR "
          "prob=0.002 seed=4; C_Sign latency_us=100 jitter_us=400")
ALLOWED_UNDER_FAULTS = (errors.DeviceError, errors.OperationActive)


def main(seconds: float, faults: bool) -> int:
    r = rig("soak-concurrency")
    token = r.token()
    token.login(USER_PIN, keep_pin=True)
    privs = [token.get_key(label=f"ec{i}", class_=ObjectClass.PRIVATE_KEY) for i in range(4)]
    pubs = [token.get_key(label=f"ec{i}", class_=ObjectClass.PUBLIC_KEY) for i in range(4)]
    soft = [export_public_key(p) for p in pubs]
    hkey = token.get_key(label="hmac")
    shared = [token.open() for _ in range(2)]  # explicit sessions, shared by every thread
    shared_keys = [s.get_key(label="hmac") for s in shared]
    digest = hashlib.sha256(b"soak").digest()
    known = privs[0].sign(digest, Mechanism.ECDSA)
    if faults:
        r.shim.configure(FAULTS)

    counts: Counter[str] = Counter()
    wrong: list[str] = []
    unexpected: list[str] = []
    lock = threading.Lock()

    def one(i: int, n: int) -> str:
        k = (i + n) % 6
        if k == 0:
            key = (i + n) % 4
            data = hashlib.sha256(b"%d-%d" % (i, n)).digest()
            sig = privs[key].sign(data, Mechanism.ECDSA)
            try:
                soft[key].verify(raw_to_der(sig), data, ec.ECDSA(Prehashed(hashes.SHA256())))  # type: ignore[union-attr,call-arg]
            except InvalidSignature:
                return "wrong: ecdsa signature"
            return "sign"
        if k == 1:
            m = b"h%d" % n
            return "hmac" if hkey.sign(m, Mechanism.SHA256_HMAC) == hmac.new(HMAC_VALUE, m, hashlib.sha256).digest() \
                else "wrong: hmac"
        if k == 2:
            return "verify" if pubs[0].verify_ok(digest, known, Mechanism.ECDSA) else "wrong: verify"
        if k == 3:
            found = token.get_key(label="ec2", class_=ObjectClass.PRIVATE_KEY)
            return "find" if found.id == b"\x02" else "wrong: find"
        if k == 4:
            return "attrs" if (privs[1].label, privs[1].id) == ("ec1", b"\x01") else "wrong: attrs"
        m = b"s%d" % n
        tag = shared_keys[n % 2].sign(m, Mechanism.SHA256_HMAC)
        return "shared" if tag == hmac.new(HMAC_VALUE, m, hashlib.sha256).digest() else "wrong: shared session"

    def worker(i: int, stop: float) -> None:
        local: Counter[str] = Counter()
        for n in itertools.count():
            if n % 16 == 0 and time.monotonic() > stop:
                break
            try:
                outcome = one(i, n)
            except ALLOWED_UNDER_FAULTS as exc:
                if not faults:
                    with lock:
                        unexpected.append(repr(exc))
                local["error"] += 1
                continue
            except Exception as exc:
                with lock:
                    unexpected.append(repr(exc))
                local["error"] += 1
                continue
            if outcome.startswith("wrong"):
                with lock:
                    wrong.append(outcome)
            local[outcome] += 1
        with lock:
            counts.update(local)

    levels = {}
    for n_threads in (2, 8, 32):
        before = sum(counts.values())
        stop = time.monotonic() + seconds / 4
        threads = [threading.Thread(target=worker, args=(i, stop)) for i in range(n_threads)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        levels[n_threads] = round((sum(counts.values()) - before) / (time.monotonic() - started))

    async def gather(n: int) -> list[Any]:
        return await asyncio.gather(*(hkey.sign_async(b"a%d" % i, Mechanism.SHA256_HMAC) for i in range(n)),
                                    return_exceptions=True)

    async_ok = async_err = 0
    stop = time.monotonic() + seconds / 4
    async_started = time.monotonic()
    while time.monotonic() < stop:
        for i, res in enumerate(asyncio.run(gather(5000))):
            if isinstance(res, ALLOWED_UNDER_FAULTS) and faults:
                async_err += 1
            elif isinstance(res, BaseException):
                unexpected.append(repr(res))
            elif res == hmac.new(HMAC_VALUE, b"a%d" % i, hashlib.sha256).digest():
                async_ok += 1
            else:
                wrong.append("wrong: async hmac")
    async_rate = round((async_ok + async_err) / (time.monotonic() - async_started))

    injected = r.shim.injected()
    r.shim.configure("")
    for s in shared:
        s.close()
    token.close_pool()
    left = r.shim.open_sessions()
    r.hsm.close()
    ok = not wrong and not unexpected and left == 0 and (faults or counts["error"] == 0)
    report("concurrency-faults" if faults else "concurrency", ok, ops_per_s_by_threads=levels,
           ops=dict(counts), async_awaits=async_ok + async_err, async_ops_per_s=async_rate,
           async_errors=async_err, faults_injected=injected, wrong=wrong[:5], unexpected=unexpected[:5],
           sessions_left=left)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0, "--faults" in sys.argv))
