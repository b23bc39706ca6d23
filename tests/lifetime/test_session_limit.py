"""The token's own session limit (``CKR_SESSION_COUNT`` from ``C_OpenSession``): the pool takes the sessions it holds
as its bound for now and waits for them, as at ``max_size``; it grows back when the token allows more; and when it
holds none (other programs hold every session) callers get ``SessionCount`` after a bounded wait, never a hang.

The limit is the fault shim's (``C_OpenSession error=SESSION_COUNT after=N``) in front of SoftHSM, which has none.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from p11 import errors
from p11.constants import Mechanism
from p11.testing import SoftHSM
from tests.faults.faultmod import build
from tests.support import Faulty, mac, python

HMAC = Mechanism.SHA256_HMAC


def _hammer(faulty: Faulty, threads: int, per_thread: int) -> list[Any]:
    """``threads`` threads each signing ``per_thread`` messages with the pooled HMAC key; every outcome."""
    start = threading.Barrier(threads)

    def work(t: int) -> list[Any]:
        start.wait()
        out: list[Any] = []
        for i in range(per_thread):
            data = b"%d-%d" % (t, i)
            try:
                out.append(faulty.hmac.sign(data, HMAC) == mac(data))
            except errors.P11Error as exc:
                out.append(exc)
        return out

    with ThreadPoolExecutor(threads) as pool:
        return [r for rs in pool.map(work, range(threads)) for r in rs]


@pytest.mark.parametrize("round_", range(5))
def test_threaded_pooled_signs_at_the_token_session_limit_all_succeed(faulty: Faulty, round_: int) -> None:
    """800 signs from 8 threads, the token refusing a third session: all succeed (they were 159-658 SessionCount
    failures), on at most the sessions the pool could open."""
    pool = faulty.token.pool
    held = pool.size  # the login's session
    # Each C_Sign lasting 2 ms makes the 8 threads overlap (a loaded machine might otherwise serve them with 3).
    with faulty.shim.faults("C_OpenSession error=SESSION_COUNT after=2\nC_Sign latency_us=2000"):
        outcomes = _hammer(faulty, 8, 100)
        refused = faulty.shim.injected("C_OpenSession")
    failures = [o for o in outcomes if o is not True]
    assert not failures, f"{len(failures)} of {len(outcomes)} failed, e.g. {failures[:3]}"
    assert refused >= 1  # the limit was met ...
    assert pool.size <= held + 2 and pool.max_size <= held + 2  # ... and became the pool's bound
    assert pool.waiting == 0 and pool.in_use == 0


def test_batches_with_workers_at_the_session_limit_run_on_the_sessions_there_are(faulty: Faulty) -> None:
    messages = [b"m%d" % i for i in range(400)]
    with faulty.shim.faults("C_OpenSession error=SESSION_COUNT after=1"):
        tags = faulty.hmac.sign_many(messages, HMAC, workers=6)
    assert tags == [mac(m) for m in messages]
    assert faulty.token.pool.size <= 2


def test_the_bound_grows_back_once_the_token_has_sessions_again(faulty: Faulty) -> None:
    pool = faulty.token.pool
    asked = pool.max_size
    with faulty.shim.faults("C_OpenSession error=SESSION_COUNT after=1\nC_Sign latency_us=2000"):
        assert all(o is True for o in _hammer(faulty, 6, 40))
    lowered = pool.max_size
    assert lowered < asked
    time.sleep(1.2)  # the pool tries one session more about once a second
    deadline = time.monotonic() + 20
    while pool.max_size <= lowered and time.monotonic() < deadline:
        with faulty.shim.faults("C_Sign latency_us=2000"):
            assert all(o is True for o in _hammer(faulty, 6, 40))
    assert pool.max_size > lowered


NO_SESSION_AT_ALL = """
import sys, threading, time
import p11
from p11._native import SessionPool
from p11.errors import SessionCount
shim, label, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
lib = p11.load(shim)
token = lib.get_token(label=label)
for r in range(rounds):
    pool = SessionPool(lib.module, token.slot.id, max_size=4)
    outcomes = []
    def borrow():
        started = time.monotonic()
        try:
            pool.give_back(pool.borrow())
            outcomes.append(("borrowed", 0.0))
        except SessionCount as exc:
            kind = "SessionCount" if "holds none to wait for" in str(exc) else "other"
            outcomes.append((kind, time.monotonic() - started))
        except BaseException as exc:
            outcomes.append((type(exc).__name__, 0.0))
    threads = [threading.Thread(target=borrow) for _ in range(6)]
    for t in threads: t.start()
    for t in threads: t.join(30)
    assert not any(t.is_alive() for t in threads), "a borrower hangs"
    assert pool.waiting == 0 and pool.size == 0, (pool.waiting, pool.size)
    pool.close()
    print(" ".join(f"{kind}:{took:.2f}" for kind, took in outcomes), flush=True)
"""


def test_no_session_to_wait_for_raises_session_count_after_a_bounded_wait(softhsm: SoftHSM) -> None:
    """The pool holds no session and the token refuses every one (other programs hold them): each of 6 borrowers
    (4 slots, so 2 wait in the queue) gets SessionCount within a few seconds, in a child with a time limit, over
    several rounds: never a hang, never another error."""
    shim = build()
    env = {**os.environ, **softhsm.env, "P11_FAULT_MODULE": softhsm.module_path,
           "P11_FAULT_CONFIG": "C_OpenSession error=SESSION_COUNT"}
    proc = python(NO_SESSION_AT_ALL, str(shim), softhsm.label, "3", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rounds = [line.split() for line in proc.stdout.splitlines()]
    assert len(rounds) == 3
    for outcomes in rounds:
        assert len(outcomes) == 6
        kinds = {o.split(":")[0] for o in outcomes}
        assert kinds == {"SessionCount"}, outcomes
        assert max(float(o.split(":")[1]) for o in outcomes) < 10.0, outcomes
