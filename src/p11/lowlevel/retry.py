"""The one retry rule of the low-level layer: read-only slot and token queries are asked again, a few times, when
the module answers with an error that a moment later is gone.

Why: SoftHSM keeps each token in files that every login rewrites; a process that reads them at that moment
(several processes starting at once on one store, as the README recommends for throughput) gets
``CKR_GENERAL_ERROR`` from ``C_GetTokenInfo`` and friends. These calls change nothing, so asking again is safe.

What is retried: the functions decorated with :func:`read_only` (``C_GetInfo``, ``C_GetSlotList``,
``C_GetSlotInfo``, ``C_GetTokenInfo``, ``C_GetMechanismList``, ``C_GetMechanismInfo``, ``C_GetSessionInfo``),
and only for :data:`TRANSIENT` return values; at most :data:`ATTEMPTS` calls in all, sleeping
:data:`FIRST_DELAY` seconds, doubling, in between (under half a second in all). The last error is raised as is.

When the retries do not help and the answer may mean the module lost its device (a network HSM restarted), the
module's health check hears of it (:mod:`p11.lowlevel.health`); if that starts a new generation, the call is made
once more.

What is not: calls that change state or count (``C_Login`` may count a wrong PIN, ``C_InitToken`` destroys
objects): their errors are the caller's. A token that SoftHSM missed while reading its store in
``C_Initialize`` is no error at all, just absent: :meth:`p11.Library.get_token` looks again for that
(see :meth:`p11.lowlevel.Module.reinitialize_unused`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

from p11._cffi import lib
from p11.errors import CryptokiError
from p11.lowlevel.health import renewing

__all__ = ["ATTEMPTS", "FIRST_DELAY", "TRANSIENT", "read_only", "with_retries"]

#: Return values worth asking again about: the module failed for a reason of the moment (a file being written).
TRANSIENT: Final = frozenset(
    int(getattr(lib, name)) for name in ("CKR_GENERAL_ERROR", "CKR_FUNCTION_FAILED", "CKR_DEVICE_ERROR")
)
ATTEMPTS: Final = 6
# The read-only calls whose first argument is a slot (what the health check probes).
_SLOT_FIRST: Final = frozenset({"C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo"})
FIRST_DELAY: Final = 0.005

P = ParamSpec("P")
R = TypeVar("R")


def with_retries(call: Callable[[], R], attempts: int = ATTEMPTS, first_delay: float = FIRST_DELAY) -> R:
    """``call()``, again after a short sleep while it raises a :data:`TRANSIENT` Cryptoki error, ``attempts``
    times at most; the last error propagates."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except CryptokiError as exc:
            if exc.rv not in TRANSIENT or attempt == attempts:
                raise
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def read_only(method: Callable[P, R]) -> Callable[P, R]:
    """Mark a low-level call as read-only: :func:`with_retries` runs it. When it still fails with an answer that may
    mean a lost device, the module's health check hears of it, and if that starts a new generation the call is
    made once more (:func:`p11.lowlevel.health.renewing`: a read-only query holds no handle to go stale)."""
    takes_slot = method.__name__ in _SLOT_FIRST

    @functools.wraps(method)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        slot = args[1] if takes_slot and len(args) > 1 and isinstance(args[1], int) else None
        return renewing(args[0] if args else None, lambda: with_retries(lambda: method(*args, **kwargs)), slot)

    retried.read_only = True  # type: ignore[attr-defined]  # the mark (outer functools.wraps copy it along)
    return retried
