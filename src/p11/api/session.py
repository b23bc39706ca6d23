"""``Session``: one Cryptoki session on a token, as a context manager, and the door to its objects.

A session runs one operation at a time (Cryptoki keeps the state of a running sign, digest or search in the
session), so every call through it holds the session's lock: threads may share a session safely, they just take
turns. Threads that want to work in parallel open one session each.

Its life-cycle (open, close, ``with``, the close of a session dropped without ``close()``) is one piece of C,
``p11._native._SessionBase`` (native/session.pxi); what the key operations do through it is its channel
(:mod:`p11.api.channel`).

Login state belongs to the token, not the session (Cryptoki logs in the whole application at once): see
:meth:`p11.Token.open`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from p11 import defaults, lowlevel
from p11._native import SessionPool, Template, create_object, find_objects, gate_closed
from p11._native import generate_random as _generate_random
from p11.api.channel import ExplicitChannel, PooledChannel, closed_error, closed_or, refuse, stale_error
from p11.api.objects import Key, Object, PrivateKey, PublicKey, SecretKey, object_for
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass, UserType
from p11.encodings.attributes import describe, raw_template, template
from p11.errors import LibraryStateError, MultipleObjects, NoSuchObject, PoolClosed, SessionError
from p11.lowlevel.types import SessionInfo
from p11.ops import operations
from p11.ops.keygen import key_templates, keypair_templates

if TYPE_CHECKING:
    from p11.api.owners import TokenParts as Token
    from p11.mechanisms import Parameters

__all__ = ["ObjectSearch", "PooledSession", "Session"]

_KEY_CLASSES = (ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY)


# Session's fields and life-cycle live in C (p11._native._SessionBase, kept out of the stub): see there.
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
        __slots__ = ("__weakref__", "_channel", "_gate", "_handle", "_lock", "_number", "rw", "token")

        token: Token
        rw: bool
        _handle: int  # 0 (CK_INVALID_HANDLE) once closed: the closed flag
        _number: int  # the handle, kept for repr
        _gate: int  # the call gate of the generation the session was opened in
        _channel: Any
        # Every call through the session runs inside ``with session._lock:`` and reads ``session.handle`` there:
        # an RLock here, a pooled session held by the thread in :class:`PooledSession` (hence ``Any``).
        _lock: Any

        @property
        def closed(self) -> bool:
            """True once closed, and for a session opened before ``fork()`` or a re-initialisation of its module."""

        def close(self) -> None:
            """Close the session (``C_CloseSession``). Closing the token's last session logs it out, as Cryptoki
            does. Closing twice is harmless; closing a session of an earlier generation calls nothing."""

        def __enter__(self) -> Session: ...

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            """close()."""

    else:
        __slots__ = ()  # the same fields and methods, in C: _SessionBase's (made by Token.open)

    # -- life cycle ------------------------------------------------------------------------------------------

    @property
    def handle(self) -> int:
        """The ``CK_SESSION_HANDLE``; using a closed session raises ``SessionClosed``, and so does using one opened
        before ``fork()`` or a re-initialisation of its module (its number may name another session now)."""
        handle = self._handle
        if not handle:
            raise closed_error()
        if gate_closed(self._gate):
            raise stale_error()
        return handle

    @property
    def _module(self) -> lowlevel.ModuleGeneration:
        """The token's lowlevel module, for the calls that are not hot paths, pinned to this session's generation:
        once it ends, a call is refused rather than reach the next one, where the handle may name another session."""
        return self.token.library.module.at(self._gate)

    @property
    def channel(self) -> ExplicitChannel | PooledChannel:
        """What the key operations (``p11.ops``) do through this session: bound one-crossing calls, batches,
        the session held for a multi-part operation (:class:`p11.interfaces.ChannelLike`)."""
        channel = self._channel
        if channel is None:  # made on first use (closing drops it again: it refers to the session)
            channel = self._channel = ExplicitChannel(self)
        return channel  # type: ignore[no-any-return]

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
        module = self.token.library.module
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
            return _generate_random(self._gate, self._handle or refuse(), n)
        except (SessionError, LibraryStateError) as exc:
            raise closed_or(exc, self) from None
        finally:
            lock.release()

    def seed_random(self, data: Any) -> None:
        """Mix ``data`` into the token's generator (many tokens, SoftHSM among them, accept and ignore it)."""
        with self._lock:
            self._module.C_SeedRandom(self.handle, data)

    def digest(self, data: Any, mechanism: Mechanism | Parameters = Mechanism.SHA256) -> bytes:
        """A digest computed on the token: ``data`` bytes, or an iterable of chunks / binary file (multi-part)."""
        return operations.digest(self, data, mechanism)


class PooledSession(Session):
    """The token's session pool in the place of a :class:`Session`: what keys and objects found without an
    explicit session (``token.get_key(...)``, ``token.find(...)``) are bound to.

    Every call borrows a session from the token's :class:`p11.SessionPool` for its duration and gives it
    back, so such objects work from any thread without session handling; the key operations (``sign``,
    ``verify``, ``encrypt``, ``decrypt``, their ``_many`` and ``_async`` forms) go straight to the pool, one
    crossing each (:class:`p11.api.channel.PooledChannel`). Inside ``with session._lock:`` the calling thread holds
    one borrowed session (re-entrant: a nested block uses the same one) and :attr:`handle` names it. Closing it does
    nothing: the pool belongs to the token (:meth:`p11.Token.close_pool`, or closing the library, closes it).

    A session object (``CKA_TOKEN`` false) made through the pool lives as long as the pooled session it was made
    on, which stays in the pool until the pool closes (or the session dies).
    """

    __slots__ = {"channel": "The token's pool as a channel (:class:`p11.api.channel.PooledChannel`)."}

    channel: PooledChannel  # a plain attribute (the operations read it on every call), where Session has a property

    def __init__(self, token: Token, pool: SessionPool) -> None:  # no Session of its own
        self.token = token
        self.rw = pool.rw
        self._handle = 0
        self._number = 0
        self.channel = PooledChannel(token, pool)

    @property
    def _pool(self) -> SessionPool:
        """The token's pool now (``token.login()`` replaces it: read it afresh)."""
        return self.channel.pool

    @property
    def _gate(self) -> int:  # type: ignore[override]
        """The call gate: inside ``with session._lock:`` the held session's (its generation's), else the token's
        current one (the pool outlives fork() and re-initialisation, so never a copy)."""
        return self.channel.gate

    @property
    def _module(self) -> lowlevel.ModuleGeneration:
        """Inside ``with session._lock:``, the module's functions of the generation of the session this thread
        holds (see :attr:`Session._module`); outside, the current generation's."""
        return self.channel.module

    @property
    def _lock(self) -> Any:
        return self.channel.hold()

    @property
    def handle(self) -> int:
        """The pooled session the calling thread holds inside ``with session._lock:``."""
        handle: int = self.channel.local.handle
        if handle:
            return handle
        if self._pool.closed:
            raise PoolClosed("the token's session pool is closed")
        raise RuntimeError("a pooled session has a handle only inside `with session._lock:`")

    @property
    def closed(self) -> bool:
        """Whether the pool is closed."""
        return bool(self._pool.closed)

    @property
    def pool(self) -> SessionPool:
        """The token's session pool."""
        return self._pool

    def close(self) -> None:
        """Nothing to do: the pool belongs to the token (see :meth:`p11.Token.close_pool`)."""

    def generate_random(self, n: int) -> bytes:
        return self._pool.generate_random(n)

    def __repr__(self) -> str:
        return f"<PooledSession {self._pool!r} on token {self.token.label!r}>"


def _stamped(obj: Object, generation: int) -> Object:
    """``obj``, made for a handle found in the module's ``generation``: when that has ended since, the object is
    marked as from it, so it finds itself again by identity (or raises StaleObject) instead of trusting the number."""
    if obj._gen != generation:
        obj._gen = generation
    return obj


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
            self._generation = session.token.library.module.generation  # what the handles found are valid in
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
