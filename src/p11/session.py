"""``Session``: one Cryptoki session on a token, as a context manager, and the door to its objects.

A session runs one operation at a time (Cryptoki keeps the state of a running sign, digest or search in the
session), so every call through it holds the session's lock: threads may share a session safely, they just take
turns. Threads that want to work in parallel open one session each.

Login state belongs to the token, not the session (Cryptoki logs in the whole application at once): see
:meth:`p11.token.Token.open`.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from p11 import _native, operations
from p11._cffi import lib
from p11.attributes import raw_template, template
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass, UserType
from p11.errors import MultipleObjects, NoSuchObject, error_class
from p11.keygen import key_templates, keypair_templates
from p11.lowlevel.types import SessionInfo
from p11.objects import Key, Object, PrivateKey, PublicKey, SecretKey, object_for

if TYPE_CHECKING:
    from p11.mechanisms import Parameters
    from p11.token import Token

__all__ = ["ObjectSearch", "Session"]

_FIND_BATCH = 64
_KEY_CLASSES = (ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY)
_CKR_SESSION_CLOSED = int(lib.CKR_SESSION_CLOSED)


class Session:
    """An open session. Use it as a context manager (closed on exit) or call :meth:`close`.

    ``.token``, ``.handle``, ``.rw``, ``.closed``; objects: :meth:`find`, :meth:`get_object`, :meth:`get_key`,
    :meth:`create_object`; keys: :meth:`generate_key`, :meth:`generate_keypair`; :meth:`digest`,
    :meth:`generate_random`, :meth:`seed_random`; :meth:`login`/:meth:`logout`.
    """

    def __init__(self, token: Token, handle: int, rw: bool) -> None:
        self.token = token
        self.rw = rw
        self._handle = int(handle)
        self._module = token.library.module
        self._fl = self._module.function_list_address
        self._lock = threading.RLock()
        self._closed = False
        self._search: weakref.ref[ObjectSearch] | None = None
        # A session dropped without close() still ends on the token (not at interpreter exit: C_Finalize does it).
        self._finalizer = weakref.finalize(self, _close_dropped, self._module, self._handle, token)
        self._finalizer.atexit = False

    # -- life cycle ------------------------------------------------------------------------------------------

    @property
    def handle(self) -> int:
        """The ``CK_SESSION_HANDLE``; using a closed session raises ``SessionClosed``."""
        if self._closed:
            raise error_class(_CKR_SESSION_CLOSED)(_CKR_SESSION_CLOSED, None, "this p11 Session was closed")
        return self._handle

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the session (``C_CloseSession``). Closing the token's last session logs it out, as Cryptoki
        does. Closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._finalizer.detach()
        try:
            with self._lock:
                self._module.C_CloseSession(self._handle)
        finally:
            # Not under the session's lock: Token._login takes the token's lock, then the session's.
            self.token._session_closed()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        state = "closed" if self._closed else ("rw" if self.rw else "ro")
        return f"<Session {self._handle} {state} on token {self.token.label!r}>"

    # -- objects ---------------------------------------------------------------------------------------------

    def find(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> ObjectSearch:
        """The objects matching the attributes, lazily: a search runs on the token while you iterate
        (``C_FindObjects`` in batches) and ends (``C_FindObjectsFinal``) when exhausted, when you stop early
        (``break``, ``close()``, ``with``), or when another search starts on this session (the rest is then read
        at once, so both iterations stay correct). Attributes by keyword (``label="k"``, ``id=b"\\x01"``,
        ``object_class=ObjectClass.PRIVATE_KEY``, ``key_type=KeyType.EC``) and/or a raw ``template`` mapping."""
        tmpl = _search_template(template, attrs)
        return ObjectSearch(self, tmpl)

    def _detach_search(self) -> None:
        """Make room for a new search: a lazy one still running on this session reads its rest and ends."""
        running = self._search() if self._search is not None else None
        if running is not None:
            running._detach()

    def _one(self, tmpl: dict[Attribute, Any], what: str, keys_only: bool) -> Any:
        limit = 2 if not keys_only or Attribute.CLASS in tmpl else None
        with self._lock:
            self._detach_search()
            handles = _native.find_objects(self._fl, self.handle, tmpl, limit)
        objects = [object_for(self, h, tmpl.get(Attribute.CLASS)) for h in handles]
        if keys_only:
            objects = [o for o in objects if isinstance(o, Key)]
        described = ", ".join(f"{k}={v!r}" for k, v in tmpl.items()) or "no attributes"
        if not objects:
            raise NoSuchObject(f"no {what} with {described} on token {self.token.label!r}")
        if len(objects) > 1:
            listed = ", ".join(repr(o) for o in objects[:10])
            raise MultipleObjects(f"{len(objects)} {what}s match {described}: {listed}")
        return objects[0]

    def get_object(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> Object:
        """The one object matching; ``NoSuchObject`` / ``MultipleObjects`` (listing them) otherwise."""
        return self._one(_search_template(template, attrs), "object", False)  # type: ignore[no-any-return]

    def get_key(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> Key:
        """The one key (public, private or secret) matching; ``NoSuchObject`` / ``MultipleObjects`` otherwise."""
        return self._one(_search_template(template, attrs), "key", True)  # type: ignore[no-any-return]

    def create_object(self, attrs: Mapping[Any, Any] | None = None, **kwargs: Any) -> Object:
        """``C_CreateObject`` from ``{Attribute: value}`` (and/or keyword attributes); the typed new object."""
        tmpl = template(attrs, **kwargs)
        with self._lock:
            handle = _native.create_object(self._fl, self.handle, tmpl)
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
            handle = self._module.C_GenerateKey(self.handle, mechanism, raw_template(tmpl))
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
            pub_h, priv_h = self._module.C_GenerateKeyPair(
                self.handle, mechanism, raw_template(pub), raw_template(priv)
            )
        public = PublicKey(self, pub_h, ObjectClass.PUBLIC_KEY)
        private = PrivateKey(self, priv_h, ObjectClass.PRIVATE_KEY)
        public._key_type = private._key_type = KeyType(pub[Attribute.KEY_TYPE])
        return public, private

    # -- random and digests ----------------------------------------------------------------------------------

    def generate_random(self, n: int) -> bytes:
        """``n`` random bytes from the token's generator."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            return self._module.C_GenerateRandom(self.handle, n)

    def seed_random(self, data: Any) -> None:
        """Mix ``data`` into the token's generator (many tokens, SoftHSM among them, accept and ignore it)."""
        with self._lock:
            self._module.C_SeedRandom(self.handle, data)

    def digest(self, data: Any, mechanism: Mechanism | Parameters = Mechanism.SHA256) -> bytes:
        """A digest computed on the token: ``data`` bytes, or an iterable of chunks / binary file (multi-part)."""
        return operations.digest(self, data, mechanism)


def _close_dropped(module: Any, handle: int, token: Token) -> None:
    with contextlib.suppress(Exception):  # the module may be gone, or the handle already invalid
        module.C_CloseSession(handle)
    token._session_closed()


def _search_template(tmpl: Mapping[Any, Any] | None, attrs: Mapping[str, Any]) -> dict[Attribute, Any]:
    if tmpl is not None and not isinstance(tmpl, Mapping):
        raise TypeError(f"template must be a mapping of attributes to values, not {type(tmpl).__name__}")
    return template(tmpl, **attrs)


class ObjectSearch(Iterator[Any]):
    """A running object search (what :meth:`Session.find` returns): iterate it, or ``close()`` it / use ``with``
    to end it early. Ending, exhausting or garbage-collecting it calls ``C_FindObjectsFinal``."""

    def __init__(self, session: Session, tmpl: dict[Attribute, Any]) -> None:
        self._session = session
        self._template = tmpl
        self._class = tmpl.get(Attribute.CLASS)
        self._buffer: deque[int] = deque()
        self._state = "new"  # new -> active -> done (or detached: the rest is in _buffer)

    def _start(self) -> None:
        session = self._session
        with session._lock:
            session._detach_search()
            session._module.C_FindObjectsInit(session.handle, raw_template(self._template))
            session._search = weakref.ref(self)
            self._state = "active"

    def _detach(self) -> None:
        """Another search needs the session: read the rest of this one now, then end it on the token."""
        if self._state != "active":
            return
        session = self._session
        try:
            while True:
                batch = session._module.C_FindObjects(session.handle, _FIND_BATCH)
                if not batch:
                    break
                self._buffer.extend(batch)
        finally:
            self._finish()
        self._state = "detached"

    def _finish(self) -> None:
        session = self._session
        if self._state == "active":
            self._state = "done"
            if session._search is not None and session._search() is self:
                session._search = None
            if not session.closed:
                session._module.C_FindObjectsFinal(session.handle)

    def __iter__(self) -> ObjectSearch:
        return self

    def __next__(self) -> Any:
        session = self._session
        with session._lock:
            if self._state == "new":
                self._start()
            if not self._buffer and self._state == "active":
                try:
                    batch = session._module.C_FindObjects(session.handle, _FIND_BATCH)
                except BaseException:
                    self._finish()
                    raise
                if batch:
                    self._buffer.extend(batch)
                else:
                    self._finish()
            if not self._buffer:
                self._state = "done"  # exhausted: a detached search has nothing left either
                raise StopIteration
            handle = self._buffer.popleft()
        return object_for(session, handle, self._class)

    def close(self) -> None:
        """End the search now (``C_FindObjectsFinal``); iterating further yields nothing."""
        with self._session._lock:
            self._buffer.clear()
            if self._state == "active":
                self._finish()
            self._state = "done"

    def __enter__(self) -> ObjectSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_state", None) == "active":
            with contextlib.suppress(Exception):  # nothing to report to at garbage collection
                self.close()
