"""How fast a call runs, one rule for ``p11 bench`` and ``python -m benchmarks``: warm up, then count calls for a
fixed wall time per round, in rounds, from one or more threads; the figure is the median round.

Counting iterations measures start-up (the first calls, a cold cache, a page fault) as much as the call; a time
budget measures the call. The clock is read once per *chunk* of calls, the chunk sized from the warm-up to take
about a millisecond, so reading it costs nothing measurable even for the fastest call. Several workloads run on
as many threads, started together at a barrier; a round's figure is all their operations over the wall time from
the first start to the last end.

Imports nothing of p11 (and nothing compiled): the benchmark children of other bindings use it too.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CHUNK_SECONDS", "Round", "Workload", "calibrate", "measure", "measure_rounds", "median", "warmup_seconds"]

#: About how long one chunk of calls between two clock reads takes.
CHUNK_SECONDS = 0.001


def _nothing() -> None:
    """Nothing to release: what a workload that holds nothing closes."""
    return None


@dataclass
class Workload:
    """One thread's share: ``call()`` does ``ops_per_call`` operations (more than one for a batch);
    ``close()`` releases what the workload holds (a session, an event loop)."""

    call: Callable[[], object]
    ops_per_call: int = 1
    close: Callable[[], None] = field(default=_nothing)


@dataclass(frozen=True)
class Round:
    """One round: ``ops`` operations in ``seconds`` of wall time."""

    ops: int
    seconds: float

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.ops / self.seconds if self.seconds > 0 else 0.0


def _run_for(work: Workload, chunk: int, seconds: float) -> tuple[int, float, float]:
    """Call ``work`` in chunks until ``seconds`` have passed: (operations done, start, end)."""
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
    """Warm ``work`` up for ``seconds``; the chunk size (calls) that takes about :data:`CHUNK_SECONDS`."""
    ops, start, end = _run_for(work, 1, seconds)
    per_call = (end - start) / max(1, ops // work.ops_per_call)
    return max(1, int(CHUNK_SECONDS / per_call))


def warmup_seconds(seconds: float) -> float:
    """The warm-up before a measurement of ``seconds``: an eighth of it, between 0.05 and 0.25 s."""
    return min(0.25, max(0.05, seconds / 8))


def measure_rounds(works: list[Workload], seconds: float, rounds: int) -> list[Round]:
    """Each round of ``seconds / rounds``, all workloads together (one thread each), after a warm-up."""
    if not works:
        raise ValueError("measure needs at least one workload")
    if seconds <= 0 or rounds < 1:
        raise ValueError(f"measure needs seconds > 0 and rounds >= 1, not {seconds!r} and {rounds!r}")
    warmup = warmup_seconds(seconds)
    chunks = [calibrate(w, warmup) for w in works]
    per_round = seconds / rounds
    results: list[Round] = []
    for _ in range(rounds):
        if len(works) == 1:
            ops, start, end = _run_for(works[0], chunks[0], per_round)
            results.append(Round(ops, end - start))
            continue
        done = _run_threads(works, chunks, per_round)
        total_ops = sum(ops for ops, _, _ in done)
        wall = max(end for _, _, end in done) - min(start for _, start, _ in done)
        results.append(Round(total_ops, wall))
    return results


def measure(works: list[Workload], seconds: float, rounds: int) -> list[float]:
    """Operations per second of each round (see :func:`measure_rounds`)."""
    return [r.rate for r in measure_rounds(works, seconds, rounds)]


def _run_threads(works: list[Workload], chunks: list[int], seconds: float) -> list[tuple[int, float, float]]:
    """One round, one thread per workload, started together at a barrier: (ops, start, end) of each."""
    outcomes: list[tuple[int, float, float] | BaseException] = [RuntimeError("thread did not run")] * len(works)
    barrier = threading.Barrier(len(works))

    def worker(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = _run_for(works[i], chunks[i], seconds)
        except BaseException as exc:  # re-raised in the calling thread below
            outcomes[i] = exc
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done: list[tuple[int, float, float]] = []
    for outcome in outcomes:
        if isinstance(outcome, threading.BrokenBarrierError):
            continue  # another thread failed first: its error is raised below
        if isinstance(outcome, BaseException):
            raise outcome
        done.append(outcome)
    if len(done) != len(works):
        raise RuntimeError("a measuring thread failed")
    return done


def median(values: list[float]) -> float:
    """The median of the rounds' rates: the figure ``p11 bench`` and the benchmarks report (one slow round, a
    neighbour's burst, does not move it)."""
    return statistics.median(values)
