"""Fork a child and wait for it, with a watchdog: what the fork tests (tests/lifetime, tests/open) do again and again,
in the test run and in the child interpreters they start (``from tests.support.forking import fork_and_wait``, run
from the checkout)."""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable

__all__ = ["fork_and_wait"]


def fork_and_wait(work: Callable[[], int], timeout: float | None = None) -> int | None:
    """Run ``work`` in a child of ``os.fork()``, which exits with what ``work`` returns (70, its traceback on stderr,
    when it raises), and wait for it: its exit code, ``-N`` when signal ``N`` ended it, or None when it still ran
    after ``timeout`` seconds (it is then killed with SIGKILL and reaped: a hang is a failure, never a stuck run).
    No ``timeout``: wait as long as it takes."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: nothing may return into the caller's code
        code = 70
        try:
            code = work()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    if timeout is None:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # our own child, by the pid fork gave us
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)
