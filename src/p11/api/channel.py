"""A session's channel: the one way the operations (:mod:`p11.ops`) reach the token through a session.

A key operation needs four things of its session and nothing more, and this module is where they live for both
kinds of session: a one-crossing call bound to a mechanism and key (:meth:`~ExplicitChannel.bind`), a batch
(:meth:`~ExplicitChannel.batch`), the session held for a multi-part operation (:meth:`~ExplicitChannel.hold`, and
:meth:`~ExplicitChannel.exclusive` for one that may be suspended), and the pool whose threads run the ``*_async``
forms. An :class:`ExplicitChannel` calls through its :class:`~p11.Session` (its lock, its handle, its generation's
call gate); a :class:`PooledChannel` through the token's :class:`~p11._native.SessionPool` (each call borrows a
session in C). The operations see either through :class:`p11.interfaces.ChannelLike`.

The bound calls are the hot path (``key.sign`` after its first call is one of them plus one crossing into C), so
they are closures over everything they need, one shape per call signature, made from one table (:data:`_OPS`):
``call(data)`` for sign, encrypt, decrypt and digest, ``call(data, signature)`` for verify.

Nothing outside :mod:`p11.api` imports this module (an import-linter contract): sessions hand it out as
``session.channel``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from p11._cffi import lib
from p11._native import (
    MAX_POOL_SIZE,
    SessionPool,
    decrypt_many,
    encrypt_many,
    gate_closed,
    sign_many,
    verify_many,
)
from p11._native import decrypt as _decrypt
from p11._native import digest as _digest
from p11._native import encrypt as _encrypt
from p11._native import get_attributes as _get_attributes
from p11._native import sign as _sign
from p11._native import verify as _verify
from p11.errors import CryptokiError, LibraryStateError, PoolClosed, SessionError, error_class
from p11.lowlevel.marshal import size_arg

if TYPE_CHECKING:
    from p11._native import Mechanism as NativeMechanism
    from p11.api.owners import SessionParts, TokenParts
    from p11.lowlevel.module import ModuleGeneration

__all__ = ["ExplicitChannel", "PooledChannel", "closed_error", "closed_or", "refuse"]

_CKR_SESSION_CLOSED = int(lib.CKR_SESSION_CLOSED)
_STALE = (
    "this p11 Session was opened before fork() or before its module was finalised, closed or started again (a new "
    "generation after a lost device); open a new session"
)


def _explicit_digest(gate: int, session: int, mechanism: Any, key: int, data: Any, out_len: int) -> bytes:
    """The table's shape for a digest, which takes no key."""
    return _digest(gate, session, mechanism, data, out_len)


def _pooled_digest(pool: SessionPool, mechanism: Any, key: int, data: Any, out_len: int, gate: int) -> bytes:
    return pool.digest(mechanism, data, out_len, gate)


class _Op(NamedTuple):
    """How one operation crosses: the native function an explicit session calls (``gate, session, mechanism, key,
    data, out_len``), the :class:`SessionPool` method a pooled one calls (``pool, mechanism, key, data, out_len,
    gate``), whether the output's size follows the input's (``input``: encrypt adds ``size`` to it, decrypt nothing)
    or is ``size`` (sign, digest: 0 asks), and whether it takes a per-use PIN (``CKA_ALWAYS_AUTHENTICATE``)."""

    explicit: Callable[..., bytes]
    pooled: Callable[..., bytes]
    sized_by_input: bool
    adds_size: bool
    per_use: bool


_OPS: dict[str, _Op] = {
    "sign": _Op(_sign, SessionPool.sign, False, False, True),
    "encrypt": _Op(_encrypt, SessionPool.encrypt, True, True, False),
    "decrypt": _Op(_decrypt, SessionPool.decrypt, True, False, True),
    "digest": _Op(_explicit_digest, _pooled_digest, False, False, False),
}

_BATCHES: dict[str, Callable[..., list[Any]]] = {
    "sign_many": sign_many,
    "verify_many": verify_many,
    "encrypt_many": encrypt_many,
    "decrypt_many": decrypt_many,
}


def _row(op: str, pin: Any) -> _Op:
    row = _OPS.get(op)
    if row is None:
        raise ValueError(f"no one-crossing {op!r}: sign, verify, encrypt, decrypt or digest")
    if pin is not None and not row.per_use:
        raise ValueError(f"{op} takes no per-use PIN (only sign and decrypt do)")
    return row


# -- errors of an explicit session ------------------------------------------------------------------------------


def refuse() -> int:
    """What a call on a closed session (handle 0, CK_INVALID_HANDLE) gets instead of reaching the module."""
    raise closed_error()


def closed_error(detail: str = "this p11 Session was closed") -> CryptokiError:
    """``SessionClosed`` saying why."""
    return error_class(_CKR_SESSION_CLOSED)(_CKR_SESSION_CLOSED, None, detail)


def stale_error() -> CryptokiError:
    """``SessionClosed`` for a session of an ended generation of its module."""
    return closed_error(_STALE)


def closed_or(exc: CryptokiError, session: SessionParts) -> CryptokiError:
    """What a failed call on ``session`` raises: ``SessionClosed`` saying why when the session is closed or from an
    earlier generation of its module (the call was refused or named a dead handle), else the error itself."""
    if not session._handle:
        return closed_error()
    if gate_closed(session._gate):
        return stale_error()
    return exc


# -- an explicit session ----------------------------------------------------------------------------------------


class ExplicitChannel:
    """The channel of an explicit :class:`~p11.Session`. Each call holds the session's lock for its crossing and
    reads the session's handle there: a closed session has handle 0 (CK_INVALID_HANDLE), which ``handle or
    refuse()`` turns into ``SessionClosed`` before anything reaches the module (one truth test), so no key handle of
    a closed session ever reaches the token. Calls go through the session's own call gate, which a new generation
    closes: a key handle bound to it is refused there, never handed to another generation."""

    __slots__ = ("_ref",)

    pooled = False

    def __init__(self, session: SessionParts) -> None:
        # Weakly: the session keeps its channel, and a session dropped without close() must end (C_CloseSession,
        # and the log-out of the token's last session) when its last reference goes, not when the cycle
        # collector finds a session <-> channel cycle. The bound calls hold the session itself.
        self._ref = weakref.ref(session)

    @property
    def _session(self) -> SessionParts:
        session = self._ref()
        if session is None:  # only the channel was kept: its session was dropped, and that closed it
            raise closed_error()
        return session

    @property
    def gate(self) -> int:
        """The call gate of the session's generation (read it before an object handle: see ChannelLike)."""
        return self._session._gate

    def bind(
        self, op: str, mechanism: NativeMechanism, key: int, size: int, gate: int | None = None, pin: Any = None
    ) -> Callable[..., Any]:
        """The one-crossing ``op`` (``"sign"``, ``"verify"``, ``"encrypt"``, ``"decrypt"``, ``"digest"``) with
        ``mechanism`` and ``key`` on this session: ``call(data)``, or ``call(data, signature)`` for verify.
        ``size`` is the output size (sign: the signature's, 0 to ask) or what encryption adds to the input's size.
        ``gate`` is ignored: an explicit session calls through its own gate. ``pin`` (sign, decrypt): the per-use
        login of a key that needs its PIN for every use, made in C after each Init."""
        session = self._session
        gate = session._gate
        lock = session._lock
        acquire, release = lock.acquire, lock.release
        if op == "verify":
            verify = _verify

            def call_verify(data: Any, signature: Any) -> bool:
                acquire()
                try:
                    return verify(gate, session._handle or refuse(), mechanism, key, data, signature)
                except (SessionError, LibraryStateError) as exc:
                    raise closed_or(exc, session) from None
                finally:
                    release()

            return call_verify
        row = _row(op, pin)
        fn = row.explicit if pin is None else partial(row.explicit, pin=pin)
        sized, extra = row.sized_by_input, (size if row.adds_size else 0)

        def call(data: Any) -> bytes:
            acquire()
            try:
                return fn(gate, session._handle or refuse(), mechanism, key, data, len(data) + extra if sized else size)
            except (SessionError, LibraryStateError) as exc:
                raise closed_or(exc, session) from None
            finally:
                release()

        return call

    def batch(self, name: str, workers: int | None, *args: Any, **kwargs: Any) -> list[Any]:
        """``p11._native.<name>`` (``sign_many`` …) on this session, or with ``workers`` other than 1 on
        sessions of a private pool (object handles are the same in every session of the application). Either way
        the session is held (its lock) and must be open: a closed one raises ``SessionClosed`` before anything
        reaches the token, as every other call on it does, and closing it waits for the batch."""
        kwargs.pop("gate", None)  # the session's own gate is the one (see bind)
        session = self._session
        lock = session._lock
        lock.acquire()
        try:
            handle = session.handle  # SessionClosed (saying why) for a closed session or one of an ended generation
            if workers == 1:
                result: list[Any] = _BATCHES[name](session._gate, handle, *args, **kwargs)
                return result
            # Several sessions for one batch: a private pool for this call only, closed after it. (The token's
            # shared pool would outlive this session and keep the application logged in after its last session
            # closed.) Its sessions share this session's login, as every session of the application does, and its
            # gate is this session's: a pool session of another generation is refused.
            token = session.token
            if workers is not None:  # named as the caller named it (the pool would call it max_size)
                workers = size_arg(workers, "workers", 1, MAX_POOL_SIZE)
            pool = SessionPool(token.library.module, token.slot.id, max_size=workers, rw=session.rw)
            try:
                pooled: list[Any] = getattr(pool, name)(*args, workers=workers, gate=session._gate, **kwargs)
            finally:
                pool.close()
            return pooled
        except (SessionError, LibraryStateError) as exc:
            raise closed_or(exc, session) from None
        finally:
            lock.release()

    def get_attributes(self, obj: int, kinds: Any, gate: int | None = None) -> dict[Any, Any]:
        """One batched ``C_GetAttributeValue`` of object ``obj`` on the session (``gate`` as in :meth:`bind`)."""
        session = self._session
        lock = session._lock
        lock.acquire()
        try:
            return _get_attributes(session._gate, session._handle or refuse(), obj, kinds)
        except (SessionError, LibraryStateError) as exc:
            raise closed_or(exc, session) from None
        finally:
            lock.release()

    def hold(self) -> AbstractContextManager[tuple[int, ModuleGeneration]]:
        """``with channel.hold() as (handle, module):`` the session's lock for a multi-call operation, its handle
        and the module's functions of its generation (a closed session raises ``SessionClosed``)."""
        return _Held(self._session)

    exclusive = hold  # an explicit session held by a suspended generator is held all the same

    def executor(self) -> SessionPool:
        """The pool whose threads run this session's ``*_async`` calls: the token's."""
        return self._session.token.pool


class _Held:
    """The lock of an explicit session held for a block, giving its handle and its generation's functions."""

    __slots__ = ("_session",)

    def __init__(self, session: SessionParts) -> None:
        self._session = session

    def __enter__(self) -> tuple[int, ModuleGeneration]:
        session = self._session
        session._lock.acquire()
        try:
            return session.handle, session._module
        except BaseException:
            session._lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self._session._lock.release()


# -- the token's pool -------------------------------------------------------------------------------------------


class _Local(threading.local):
    """The pooled session a thread holds inside ``with channel.hold():`` (0: none) and its gate. Class defaults, so
    reading them in a thread that never set them costs no AttributeError."""

    handle: int = 0
    gate: int = 0


class PooledChannel:
    """The channel of the token's :class:`SessionPool` (what keys and objects found without an explicit session
    use): every call borrows a session for its crossing and gives it back, in C, recovering from a dead session.

    Each call reads ``pool`` afresh: ``token.login()`` may replace the pool while calls run. A call that met the old
    pool already closed goes once more to the new one (the operations are idempotent), so a re-login never fails
    calls in flight. Every call names the gate the key handle was read under (the caller's ``gate``, else the
    current one, read before anything else): after the module starts a new generation the pool refuses it rather
    than let the old handle name whatever it names there."""

    __slots__ = ("_token", "local", "pool")

    pooled = True

    def __init__(self, token: TokenParts, pool: SessionPool) -> None:
        self._token = token
        self.pool = pool
        self.local = _Local()  # the session this thread holds, inside hold()

    @property
    def gate(self) -> int:
        """Inside ``hold()`` the held session's gate (its generation's), else the token's current one (the pool
        outlives fork() and re-initialisation, so never a copy)."""
        return self.local.gate or self._token._gate

    @property
    def module(self) -> ModuleGeneration:
        """Inside ``hold()``, the module's functions of the generation of the session this thread holds; outside,
        the current generation's."""
        module = self._token.library.module
        return module.at(self.local.gate or module.gate_address)

    def bind(
        self, op: str, mechanism: NativeMechanism, key: int, size: int, gate: int | None = None, pin: Any = None
    ) -> Callable[..., Any]:
        """As :meth:`ExplicitChannel.bind`, on a pooled session for each call; ``gate``: the call gate ``key`` was
        read under (default: the current one)."""
        channel = self
        if gate is None:
            gate = self.gate
        if op == "verify":

            def call_verify(data: Any, signature: Any) -> bool:
                pool = channel.pool
                try:
                    return pool.verify(mechanism, key, data, signature, gate)
                except PoolClosed:
                    if channel.pool is pool:
                        raise
                    return channel.pool.verify(mechanism, key, data, signature, gate)

            return call_verify
        row = _row(op, pin)
        fn = row.pooled if pin is None else partial(row.pooled, pin=pin)
        sized, extra = row.sized_by_input, (size if row.adds_size else 0)

        def call(data: Any) -> bytes:
            pool = channel.pool
            out_len = len(data) + extra if sized else size
            try:
                return fn(pool, mechanism, key, data, out_len, gate)
            except PoolClosed:  # never borrowed a session (so a per-use PIN was not used): once more on the new pool
                if channel.pool is pool:
                    raise
                return fn(channel.pool, mechanism, key, data, out_len, gate)

        return call

    def batch(self, name: str, workers: int | None, *args: Any, **kwargs: Any) -> list[Any]:
        """``SessionPool.<name>`` (``sign_many`` …) with ``workers``; ``gate`` among the keywords (default: the
        current one)."""
        if kwargs.get("gate") is None:
            kwargs["gate"] = self.gate
        pool = self.pool
        try:
            result: list[Any] = getattr(pool, name)(*args, workers=workers, **kwargs)
        except PoolClosed:
            if self.pool is pool:
                raise
            result = getattr(self.pool, name)(*args, workers=workers, **kwargs)
        return result

    def get_attributes(self, obj: int, kinds: Any, gate: int | None = None) -> dict[Any, Any]:
        """Every attribute read of a pooled object comes here (``obj[...]``, ``key.key_type``, ``object_for``,
        ``obj.get_attributes``): the pool's one C path borrows, reads, recovers from a dead session or a lost login
        (re-login with a kept PIN) and gives back, so the object recovers the same way however it is read.
        ``gate``: the call gate ``obj`` was read under; a session of another generation is refused."""
        held: int = self.local.handle
        if held:  # inside hold() in this thread: use that session (the pool may be bound to 1)
            return _get_attributes(self.gate if gate is None else gate, held, obj, kinds)
        result: dict[Any, Any] = self.pool.get_attributes(obj, kinds, gate)
        return result

    def hold(self) -> AbstractContextManager[tuple[int, ModuleGeneration]]:
        """``with channel.hold() as (handle, module):`` a pooled session for the block, held by this thread
        (re-entrant: a nested block, and every call of this thread meanwhile, uses the same one)."""
        return _Borrowed(self, True)

    def exclusive(self) -> AbstractContextManager[tuple[int, ModuleGeneration]]:
        """``with channel.exclusive() as (handle, module):`` a session borrowed for a block that may be suspended
        (a generator): not the thread's held session, as the block may resume in another thread."""
        return _Borrowed(self, False)

    def executor(self) -> SessionPool:
        """The pool whose threads run the ``*_async`` calls: this one."""
        return self.pool


class _Borrowed:
    """A pooled session borrowed for a block, with the module's functions of its generation: held by the calling
    thread (``held``, :meth:`PooledChannel.hold`: re-entrant, and every call of the thread meanwhile uses it), or not
    (:meth:`PooledChannel.exclusive`: a generator's block may resume in another thread)."""

    __slots__ = ("_channel", "_held", "_inner")

    def __init__(self, channel: PooledChannel, held: bool) -> None:
        self._channel = channel
        self._held = held
        self._inner: Any = None

    def __enter__(self) -> tuple[int, ModuleGeneration]:
        channel = self._channel
        local = channel.local
        if self._held and local.handle:
            return local.handle, channel.module  # this thread holds one already
        inner = channel.pool.session()
        handle: int = inner.__enter__()
        self._inner = inner
        if self._held:
            local.handle = handle
            local.gate = inner.gate
        return handle, channel._token.library.module.at(inner.gate)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            if self._held:
                local = self._channel.local
                local.handle = 0
                local.gate = 0
            inner.__exit__(exc_type, exc, tb)  # gives it back, or discards it when exc says it is dead
