"""``Token``: the token in a slot, its mechanisms, PIN management, and sessions with login handled for you.

Cryptoki keeps login state per application and token, not per session: once one session logs in, every session
of the application on that token is logged in, and closing the last session logs the token out. So the token is
where p11 tracks it: :meth:`Token.open` with a PIN logs in only when the token is not already logged in as that
user (it asks the session for its state, so a login made elsewhere in the process counts too), and a second
``open(user_pin=...)`` never fails with ``CKR_USER_ALREADY_LOGGED_IN``. It does fail with ``PinIncorrect`` when
the PIN differs from the one p11 logged in with (:mod:`p11.logins`: a salted hash is kept, never the PIN).
"""

from __future__ import annotations

import _thread
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from p11 import lowlevel
from p11._cffi import lib
from p11._native import MAX_POOL_SIZE, OpenSessions, SessionPool
from p11.api.objects import forget_calls, remember_identities
from p11.api.session import ObjectSearch, PooledSession, Session
from p11.api.uris import uri_for_token
from p11.constants import KeyType, Mechanism, MechanismFlag, SessionState, TokenFlag, UserType
from p11.errors import CryptokiError, error_class
from p11.logins import LoginRecord, logged_in_user
from p11.lowlevel.health import count_sessions_with, renewing
from p11.lowlevel.marshal import pin_bytes, size_arg
from p11.lowlevel.module import on_generation_change
from p11.lowlevel.types import MechanismInfo, TokenInfo

if TYPE_CHECKING:
    from p11.api.objects import Key, Object, PrivateKey, PublicKey, SecretKey
    from p11.api.owners import LibraryParts
    from p11.interfaces import SlotLike
    from p11.mechanisms import Parameters
    from p11.uri import URI

__all__ = ["Token"]

_CKR_ALREADY = int(lib.CKR_USER_ALREADY_LOGGED_IN)
_CKR_NOT_LOGGED_IN = int(lib.CKR_USER_NOT_LOGGED_IN)
_CKR_SESSION_EXISTS = int(lib.CKR_SESSION_EXISTS)
_USER_STATES = frozenset({SessionState.RO_USER_FUNCTIONS, SessionState.RW_USER_FUNCTIONS})
_SO_STATES = frozenset({SessionState.RW_SO_FUNCTIONS})
if TYPE_CHECKING:
    _session_open: Any
else:  # private to p11.api.session's Session: not in the _native stub
    from p11._native import _session_open
_RLock = _thread.RLock


# Every Token object of the process (weakly): the generation hooks below reach their objects through them.
_TOKENS: weakref.WeakSet[Token] = weakref.WeakSet()


def _objects_of(module: lowlevel.Module) -> list[Object]:
    return [obj for token in list(_TOKENS) if token._module is module for obj in list(token._objects.values())]


def _before_generation_ends(module: lowlevel.Module) -> None:
    remember_identities(_objects_of(module))


def _after_new_generation(module: lowlevel.Module) -> None:
    forget_calls(_objects_of(module))
    for token in [t for t in list(_TOKENS) if t._module is module]:
        token._generation_ended()


def _sessions_elsewhere(module: object, slot_id: int) -> bool:
    return any(t._module is module and t._slot_id != slot_id and bool(t._sessions) for t in list(_TOKENS))


on_generation_change(before=_before_generation_ends, after=_after_new_generation)
count_sessions_with(_sessions_elsewhere)


class Token:
    """The token in ``.slot``. ``.label``, ``.serial``, ``.manufacturer``, ``.model`` are read when the token
    is found (:meth:`info` reads them afresh); ``.flags`` is always fresh."""

    def __init__(self, slot: SlotLike, info: TokenInfo) -> None:
        self.slot = slot
        self.library: LibraryParts = slot.library  # type: ignore[assignment]
        self._module = self.library.module
        self._slot_id = slot.id
        self._info = info
        self._lock = threading.RLock()
        self._mechanisms: dict[Mechanism, MechanismInfo] | None = None
        self._user: UserType | None = None  # who p11 logged in (the token's state may say more: see _login)
        self._logins = LoginRecord()  # the PIN p11 logged in with, hashed: a different one is refused (p11.logins)
        # The open Session objects (their handles), and whether a pool holds sessions too (it holds the login):
        # the sessions tell it when they close (in C), and it tells the token when the last one did.
        self._sessions = OpenSessions(self._logged_out)
        self._pooled: PooledSession | None = None
        # Every Object made for this token (weakly): when the module's generation ends (fork, re-initialisation,
        # close) they note their identity first and drop cached calls after (p11.api.library registers the hooks).
        # Keyed by id(): objects compare equal by handle, and two objects may share a handle (a set would keep one).
        self._objects: weakref.WeakValueDictionary[int, Object] = weakref.WeakValueDictionary()
        _TOKENS.add(self)
        self._pool_options: dict[str, Any] = {"max_size": None, "keep_pin": False, "rw": None}

    @property
    def _gate(self) -> int:
        """The module's current call gate (what p11._native calls through; a new one after fork/re-initialisation)."""
        return self._module.gate_address

    # -- identity --------------------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The token's label (``C_GetTokenInfo``, trailing blanks removed), as last read (``.info`` reads it again)."""
        return self._info.label

    @property
    def serial(self) -> str:
        """The token's serial number (``C_GetTokenInfo``), what ``serial=`` in its URI matches."""
        return self._info.serial_number

    @property
    def manufacturer(self) -> str:
        """The token's manufacturer ID (``C_GetTokenInfo``), what ``manufacturer=`` in its URI matches."""
        return self._info.manufacturer_id

    @property
    def model(self) -> str:
        """The token's model (``C_GetTokenInfo``), what ``model=`` in its URI matches."""
        return self._info.model

    @property
    def uri(self) -> URI:
        """The token's RFC 7512 URI: ``token``, ``manufacturer``, ``model``, ``serial``; no PIN, slot id or module
        (``p11.api.uris.uri_for_token`` adds them on request)."""
        return uri_for_token(self)

    @property
    def flags(self) -> TokenFlag:
        """``CK_TOKEN_INFO.flags``, read now (PIN counters and login requirements change)."""
        return self.info().flags

    def info(self) -> TokenInfo:
        """A fresh ``CK_TOKEN_INFO`` (also refreshes ``.label`` and friends)."""
        self._info = self.library.module.C_GetTokenInfo(self.slot.id)
        return self._info

    def __repr__(self) -> str:
        return f"<Token {self.label!r} serial={self.serial!r} slot={self.slot.id}>"

    # -- mechanisms ------------------------------------------------------------------------------------------

    def mechanisms(self) -> dict[Mechanism, MechanismInfo]:
        """Every mechanism of the token and its ``CK_MECHANISM_INFO`` (read once, then cached)."""
        mechs = self._mechanisms
        if mechs is None:
            module = self.library.module
            with self._lock:
                mechs = {m: module.C_GetMechanismInfo(self.slot.id, m) for m in module.C_GetMechanismList(self.slot.id)}
                self._mechanisms = mechs
        return mechs

    def supports(self, mechanism: Mechanism | int | Any, flag: MechanismFlag | None = None) -> bool:
        """Whether the token lists ``mechanism`` (a member, an int, or a parameter object) and, given ``flag``
        (``MechanismFlag.SIGN`` …), offers it for that."""
        kind = getattr(mechanism, "mechanism", mechanism)
        info = self.mechanisms().get(Mechanism(kind))
        if info is None:
            return False
        return flag is None or bool(info.flags & flag)

    # -- sessions and login ----------------------------------------------------------------------------------

    def open(
        self, *, user_pin: str | bytes | None = None, so_pin: str | bytes | None = None, rw: bool = False
    ) -> Session:
        """A new session (read-write with ``rw=True``; an SO login always is). With ``user_pin`` (or ``so_pin``)
        the token is logged in unless it already is, for this application, as that user. When it already is,
        Cryptoki does not look at the PIN, but p11 does when it made that login: a different PIN raises
        ``PinIncorrect`` (``p11.logins``). A login made outside p11 cannot be checked."""
        if self._module._stale:
            self._module.ensure_ready()  # a fork child initialises the module again before the first call
        if user_pin is None and so_pin is None:
            # C_OpenSession, the handle into the token's record and the Session in one C call (native/session.pxi,
            # the one way a session is made): `with token.open():` is hot.
            try:
                session: Session = _session_open(Session, self, self._gate, self._slot_id, rw, self._sessions, _RLock)
            except CryptokiError as exc:  # the module may have lost its device: checked, and tried again if renewed
                if not self._module.health.report(exc.rv, self._slot_id):
                    raise
                session = _session_open(Session, self, self._gate, self._slot_id, rw, self._sessions, _RLock)
            return session
        if user_pin is not None and so_pin is not None:
            raise ValueError("give user_pin or so_pin, not both")
        if so_pin is not None:
            rw = True
        session = renewing(
            self._module,
            lambda: _session_open(Session, self, self._gate, self._slot_id, rw, self._sessions, _RLock),
            self._slot_id,
        )
        try:
            if user_pin is not None:
                self._login(session, UserType.USER, user_pin)
            elif so_pin is not None:
                self._login(session, UserType.SO, so_pin)
        except BaseException:
            session.close()
            raise
        return session

    def _login(self, session: Session, user_type: UserType, pin: str | bytes | None) -> None:
        module = self.library.module
        with self._lock, session._lock:
            if user_type in (UserType.USER, UserType.SO):
                state = module.C_GetSessionInfo(session.handle).state
                if state in (_USER_STATES if user_type == UserType.USER else _SO_STATES):
                    self._logins.check(user_type, pin)
                    self._user = user_type
                    return
            try:
                module.C_Login(session.handle, user_type, pin)
            except error_class(_CKR_ALREADY):
                self._logins.check(user_type, pin)
            else:
                self._logins.remember(user_type, pin)
            if user_type in (UserType.USER, UserType.SO):
                self._user = user_type

    def _logout(self, session: Session) -> None:
        with self._lock, session._lock:
            try:
                self.library.module.C_Logout(session.handle)
            except error_class(_CKR_NOT_LOGGED_IN):
                pass
            self._user = None
            self._logins.forget()

    def _generation_ended(self) -> None:
        """The module started a new generation (fork child, re-initialisation, a renewal after a lost device): the
        explicit sessions ended with the old one, and so did the login, unless the pool can log in again. (A
        generation hook: no lock taken, as in a fork child a lock may be held by a thread that is not there.)"""
        self._sessions.forget()
        pooled = self._pooled
        if pooled is None or not pooled._pool.keeps_pin:
            self._user = None
            self._logins = LoginRecord()  # forgotten (a new record: the old one's lock may be held, see above)

    def _logged_out(self) -> None:
        """The last Session closed, and no pool holds sessions: Cryptoki logged the token out (called by the
        token's OpenSessions)."""
        with self._lock:
            if not self._sessions:
                self._user = None
                self._logins.forget()

    @property
    def _open_sessions(self) -> int:
        """How many :class:`Session` objects are open on the token (not counting the pool's sessions)."""
        return len(self._sessions)

    @property
    def logged_in(self) -> UserType | None:
        """Who p11 logged this token in as (``UserType.USER``/``SO``), or ``None``."""
        return self._user

    # -- token and PIN management ----------------------------------------------------------------------------

    def init_token(self, so_pin: str | bytes, label: str) -> None:
        """``C_InitToken``: (re-)initialise the token, destroying its objects. No session may be open on it: with an
        explicit session open, or pooled calls running, it raises ``SessionExists`` and changes nothing. An idle
        pool is closed first (its sessions would make C_InitToken fail)."""
        module = self.library.module
        serial_before = self.serial
        with self._lock:
            pooled = self._pooled
            busy = 0 if pooled is None or pooled._pool.closed else pooled._pool.in_use + pooled._pool.waiting
            if self._open_sessions or busy:
                what = f"{self._open_sessions} open session(s)" if self._open_sessions else f"{busy} pooled call(s)"
                raise error_class(_CKR_SESSION_EXISTS)(
                    _CKR_SESSION_EXISTS, "C_InitToken", f"the token is in use ({what}); nothing was changed"
                )
            self.close_pool()  # idle: its sessions would make C_InitToken fail with CKR_SESSION_EXISTS
        module.C_InitToken(self.slot.id, so_pin, label)
        with self._lock:
            self._mechanisms = None
            self._user = None
            self._logins.forget()
        self.slot = self.library._slot_after_init(self.slot, label, serial_before)
        self._slot_id = self.slot.id
        self.info()
        self.library._adopt(self)

    def init_pin(self, so_pin: str | bytes, user_pin: str | bytes) -> None:
        """``C_InitPIN``: set the normal user's PIN, logging in as SO for the purpose (and out again)."""
        with self.open(so_pin=so_pin) as session:
            with session._lock:
                self.library.module.C_InitPIN(session.handle, user_pin)
            session.logout()

    def set_pin(self, old_pin: str | bytes, new_pin: str | bytes) -> None:
        """``C_SetPIN``: change the PIN of the user logged in (the normal user when nobody is)."""
        with self.open(rw=True) as session, session._lock:
            self.library.module.C_SetPIN(session.handle, old_pin, new_pin)
            if self._logins.user is not None:
                self._logins.remember(self._logins.user, new_pin)  # the login p11 made now has the new PIN

    # -- the session pool, and the token used without explicit sessions ------------------------------------------

    def configure_pool(self, *, max_size: int | None = None, keep_pin: bool = False, rw: bool | None = None) -> None:
        """Settings of the token's session pool, before its first use (or give them to :meth:`login`).

        ``max_size``: the most sessions the pool opens, 1 to 4096 (default: the token's session limit, at most 8);
        ``keep_pin``: keep the PIN in memory so the pool can log in again after the login is lost (all sessions
        closed elsewhere, a removed token, a fork); ``rw``: read-write sessions (the default unless the token is
        write-protected) or read-only ones."""
        with self._lock:
            if self._pooled is not None and not self._pooled._pool.closed:
                raise RuntimeError("the token's session pool is in use: configure it before first use, or in login()")
            self._pool_options = {"max_size": _pool_size(max_size), "keep_pin": keep_pin, "rw": rw}

    def _new_pool(
        self, user_pin: str | bytes | None, pin_source: Callable[[], str | bytes] | None = None
    ) -> SessionPool:
        options = self._pool_options
        return SessionPool(
            self._module,
            self._slot_id,
            max_size=options["max_size"],
            user_pin=None if user_pin is None else pin_bytes(user_pin),  # the one rule for a PIN's bytes
            keep_pin=options["keep_pin"],
            rw=options["rw"],
            pin_source=pin_source,
        )

    def _pooled_session(self) -> PooledSession:
        pooled = self._pooled
        if pooled is None:
            with self._lock:
                pooled = self._pooled
                if pooled is None:
                    if self._module._stale:
                        self._module.ensure_ready()
                    pooled = self._pooled = PooledSession(self, self._new_pool(None))
                    self._sessions.pooled = True
        return pooled

    @property
    def pool(self) -> SessionPool:
        """The token's session pool (made on first use, sessions opened as needed): what keys found without an
        explicit session use, one borrowed session per operation, from any thread."""
        return self._pooled_session()._pool

    def login(self, user_pin: str | bytes, *, keep_pin: bool | None = None, max_size: int | None = None) -> None:
        """Log the token in as the normal user for pooled use (``token.get_key(...)``, ``key.sign(...)`` with no
        session in sight). The PIN is checked now: a wrong one raises ``PinIncorrect`` (also when the token is
        already logged in, by p11 with another PIN: ``p11.logins``). ``keep_pin`` and
        ``max_size`` configure the pool as :meth:`configure_pool` does.

        The pool's first session logs in (Cryptoki logs in the whole application, so explicit sessions are logged
        in too) and the pool keeps the login as long as it holds a session. The PIN is wiped from memory after the
        login unless ``keep_pin=True``. A pool made before is replaced; objects bound to it carry on with the new
        one, and calls running on the old one finish there (or, if they had not yet got a session, run on the new
        one): a re-login never fails calls in flight."""
        with self._lock:
            if keep_pin is not None:
                self._pool_options["keep_pin"] = keep_pin
            if max_size is not None:
                self._pool_options["max_size"] = _pool_size(max_size)
            self._login_pool(user_pin, None)

    def _login_for_open(
        self, user_pin: str | bytes, *, keep_pin: bool, pin_source: Callable[[], str | bytes] | None
    ) -> bool:
        """The pool's login for :func:`p11.open`: the pool p11 already logged in with this PIN is used as it is
        (another PIN raises ``PinIncorrect``: :mod:`p11.logins`), unless it could not log in again by itself and
        this login could (``keep_pin``: the PIN was in the URI; ``pin_source``: a PIN file, read afresh for each
        login); otherwise the pool is made anew and logged in, as :meth:`login` does. True when the token had no
        pool before (the caller may close it again if it finds nothing)."""
        with self._lock:
            pooled = self._pooled
            if (
                pooled is not None
                and not pooled._pool.closed
                and self._user == UserType.USER
                and logged_in_user(self._module, self._slot_id) == UserType.USER
            ):
                self._logins.check(UserType.USER, user_pin)
                if pooled._pool.keeps_pin or not (keep_pin or pin_source is not None):
                    return False
            if keep_pin:
                self._pool_options["keep_pin"] = True
            self._login_pool(user_pin, pin_source)
            return pooled is None

    def _login_pool(self, user_pin: str | bytes, pin_source: Callable[[], str | bytes] | None) -> None:
        # Called with self._lock held: a new pool, logged in, in place of the old one (see login).
        if self._module._stale:
            self._module.ensure_ready()
        already = logged_in_user(self._module, self._slot_id) == UserType.USER
        if already:
            self._logins.check(UserType.USER, user_pin)  # Cryptoki would accept any PIN now (p11.logins)
        pool = self._new_pool(user_pin, pin_source)
        try:
            pool.give_back(pool.borrow())  # opens the first session and logs in: a wrong PIN raises here
        except BaseException:
            pool.close()
            raise
        pooled = self._pooled
        if pooled is None:
            self._pooled = PooledSession(self, pool)
            self._sessions.pooled = True
        else:
            old, pooled.channel.pool = pooled.channel.pool, pool
            pooled.rw = pool.rw
            old.close()
        self._user = UserType.USER
        if not already:
            self._logins.remember(UserType.USER, user_pin)

    def close_pool(self) -> None:
        """Close the token's session pool: idle sessions now, borrowed ones when they come back. Objects bound to
        it raise ``PoolClosed`` from then on; the next pooled use makes a new pool (log in again with
        :meth:`login`)."""
        with self._lock:
            pooled, self._pooled = self._pooled, None
        if pooled is not None:
            pooled._pool.close()
            self._sessions.pool_closed()  # with no explicit session open either, the token is logged out

    # Pooled conveniences: the Session methods, on a session borrowed from the pool for each call.

    def find(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> ObjectSearch:
        """:meth:`Session.find <p11.Session.find>` on the pool; the objects found use the pool."""
        return self._pooled_session().find(template=template, **attrs)

    def get_object(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> Object:
        """:meth:`Session.get_object <p11.Session.get_object>` on the pool."""
        return self._pooled_session().get_object(template=template, **attrs)

    def get_key(self, *, template: Mapping[Any, Any] | None = None, **attrs: Any) -> Key:
        """:meth:`Session.get_key <p11.Session.get_key>` on the pool: the key signs, verifies, encrypts and
        decrypts from any thread, each call on a pooled session."""
        return self._pooled_session().get_key(template=template, **attrs)

    def create_object(self, attrs: Mapping[Any, Any] | None = None, **kwargs: Any) -> Object:
        """:meth:`Session.create_object <p11.Session.create_object>` on the pool."""
        return self._pooled_session().create_object(attrs, **kwargs)

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
        """:meth:`Session.generate_key <p11.Session.generate_key>` on the pool."""
        return self._pooled_session().generate_key(key_type, bits, label=label, id=id, token=token, **attrs)

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
        """:meth:`Session.generate_keypair <p11.Session.generate_keypair>` on the pool."""
        return self._pooled_session().generate_keypair(
            key_type,
            bits,
            curve=curve,
            public_exponent=public_exponent,
            label=label,
            id=id,
            token=token,
            public_attrs=public_attrs,
            private_attrs=private_attrs,
        )

    def generate_random(self, n: int) -> bytes:
        """``n`` random bytes from the token, on a pooled session."""
        return self._pooled_session().generate_random(n)

    def digest(self, data: Any, mechanism: Mechanism | Parameters = Mechanism.SHA256) -> bytes:
        """A digest computed on the token, on a pooled session."""
        return self._pooled_session().digest(data, mechanism)


def _pool_size(max_size: int | None) -> int | None:
    """``max_size`` checked before it is stored: a refused value never stays behind for the next pool."""
    return None if max_size is None else size_arg(max_size, "max_size", 1, MAX_POOL_SIZE)
