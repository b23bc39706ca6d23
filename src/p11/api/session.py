"""``Session``: one Cryptoki session on a token, as a context manager, and the door to its objects.

A session runs one operation at a time (Cryptoki keeps the state of a running sign, digest or search in the
session), so every call through it holds the session's lock: threads may share a session safely, they just take
turns. Threads that want to work in parallel open one session each.

Login state belongs to the token, not the session (Cryptoki logs in the whole application at once): see
:meth:`p11.Token.open`.
"""

from __future__ import annotations

import _thread
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from p11 import defaults, lowlevel
from p11._cffi import lib
from p11._native import (
    MAX_POOL_SIZE,
    SessionPool,
    Template,
    create_object,
    decrypt_many,
    encrypt_many,
    find_objects,
    sign_many,
    verify_many,
)
from p11._native import Mechanism as NativeMechanism
from p11._native import close_owned_session as _close_session
from p11._native import decrypt as _decrypt
from p11._native import digest as _digest
from p11._native import encrypt as _encrypt
from p11._native import generate_random as _generate_random
from p11._native import get_attributes as _get_attributes
from p11._native import sign as _sign
from p11._native import verify as _verify
from p11.api.objects import Key, Object, PrivateKey, PublicKey, SecretKey, object_for
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass, UserType
from p11.encodings.attributes import describe, raw_template, template
from p11.errors import (
    CryptokiError,
    LibraryStateError,
    MultipleObjects,
    NoSuchObject,
    PoolClosed,
    SessionError,
    error_class,
)
from p11.lowlevel.marshal import size_arg
from p11.lowlevel.types import SessionInfo
from p11.ops import operations
from p11.ops.keygen import key_templates, keypair_templates

if TYPE_CHECKING:
    from p11.interfaces import TokenLike as Token
    from p11.mechanisms import Parameters

__all__ = ["ObjectSearch", "PooledSession", "Session"]

_KEY_CLASSES = (ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY)
_CKR_SESSION_CLOSED = int(lib.CKR_SESSION_CLOSED)
_RLock = _thread.RLock
_SINGLE = {"sign": _sign, "encrypt": _encrypt, "decrypt": _decrypt}
_PER_USE = {"sign": _sign, "decrypt": _decrypt}  # what a key that needs its PIN on every use does with it


def _per_use(op: str) -> Callable[..., bytes]:
    """The one-crossing function of ``op`` that takes a per-use PIN (sign and decrypt: CKA_ALWAYS_AUTHENTICATE)."""
    fn = _PER_USE.get(op)
    if fn is None:
        raise ValueError(f"{op} takes no per-use PIN (only sign and decrypt do)")
    return fn
_BATCHES: dict[str, Callable[..., list[Any]]] = {
    "sign_many": sign_many,
    "verify_many": verify_many,
    "encrypt_many": encrypt_many,
    "decrypt_many": decrypt_many,
}


# Session's fields and drop-time close live in C (p11._native._SessionBase, kept out of the stub): see there.
if TYPE_CHECKING:
    _SessionBase = object
else:
    from p11._native import _SessionBase  # kept out of the _native stub


class Session(_SessionBase):
    """An open session. Use it as a context manager (closed on exit) or call :meth:`close`.

    ``.token``, ``.handle``, ``.rw``, ``.closed``; objects: :meth:`find`, :meth:`get_object`, :meth:`get_key`,
    :meth:`create_object`; keys: :meth:`generate_key`, :meth:`generate_keypair`; :meth:`digest`,
    :meth:`generate_random`, :meth:`seed_random`; :meth:`login`/:meth:`logout`.
    """

    if TYPE_CHECKING:
        __slots__ = ("__weakref__", "_gate", "_handle", "_lock", "_number", "rw", "token")
    else:
        __slots__ = ()  # the same fields, in C: _SessionBase's

    token: Token
    rw: bool
    _handle: int
    _number: int
    _gate: Any

    # Every call through the session runs inside ``with session._lock:`` and reads ``session.handle`` there: an
    # RLock here, a borrowed pool session in :class:`PooledSession` (hence ``Any``).
    _lock: Any

    def __init__(self, token: Token, handle: int, rw: bool) -> None:
        # (_session_open in native/ops.pxi, Token.open's fast path, repeats these lines: keep the two in step.)
        self.token = token
        self.rw = rw
        # 0 (CK_INVALID_HANDLE) once closed: that is the closed flag, and a call through it fails, never reaching a
        # session opened later. _number keeps the handle for repr.
        self._handle = self._number = handle
        self._gate = token._gate
        self._lock = _RLock()

    # -- life cycle ------------------------------------------------------------------------------------------

    @property
    def handle(self) -> int:
        """The ``CK_SESSION_HANDLE``; using a closed session raises ``SessionClosed``, and so does using one opened
        before ``fork()`` or a re-initialisation of its module (its number may name another session now)."""
        handle = self._handle
        if not handle:
            raise _closed_error()
        if self._gate != self.token._gate:
            raise _closed_error(_STALE)
        return handle

    @property
    def _closed(self) -> bool:
        return not self._handle or self._gate != self.token._gate

    @property
    def _module(self) -> lowlevel.ModuleGeneration:
        """The token's lowlevel module, for the calls that are not hot paths, pinned to this session's generation:
        once it ends, a call is refused rather than reach the next one, where the handle may name another session."""
        return self.token._module.at(self._gate)

    @property
    def closed(self) -> bool:
        """True once closed, and for a session opened before ``fork()`` or a re-initialisation of its module."""
        return not self._handle or self._gate != self.token._gate

    def close(self) -> None:
        """Close the session (``C_CloseSession``). Closing the token's last session logs it out, as Cryptoki
        does. Closing twice is harmless; closing a session of an earlier generation calls nothing."""
        if self._gate != self.token._gate:
            handle, self._handle = self._handle, 0
            self.token._live.discard(handle)
            return
        lock = self._lock
        lock.acquire()  # waits for a call running on the session in another thread
        handle = self._handle
        self._handle = 0
        lock.release()
        if handle:
            try:
                _close_session(self._gate, handle)
            finally:
                # Not under the session's lock: Token._login takes the token's lock, then the session's.
                live = self.token._live
                live.discard(handle)
                if not live:
                    self.token._all_closed()

    if TYPE_CHECKING:

        def __enter__(self) -> Session: ...

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            """close()."""

    # (At run time both come from _SessionBase, in C: `with token.open(): pass` is a hot path where every Python
    # frame shows. A session dropped without close() is closed by _SessionBase's deallocator.)

    def _exclusive(self) -> contextlib.AbstractContextManager[tuple[int, lowlevel.ModuleGeneration]]:
        """``with session._exclusive() as (handle, module):`` the session for one multi-call operation that may be
        suspended in between (a generator), and the module's functions of its generation: nothing else runs on the
        handle until the block ends."""
        return _Exclusive(self)

    # -- one-crossing calls for the objects and keys of this session (p11._native) ------------------------------
    # Each holds the session's lock for the crossing only. A closed session has handle 0 (CK_INVALID_HANDLE):
    # ``handle or _refuse()`` raises SessionClosed for it without calling the module (one truth test), so no key
    # handle of a closed session ever reaches the token.
    # The closures below repeat one shape per operation on purpose: each is the whole Python cost of a key
    # operation (~0.3 us against ~8 us of HMAC), and a shared *args wrapper would add a call to every one.

    def _get_attributes(self, obj: int, kinds: Any, gate: int | None = None) -> dict[Any, Any]:
        lock = self._lock
        lock.acquire()
        try:
            return _get_attributes(self._gate, self._handle or _refuse(), obj, kinds)
        except (SessionError, LibraryStateError) as exc:
            raise _closed_or(exc, self) from None
        finally:
            lock.release()

    def _bind(
        self, op: str, mechanism: NativeMechanism, key: int, size: int, gate: int | None = None, pin: Any = None
    ) -> Callable[..., Any]:
        """The one-crossing ``op`` (``"sign"``, ``"verify"``, ``"encrypt"``, ``"decrypt"``, ``"digest"``) with
        ``mechanism`` and ``key`` on this session: ``call(data)``, or ``call(data, signature)`` for verify.
        ``size`` is the signature size (sign) or what encryption adds to the input's size (encrypt); 0: unknown.
        ``gate``: the call gate ``key`` was read under (:attr:`_gate` before reading the handle); an explicit
        session calls through its own gate, which a new generation closes, so it needs no other.
        ``pin`` (sign, decrypt): the per-use login of a key that needs its PIN for every use, in the same crossing."""
        if pin is not None:
            return self._bind_per_use(op, mechanism, key, size, pin)
        gate = self._gate
        lock = self._lock
        acquire, release = lock.acquire, lock.release
        session = self
        if op == "verify":
            verify = _verify

            def call_verify(data: Any, signature: Any) -> bool:
                acquire()
                try:
                    return verify(gate, session._handle or _refuse(), mechanism, key, data, signature)
                except (SessionError, LibraryStateError) as exc:
                    raise _closed_or(exc, session) from None
                finally:
                    release()

            return call_verify
        if op == "digest":
            digest = _digest

            def call_digest(data: Any) -> bytes:
                acquire()
                try:
                    return digest(gate, session._handle or _refuse(), mechanism, data)
                except (SessionError, LibraryStateError) as exc:
                    raise _closed_or(exc, session) from None
                finally:
                    release()

            return call_digest
        fn = _SINGLE[op]
        if op == "sign":

            def call_sign(data: Any) -> bytes:
                acquire()
                try:
                    return fn(gate, session._handle or _refuse(), mechanism, key, data, size)
                except (SessionError, LibraryStateError) as exc:
                    raise _closed_or(exc, session) from None
                finally:
                    release()

            return call_sign
        extra = size if op == "encrypt" else 0

        def call_crypt(data: Any) -> bytes:
            acquire()
            try:
                return fn(gate, session._handle or _refuse(), mechanism, key, data, len(data) + extra)
            except (SessionError, LibraryStateError) as exc:
                raise _closed_or(exc, session) from None
            finally:
                release()

        return call_crypt

    def _bind_per_use(self, op: str, mechanism: NativeMechanism, key: int, size: int, pin: Any) -> Callable[..., Any]:
        """``sign``/``decrypt`` that log in with ``pin`` after each Init (:mod:`p11.ops.context_login`). Not a hot
        path: the token checks a PIN per call (on a card, in tens of milliseconds)."""
        fn = _per_use(op)
        gate = self._gate
        lock = self._lock
        session = self

        def call_per_use(data: Any) -> bytes:
            with lock:
                try:
                    return fn(gate, session._handle, mechanism, key, data, size if op == "sign" else len(data), pin)
                except (SessionError, LibraryStateError) as exc:
                    raise _closed_or(exc, session) from None

        return call_per_use

    def _batch(self, name: str, workers: int | None, *args: Any, **kwargs: Any) -> list[Any]:
        """``p11._native.<name>`` (``sign_many`` …) on this session, or with ``workers`` other than 1 on
        sessions of a private pool (object handles are the same in every session of the application). Either way
        the session is held (its lock) and must be open: a closed one raises ``SessionClosed`` before anything
        reaches the token, as every other call on it does, and closing it waits for the batch."""
        kwargs.pop("gate", None)  # the session's own gate is the one (see _bind)
        lock = self._lock
        lock.acquire()
        try:
            handle = self.handle  # SessionClosed (saying why) for a closed session or one of an ended generation
            if workers == 1:
                result: list[Any] = _BATCHES[name](self._gate, handle, *args, **kwargs)
                return result
            # Several sessions for one batch: a private pool for this call only, closed after it. (The token's
            # shared pool would outlive this session and keep the application logged in after its last session
            # closed.) Its sessions share this session's login, as every session of the application does, and its
            # gate is this session's: a pool session of another generation is refused.
            token = self.token
            if workers is not None:  # named as the caller named it (the pool would call it max_size)
                workers = size_arg(workers, "workers", 1, MAX_POOL_SIZE)
            pool = SessionPool(token._module, token._slot_id, max_size=workers, rw=self.rw)
            try:
                pooled: list[Any] = getattr(pool, name)(*args, workers=workers, gate=self._gate, **kwargs)
            finally:
                pool.close()
            return pooled
        except (SessionError, LibraryStateError) as exc:
            raise _closed_or(exc, self) from None
        finally:
            lock.release()

    def _executor_pool(self) -> SessionPool:
        """The pool whose threads run this session's ``*_async`` calls."""
        return self.token.pool

    def info(self) -> SessionInfo:
        """``C_GetSessionInfo``: state (who is logged in) and flags."""
        with self._lock:
            return self._module.C_GetSessionInfo(self.handle)

    def login(self, pin: str | bytes | None, user_type: UserType = UserType.USER) -> None:
        """Log the token in (every session of this application shares it). Logging in as the user who is already
        logged in is not an error."""
        self.token._login(self, user_type, pin)

    def logout(self) -> None:
        """Log the token out (for every session of this application)."""
        self.token._logout(self)

    def __repr__(self) -> str:
        state = "closed" if not self._handle else ("rw" if self.rw else "ro")
        return f"<Session {self._number} {state} on token {self.token.label!r}>"

    # -- objects ---------------------------------------------------------------------------------------------

    def find(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> ObjectSearch:
        """The objects matching the attributes. The search runs in one crossing when you start iterating
        (``C_FindObjectsInit``, ``C_FindObjects``, ``C_FindObjectsFinal``, GIL released) and the typed objects are
        made as you go; stopping early (``break``, ``close()``, ``with``) leaves nothing active on the session.
        Attributes by keyword (``label="k"``, ``id=b"\\x01"``, ``object_class=ObjectClass.PRIVATE_KEY``,
        ``key_type=KeyType.EC``) and/or a raw ``template`` mapping."""
        tmpl = _search_template(template, attrs)
        return ObjectSearch(self, tmpl)

    def _one(self, tmpl: Mapping[Any, Any] | None, attrs: dict[str, Any], what: str, keys_only: bool) -> Any:
        wanted, prepared = _search(tmpl, attrs)
        cls = wanted.get(Attribute.CLASS)
        limit = 2 if not keys_only or cls is not None else None
        module = self.token._module
        for _ in range(3):  # again if the module started a new generation meanwhile: the handles are of the old
            generation = module.generation
            with self._lock:
                handles = find_objects(self._gate, self.handle, prepared, limit)
            if module.generation == generation:
                break
        if len(handles) == 1 and (not keys_only or cls in _KEY_CLASSES):
            return _stamped(object_for(self, handles[0], cls), generation)
        objects = [_stamped(object_for(self, h, cls), generation) for h in handles]
        if keys_only:
            objects = [o for o in objects if isinstance(o, Key)]
        if len(objects) == 1:
            return objects[0]
        described = describe(wanted)
        if not objects:
            raise NoSuchObject(f"no {what} with {described} on token {self.token.label!r}")
        listed = ", ".join(repr(o) for o in objects[:10])
        raise MultipleObjects(f"{len(objects)} {what}s match {described}: {listed}")

    def get_object(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> Object:
        """The one object matching; ``NoSuchObject`` / ``MultipleObjects`` (listing them) otherwise."""
        return self._one(template, attrs, "object", False)  # type: ignore[no-any-return]

    def get_key(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> Key:
        """The one key (public, private or secret) matching; ``NoSuchObject`` / ``MultipleObjects`` otherwise."""
        return self._one(template, attrs, "key", True)  # type: ignore[no-any-return]

    def create_object(self, attrs: Mapping[Any, Any] | None = None, **kwargs: Any) -> Object:
        """``C_CreateObject`` from ``{Attribute: value}`` (and/or keyword attributes); the typed new object."""
        tmpl = template(attrs, **kwargs)
        with self._lock:
            handle = defaults.create(self.token, lambda t: create_object(self._gate, self.handle, t), tmpl)
        return object_for(self, handle, tmpl.get(Attribute.CLASS))  # type: ignore[no-any-return]

    # -- keys ------------------------------------------------------------------------------------------------

    def generate_key(
        self,
        key_type: KeyType | str,
        bits: int | None = None,
        *,
        label: str | None = None,
        id: bytes | None = None,
        token: bool = True,
        **attrs: Any,
    ) -> SecretKey:
        """A new secret key: ``KeyType.AES`` (128/192/256 bits, default 256), ``KeyType.GENERIC_SECRET`` (HMAC,
        default 256 bits) … Private, sensitive and not extractable unless ``attrs`` say otherwise
        (``extractable=True``); usage flags by type (AES: encrypt/decrypt/wrap/unwrap; HMAC: sign/verify)."""
        mechanism, tmpl = key_templates(self.token, key_type, bits, label, id, token, attrs)
        with self._lock:
            handle = defaults.create(
                self.token, lambda t: self._module.C_GenerateKey(self.handle, mechanism, raw_template(t)), tmpl
            )
        return SecretKey(self, handle, ObjectClass.SECRET_KEY)

    def generate_keypair(
        self,
        key_type: KeyType | str,
        bits: int | None = None,
        *,
        curve: str | None = None,
        public_exponent: int = 65537,
        label: str | None = None,
        id: bytes | None = None,
        token: bool = True,
        public_attrs: Mapping[Any, Any] | None = None,
        private_attrs: Mapping[Any, Any] | None = None,
    ) -> tuple[PublicKey, PrivateKey]:
        """A new key pair: ``KeyType.RSA`` (``bits``, default 2048; ``public_exponent``), ``KeyType.EC``
        (``curve="P-256"`` default, ``"P-384"``, ``"P-521"``, ``"secp256k1"`` …) or ``KeyType.EC_EDWARDS``
        (``curve="ed25519"`` default, ``"ed448"``); ``"ed25519"`` etc. also work as ``key_type``. Both keys get
        the same ``CKA_ID`` (random 16 bytes unless given). The private key is private, sensitive and not
        extractable unless ``private_attrs`` say otherwise."""
        mechanism, pub, priv = keypair_templates(
            self.token, key_type, bits, curve, public_exponent, label, id, token, public_attrs, private_attrs
        )
        with self._lock:
            pub_h, priv_h = defaults.create(
                self.token,
                lambda u, r: self._module.C_GenerateKeyPair(self.handle, mechanism, raw_template(u), raw_template(r)),
                pub,
                priv,
            )
        public = PublicKey(self, pub_h, ObjectClass.PUBLIC_KEY)
        private = PrivateKey(self, priv_h, ObjectClass.PRIVATE_KEY)
        public._key_type = private._key_type = KeyType(pub[Attribute.KEY_TYPE])
        return public, private

    # -- random and digests ----------------------------------------------------------------------------------

    def generate_random(self, n: int) -> bytes:
        """``n`` random bytes from the token's generator (one crossing, written straight into the result); ``n``
        is 0 to 16 MiB (``p11._native.MAX_RANDOM_BYTES``: ask again for more), else ValueError."""
        lock = self._lock
        lock.acquire()
        try:
            return _generate_random(self._gate, self._handle or _refuse(), n)
        except (SessionError, LibraryStateError) as exc:
            raise _closed_or(exc, self) from None
        finally:
            lock.release()

    def seed_random(self, data: Any) -> None:
        """Mix ``data`` into the token's generator (many tokens, SoftHSM among them, accept and ignore it)."""
        with self._lock:
            self._module.C_SeedRandom(self.handle, data)

    def digest(self, data: Any, mechanism: Mechanism | Parameters = Mechanism.SHA256) -> bytes:
        """A digest computed on the token: ``data`` bytes, or an iterable of chunks / binary file (multi-part)."""
        return operations.digest(self, data, mechanism)


class _Exclusive:
    """The lock of a :class:`Session` held for a block, giving its handle."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def __enter__(self) -> tuple[int, lowlevel.ModuleGeneration]:
        session = self._session
        session._lock.acquire()
        try:
            return session.handle, session._module
        except BaseException:
            session._lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self._session._lock.release()


class PooledSession(Session):
    """The token's session pool in the place of a :class:`Session`: what keys and objects found without an
    explicit session (``token.get_key(...)``, ``token.find(...)``) are bound to.

    Every call borrows a session from the token's :class:`p11.SessionPool` for its duration and gives it
    back, so such objects work from any thread without session handling; the key operations (``sign``,
    ``verify``, ``encrypt``, ``decrypt``, their ``_many`` and ``_async`` forms) go straight to the pool, one
    crossing each. Inside ``with session._lock:`` the calling thread holds one borrowed session (re-entrant: a
    nested block uses the same one) and :attr:`handle` names it. Closing it does nothing: the pool belongs to the
    token (:meth:`p11.Token.close_pool`, or closing the library, closes it).

    A session object (``CKA_TOKEN`` false) made through the pool lives as long as the pooled session it was made
    on, which stays in the pool until the pool closes (or the session dies).
    """

    __slots__ = ("_local", "_pool")

    def __init__(self, token: Token, pool: SessionPool) -> None:  # no Session of its own
        self.token = token
        self.rw = pool.rw
        self._handle = 0
        self._number = 0
        self._pool = pool
        self._local = _Held()

    @property
    def _gate(self) -> int:
        """The call gate: inside ``with session._lock:`` the held session's (its generation's), else the token's
        current one (the pool outlives fork() and re-initialisation, so never a copy)."""
        return self._local.gate or self.token._gate

    @property
    def _module(self) -> lowlevel.ModuleGeneration:
        """Inside ``with session._lock:``, the module's functions of the generation of the session this thread
        holds (see :attr:`Session._module`); outside, the current generation's."""
        module = self.token._module
        return module.at(self._local.gate or module.gate_address)

    def __del__(self) -> None:
        pass

    @property
    def _lock(self) -> _Lease:
        return _Lease(self)

    @property
    def handle(self) -> int:
        """The pooled session the calling thread holds inside ``with session._lock:``."""
        handle: int = self._local.handle
        if handle:
            return handle
        if self._pool.closed:
            raise PoolClosed("the token's session pool is closed")
        raise RuntimeError("a pooled session has a handle only inside `with session._lock:`")

    @property
    def closed(self) -> bool:
        return bool(self._pool.closed)

    @property
    def _closed(self) -> bool:
        return bool(self._pool.closed)

    @property
    def pool(self) -> SessionPool:
        return self._pool

    def close(self) -> None:
        """Nothing to do: the pool belongs to the token (see :meth:`p11.Token.close_pool`)."""

    def _exclusive(self) -> contextlib.AbstractContextManager[tuple[int, lowlevel.ModuleGeneration]]:
        return _PooledExclusive(self)

    def _get_attributes(self, obj: int, kinds: Any, gate: int | None = None) -> dict[Any, Any]:
        """Every attribute read of a pooled object comes here (``obj[...]``, ``key.key_type``, ``object_for``,
        ``obj.get_attributes``): the pool's one C path borrows, reads, recovers from a dead session or a lost login
        (re-login with a kept PIN) and gives back, so the object recovers the same way however it is read.
        ``gate``: the call gate ``obj`` was read under; a session of another generation is refused."""
        held: int = self._local.handle
        if held:  # inside `with session._lock:` in this thread: use that session (the pool may be bound to 1)
            return _get_attributes(self._gate if gate is None else gate, held, obj, kinds)
        result: dict[Any, Any] = self._pool.get_attributes(obj, kinds, gate)
        return result

    def _bind(
        self, op: str, mechanism: NativeMechanism, key: int, size: int, gate: int | None = None, pin: Any = None
    ) -> Callable[..., Any]:
        # Each call reads owner._pool afresh: token.login() may replace the pool while calls run. A call that met
        # the old pool already closed goes once more to the new one (the ops are idempotent), so a re-login never
        # fails calls in flight. Every call names the gate the key handle was read under (the caller's ``gate``,
        # else the current one, read before anything else): after the module starts a new generation the pool
        # refuses it rather than let the old handle name whatever it names there.
        owner = self
        gate = self._gate if gate is None else gate
        if pin is not None:
            _per_use(op)

            def call_per_use(data: Any) -> bytes:
                pool = owner._pool
                out_len = size if op == "sign" else len(data)
                try:
                    result: bytes = getattr(pool, op)(mechanism, key, data, out_len, gate, pin)
                except PoolClosed:  # never borrowed a session, so the PIN was not used: once more on the new pool
                    if owner._pool is pool:
                        raise
                    result = getattr(owner._pool, op)(mechanism, key, data, out_len, gate, pin)
                return result

            return call_per_use
        if op == "verify":

            def call_verify(data: Any, signature: Any) -> bool:
                pool = owner._pool
                try:
                    return pool.verify(mechanism, key, data, signature, gate)
                except PoolClosed:
                    if owner._pool is pool:
                        raise
                    return owner._pool.verify(mechanism, key, data, signature, gate)

            return call_verify
        if op == "digest":

            def call_digest(data: Any) -> bytes:
                pool = owner._pool
                try:
                    return pool.digest(mechanism, data, 0, gate)
                except PoolClosed:
                    if owner._pool is pool:
                        raise
                    return owner._pool.digest(mechanism, data, 0, gate)

            return call_digest
        if op == "sign":

            def call_sign(data: Any) -> bytes:
                pool = owner._pool
                try:
                    return pool.sign(mechanism, key, data, size, gate)
                except PoolClosed:
                    if owner._pool is pool:
                        raise
                    return owner._pool.sign(mechanism, key, data, size, gate)

            return call_sign
        if op == "encrypt":

            def call_encrypt(data: Any) -> bytes:
                pool = owner._pool
                try:
                    return pool.encrypt(mechanism, key, data, len(data) + size, gate)
                except PoolClosed:
                    if owner._pool is pool:
                        raise
                    return owner._pool.encrypt(mechanism, key, data, len(data) + size, gate)

            return call_encrypt

        def call_decrypt(data: Any) -> bytes:
            pool = owner._pool
            try:
                return pool.decrypt(mechanism, key, data, len(data), gate)
            except PoolClosed:
                if owner._pool is pool:
                    raise
                return owner._pool.decrypt(mechanism, key, data, len(data), gate)

        return call_decrypt

    def _batch(self, name: str, workers: int | None, *args: Any, **kwargs: Any) -> list[Any]:
        if kwargs.get("gate") is None:
            kwargs["gate"] = self._gate
        pool = self._pool
        try:
            result: list[Any] = getattr(pool, name)(*args, workers=workers, **kwargs)
        except PoolClosed:
            if self._pool is pool:
                raise
            result = getattr(self._pool, name)(*args, workers=workers, **kwargs)
        return result

    def _executor_pool(self) -> SessionPool:
        return self._pool

    def generate_random(self, n: int) -> bytes:
        return self._pool.generate_random(n)

    def __repr__(self) -> str:
        return f"<PooledSession {self._pool!r} on token {self.token.label!r}>"


class _Held(threading.local):
    """The pooled session a thread holds inside ``with pooled_session._lock:`` (0: none) and its gate. Class
    defaults, so reading them in a thread that never set them costs no AttributeError."""

    handle: int = 0
    gate: int = 0


class _PooledExclusive:
    """``PooledSession._exclusive()``: a session borrowed for a block that may be suspended (a generator), with the
    module's functions of its generation. Not the thread's held session: the block may resume in another thread."""

    __slots__ = ("_inner", "_owner")

    def __init__(self, owner: PooledSession) -> None:
        self._owner = owner
        self._inner: Any = None

    def __enter__(self) -> tuple[int, lowlevel.ModuleGeneration]:
        inner = self._owner._pool.session()
        handle: int = inner.__enter__()
        self._inner = inner
        return handle, self._owner.token._module.at(inner.gate)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.__exit__(exc_type, exc, tb)


class _Lease:
    """``with pooled_session._lock:``: a pooled session for the block, re-entrant within one thread."""

    __slots__ = ("_inner", "_owner")

    def __init__(self, owner: PooledSession) -> None:
        self._owner = owner
        self._inner: Any = None

    def __enter__(self) -> int:
        local = self._owner._local
        handle: int = local.handle
        if handle:
            return handle  # this thread holds one already
        inner = self._owner._pool.session()
        handle = inner.__enter__()
        self._inner = inner
        local.handle = handle
        local.gate = inner.gate
        return handle

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        inner = self._inner
        if inner is not None:
            self._inner = None
            self._owner._local.handle = 0
            self._owner._local.gate = 0
            inner.__exit__(exc_type, exc, tb)  # gives it back, or discards it when exc says it is dead


_STALE = (
    "this p11 Session was opened before fork() or before its module was finalised, closed or started again (a new "
    "generation after a lost device); open a new session"
)


def _stamped(obj: Object, generation: int) -> Object:
    """``obj``, made for a handle found in the module's ``generation``: when that has ended since, the object is
    marked as from it, so it finds itself again by identity (or raises StaleObject) instead of trusting the number."""
    if obj._gen != generation:
        obj._gen = generation
    return obj


def _refuse() -> int:
    """What a call on a closed session (handle 0, CK_INVALID_HANDLE) gets instead of reaching the module."""
    raise _closed_error()


def _closed_error(detail: str = "this p11 Session was closed") -> CryptokiError:
    return error_class(_CKR_SESSION_CLOSED)(_CKR_SESSION_CLOSED, None, detail)


def _closed_or(exc: CryptokiError, session: Session) -> CryptokiError:
    """What a failed call on ``session`` raises: ``SessionClosed`` saying why when the session is closed or from an
    earlier generation of its module (the call was refused or named a dead handle), else the error itself."""
    if not session._handle:
        return _closed_error()
    if session._gate != session.token._gate:
        return _closed_error(_STALE)
    return exc


# Keyword searches already prepared (get_key(label=..., object_class=...) in a loop): the attribute template and
# its C form, built once. Keyed by the keywords and values as given; unhashable values are not cached.
_SEARCHES: dict[tuple[tuple[str, Any], ...], tuple[dict[Attribute, Any], Template]] = {}
_SEARCHES_MAX = 256


def _search(tmpl: Mapping[Any, Any] | None, attrs: dict[str, Any]) -> tuple[dict[Attribute, Any], Template]:
    """The search template for keyword attributes and/or a raw ``template``, and its prepared C form."""
    if tmpl is None:
        key = tuple(attrs.items())
        try:
            found = _SEARCHES.get(key)
        except TypeError:  # an unhashable value (a bytearray id …): prepare it afresh
            key = ()
            found = None
        if found is not None:
            return found
        wanted = _search_template(None, attrs)
        found = (wanted, Template(wanted))
        if key:
            if len(_SEARCHES) >= _SEARCHES_MAX:
                _SEARCHES.clear()
            _SEARCHES[key] = found
        return found
    wanted = _search_template(tmpl, attrs)
    return wanted, Template(wanted)


def _search_template(tmpl: Mapping[Any, Any] | None, attrs: Mapping[str, Any]) -> dict[Attribute, Any]:
    if tmpl is not None and not isinstance(tmpl, Mapping):
        raise TypeError(f"template must be a mapping of attributes to values, not {type(tmpl).__name__}")
    return template(tmpl, **attrs)


class ObjectSearch(Iterator[Any]):
    """An object search (what :meth:`Session.find` returns): iterate it, or ``close()`` it / use ``with`` to stop.

    The search itself is one crossing into ``p11._native`` when iteration starts (``C_FindObjectsInit``, the
    ``C_FindObjects`` loop and ``C_FindObjectsFinal``, with the GIL released), so no search is ever left active on
    the session: another search, or any other call, may run on the session while you iterate. The typed objects
    are made as you iterate."""

    def __init__(self, session: Session, tmpl: dict[Attribute, Any]) -> None:
        self._session = session
        self._template = tmpl
        self._class = tmpl.get(Attribute.CLASS)
        self._handles: deque[int] | None = None  # None until the search ran
        self._generation = 0
        self._done = False

    def __iter__(self) -> ObjectSearch:
        return self

    def __next__(self) -> Any:
        session = self._session
        handles = self._handles
        if handles is None:
            if self._done:
                raise StopIteration
            self._generation = session.token._module.generation  # what the handles found are valid in
            with session._lock:
                handles = self._handles = deque(find_objects(session._gate, session.handle, self._template))
        if not handles:
            self._done = True
            raise StopIteration
        # Made as you iterate, perhaps after the module started a new generation: each object knows the one its
        # handle is from, and finds itself again (or says it is stale) rather than trust the number.
        return _stamped(object_for(session, handles.popleft(), self._class), self._generation)

    def close(self) -> None:
        """Stop: iterating further yields nothing."""
        self._done = True
        if self._handles is not None:
            self._handles.clear()

    def __enter__(self) -> ObjectSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
