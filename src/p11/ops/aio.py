"""The ``*_async`` forms of the key operations: asyncio, in one place.

Every ``*_async`` method of a key runs its synchronous form on a thread of the pool its session uses (the token's
:class:`p11._native.SessionPool`, whose ``run_async`` hands the call to a native worker and the result back to the
running event loop), so the loop never blocks on the token. Signatures are the exception worth an exception: the
``sign_async`` awaits of one loop turn for one key and mechanism are gathered into one ``sign_many`` (below).
"""

from __future__ import annotations

import asyncio  # already loaded by p11._native: no start-up cost
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from p11.errors import PoolClosed

if TYPE_CHECKING:
    from p11.interfaces import KeyLike

__all__ = ["run_async", "sign_async"]

_T = TypeVar("_T")


def run_async(key: KeyLike, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> Awaitable[_T]:
    """``fn(*args, **kwargs)`` on one of the threads of the pool the key's session uses (the token's): an
    awaitable for the running event loop, which never blocks on the token; at most ``pool.max_size`` run at
    once, the rest queue. When that pool is closed, the error is the one the call itself would raise: the key's
    ``StaleObject`` when its library was closed, else ``PoolClosed``."""
    try:
        result: Awaitable[_T] = key.session.channel.executor().run_async(fn, *args, **kwargs)
    except PoolClosed:
        _ = key.handle  # raises StaleObject for a key of a closed library, as key.sign() would
        raise
    return result


# -- awaits that arrive together run together ----------------------------------------------------------------------
# Each ``sign_async`` handed to the pool's threads on its own costs a Future and two thread handoffs in Python, and
# with n awaits in flight those handoffs, not the token, set the pace (0.7 of n/latency on a 1 ms token). So the
# awaits one event-loop turn starts for one key and mechanism are gathered and signed by ONE ``sign_many`` on the
# pool's native workers (up to ``pool.max_size`` sessions at once, the same bound), each await getting its own
# signature or its own exception. A lone await, or data that is not ``bytes``, takes the ordinary path.

_GATHERING: dict[Any, dict[tuple[int, Any], tuple[KeyLike, list[bytes], list[Any]]]] = {}


def sign_async(key: KeyLike, data: Any, mechanism: Any) -> Awaitable[bytes]:
    """``key.sign(data, mechanism)`` for a running event loop, gathered with the other signatures asked of the same
    key and mechanism in this loop turn (see above)."""
    group = (id(key), mechanism)
    try:
        loop = asyncio.get_running_loop()
        hash(group)
    except (RuntimeError, TypeError):  # no loop (run_async says so), or a mechanism object that cannot be a key
        loop = None
    if loop is None or type(data) is not bytes:  # a stream, or nothing to gather with: the ordinary path
        return run_async(key, key.sign, data, mechanism)  # type: ignore[attr-defined]
    waiting = _GATHERING.setdefault(loop, {})
    batch = waiting.get(group)
    if batch is None:
        batch = waiting[group] = (key, [], [])
        loop.call_soon(_sign_gathered, loop, group)
    future = loop.create_future()
    batch[1].append(data)
    batch[2].append(future)
    return future


def _sign_gathered(loop: Any, group: tuple[int, Any]) -> None:
    """The loop turn's callback: hand the gathered awaits of one key and mechanism to the pool as one batch. It runs
    inside the event loop, so nothing may escape it: if the batch cannot even start (the pool or library was closed
    meanwhile), every await gets that error, the one the synchronous call raises."""
    waiting = _GATHERING.get(loop, {})
    key, messages, futures = waiting.pop(group)
    if not waiting:
        _GATHERING.pop(loop, None)
    mechanism = group[1]
    try:
        if len(messages) == 1:
            inner = run_async(key, key.sign, messages[0], mechanism)  # type: ignore[attr-defined]
        else:
            workers = min(len(messages), key.session.channel.executor().max_size)
            inner = run_async(key, key.sign_many, messages, mechanism, workers=workers, on_error="return")  # type: ignore[attr-defined]
    except Exception as exc:
        for future in futures:
            if not future.done():
                future.set_exception(exc)
        return
    inner.add_done_callback(lambda done: _hand_out(done, futures))  # type: ignore[attr-defined]


def _hand_out(done: Any, futures: list[Any]) -> None:
    """Each await gets its own signature or exception; a failure of the whole call reaches every await."""
    failure = done.exception() if not done.cancelled() else None
    results = None if failure is not None or done.cancelled() else done.result()
    if not isinstance(results, list):
        results = [results] * len(futures)
    for future, result in zip(futures, results, strict=True):
        if future.done():  # cancelled by its awaiter meanwhile
            continue
        if done.cancelled():
            future.cancel()
        elif failure is not None:
            future.set_exception(failure)
        elif isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
