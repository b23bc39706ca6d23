"""Timing inside a child process: warm up, then count calls for a fixed wall time per round, in 1-2 threads.

An implementation hands the harness a :class:`Workload` per thread: a zero-argument callable doing one
call (``ops_per_call`` ops, more than one for batch APIs) on a session of its own. The harness reads the
clock once per *chunk* of calls, the chunk sized from the warm-up to take about a millisecond, so clock
reads cost nothing measurable even for the fastest ops.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

CHUNK_SECONDS = 0.001


def _nothing() -> None:
    return None


@dataclass
class Workload:
    """One thread's share of an op: ``call()`` does ``ops_per_call`` ops; ``close()`` releases its session."""

    call: Callable[[], object]
    ops_per_call: int = 1
    close: Callable[[], None] = field(default=_nothing)


@dataclass(frozen=True)
class Target:
    """Which module and token to use; children get it from the environment the runner sets."""

    module_path: str
    token_label: str
    user_pin: str = field(repr=False)

    ENV_MODULE = "P11_BENCH_MODULE"
    ENV_TOKEN = "P11_BENCH_TOKEN"
    ENV_PIN = "P11_BENCH_PIN"  # in the environment, not argv: argv shows in `ps`

    def as_env(self) -> dict[str, str]:
        return {
            self.ENV_MODULE: self.module_path,
            self.ENV_TOKEN: self.token_label,
            self.ENV_PIN: self.user_pin,
        }

    @classmethod
    def from_env(cls) -> Target:
        try:
            return cls(os.environ[cls.ENV_MODULE], os.environ[cls.ENV_TOKEN], os.environ[cls.ENV_PIN])
        except KeyError as exc:
            raise RuntimeError(f"{exc.args[0]} is not set: run measurements through `python -m benchmarks`") from None


class Binding(Protocol):
    """One implementation, set up (library loaded, user logged in) against the target token.

    ``workload(op)`` opens whatever session the op needs and returns the callable; it is called once per
    thread, so each thread gets its own session. An op listed in ``SELF_THREADED`` runs its own threads
    inside one call (e.g. ``sign_many(..., workers=2)``); the harness then drives it from one thread.
    """

    OPS: frozenset[str]
    SELF_THREADED: frozenset[str]

    def __init__(self, target: Target) -> None: ...

    def workload(self, op: str) -> Workload: ...

    def close(self) -> None: ...


def _run_for(work: Workload, chunk: int, seconds: float) -> tuple[int, float, float]:
    """Call ``work`` in chunks until ``seconds`` have passed; return (ops done, start, end)."""
    call = work.call
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(chunk):
            call()
        calls += chunk
        now = time.perf_counter()
        if now >= deadline:
            return calls * work.ops_per_call, start, now


def calibrate(work: Workload, seconds: float) -> int:
    """Warm ``work`` up for ``seconds`` and return a chunk size taking about CHUNK_SECONDS."""
    ops, start, end = _run_for(work, 1, seconds)
    per_call = (end - start) / max(1, ops // work.ops_per_call)
    return max(1, int(CHUNK_SECONDS / per_call))


def measure(works: list[Workload], seconds: float, rounds: int) -> list[float]:
    """Ops/s of each round, all threads together: one thread per workload, ``seconds`` split over rounds."""
    warmup = min(0.25, max(0.05, seconds / 8))
    chunks = [calibrate(w, warmup) for w in works]
    per_round = seconds / rounds
    results: list[float] = []
    for _ in range(rounds):
        if len(works) == 1:
            ops, start, end = _run_for(works[0], chunks[0], per_round)
            results.append(ops / (end - start))
            continue
        done = _run_threads(works, chunks, per_round)
        total_ops = sum(ops for ops, _, _ in done)
        wall = max(end for _, _, end in done) - min(start for _, start, _ in done)
        results.append(total_ops / wall)
    return results


def _run_threads(works: list[Workload], chunks: list[int], seconds: float) -> list[tuple[int, float, float]]:
    """One round, one thread per workload, started together at a barrier; (ops, start, end) of each."""
    outcomes: list[tuple[int, float, float] | BaseException] = [RuntimeError("thread did not run")] * len(works)
    barrier = threading.Barrier(len(works))

    def worker(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = _run_for(works[i], chunks[i], seconds)
        except BaseException as exc:  # re-raised in the calling thread below
            outcomes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done: list[tuple[int, float, float]] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        done.append(outcome)
    return done


def median(values: list[float]) -> float:
    return statistics.median(values)
