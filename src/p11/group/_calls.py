"""Calls that a caller waits for at most ``call_timeout`` seconds: why the group runs its calls in threads of its own.

A member can hang rather than fail: an HSM whose server is stopped (SIGSTOP, a frozen VM) keeps its TCP connection
open, and ``p11-kit-client.so`` waits on it with no timeout of its own. A C call cannot be interrupted, so a caller
making it itself would wait as long as the member does. The group therefore hands each call to one of its call
threads and waits for it at most ``call_timeout``; past that the caller gets :class:`MemberTimeout` (a member
failure: the member is taken out and a harmless call is tried on another member), and the call thread stays with the
hung call until the member answers. The member's call stays counted in flight until then (its bound keeps further
calls away, and the prober leaves it alone: a probe would queue behind the hung call).

Call threads are daemon threads (a process whose HSM hangs can still exit), started when none is idle and ended
after a minute without work.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from p11 import errors

__all__ = ["CallThreads", "MemberTimeout"]

R = TypeVar("R")
_IDLE_SECONDS = 60.0


class MemberTimeout(errors.P11Error, TimeoutError):
    """A member did not answer a call within the group's ``call_timeout``: the member is taken out; the call still
    runs there (a C call cannot be stopped), and its result, when it comes, is dropped."""


class _Job(Generic[R]):
    __slots__ = ("call", "done", "error", "finish", "result")

    def __init__(self, call: Callable[[], R], finish: Callable[[], None]) -> None:
        self.call = call
        self.finish = finish  # runs when the call has ended, whether the caller still waits or not
        self.done = threading.Event()
        self.result: R | None = None
        self.error: BaseException | None = None


class CallThreads:
    """The group's call threads (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job[Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def run(self, call: Callable[[], R], timeout: float, finish: Callable[[], None], what: Callable[[], str]) -> R:
        """``call()`` in a call thread; its result or exception, or :class:`MemberTimeout` after ``timeout`` s
        (``what()`` names the member). ``finish()`` runs in the call thread once ``call`` has ended, always."""
        job: _Job[R] = _Job(call, finish)
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1  # that idle thread takes this job
            self._jobs.put(job)
        if start:
            try:
                threading.Thread(target=self._work, name="p11-group-call", daemon=True).start()
            except BaseException:
                with self._lock:  # no thread for it: the job is dropped from the count of waiting work
                    self._idle += 1
                raise
        if not job.done.wait(timeout):
            raise MemberTimeout(f"{what()} did not answer within {timeout:g} s (call_timeout)")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0 and self._jobs.empty():
                        self._idle -= 1  # no caller counts on this thread: it ends
                        return
                continue
            try:
                job.result = job.call()
            except BaseException as exc:  # handed to the caller, who raises it
                job.error = exc
            finally:
                try:
                    job.finish()
                finally:
                    job.done.set()
                    with self._lock:
                        self._idle += 1
