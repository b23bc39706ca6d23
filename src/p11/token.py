"""``Token``: the token in a slot, its mechanisms, PIN management, and sessions with login handled for you.

Cryptoki keeps login state per application and token, not per session: once one session logs in, every session
of the application on that token is logged in, and closing the last session logs the token out. So the token is
where p11 tracks it: :meth:`Token.open` with a PIN logs in only when the token is not already logged in as that
user (it asks the session for its state, so a login made elsewhere in the process counts too), and a second
``open(user_pin=...)`` never fails with ``CKR_USER_ALREADY_LOGGED_IN``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from p11._cffi import lib
from p11.constants import Mechanism, MechanismFlag, SessionState, TokenFlag, UserType
from p11.errors import error_class
from p11.lowlevel.types import MechanismInfo, TokenInfo
from p11.session import Session
from p11.uris import uri_for_token

if TYPE_CHECKING:
    from p11.library import Library, Slot
    from p11.uri import URI

__all__ = ["Token"]

_RW = int(lib.CKF_RW_SESSION)
_SERIAL = int(lib.CKF_SERIAL_SESSION)
_CKR_ALREADY = int(lib.CKR_USER_ALREADY_LOGGED_IN)
_CKR_NOT_LOGGED_IN = int(lib.CKR_USER_NOT_LOGGED_IN)
_USER_STATES = frozenset({SessionState.RO_USER_FUNCTIONS, SessionState.RW_USER_FUNCTIONS})
_SO_STATES = frozenset({SessionState.RW_SO_FUNCTIONS})


class Token:
    """The token in :attr:`slot`. ``.label``, ``.serial``, ``.manufacturer``, ``.model`` are read when the token
    is found (:meth:`info` reads them afresh); ``.flags`` is always fresh."""

    def __init__(self, slot: Slot, info: TokenInfo) -> None:
        self.slot = slot
        self.library: Library = slot.library
        self._info = info
        self._lock = threading.RLock()
        self._mechanisms: dict[Mechanism, MechanismInfo] | None = None
        self._user: UserType | None = None  # who p11 logged in (the token's state may say more: see _login)
        self._open_sessions = 0

    # -- identity --------------------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return self._info.label

    @property
    def serial(self) -> str:
        return self._info.serial_number

    @property
    def manufacturer(self) -> str:
        return self._info.manufacturer_id

    @property
    def model(self) -> str:
        return self._info.model

    @property
    def uri(self) -> URI:
        """The token's RFC 7512 URI: ``token``, ``manufacturer``, ``model``, ``serial``; no PIN, slot id or module
        (:func:`p11.uris.uri_for_token` adds them on request)."""
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
        the token is logged in unless it already is, for this application, as that user."""
        if user_pin is not None and so_pin is not None:
            raise ValueError("give user_pin or so_pin, not both")
        if so_pin is not None:
            rw = True
        module = self.library.module
        handle = module.C_OpenSession(self.slot.id, _SERIAL | (_RW if rw else 0))
        session = Session(self, handle, rw)
        with self._lock:
            self._open_sessions += 1
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
                    self._user = user_type
                    return
            try:
                module.C_Login(session.handle, user_type, pin)
            except error_class(_CKR_ALREADY):
                pass
            if user_type in (UserType.USER, UserType.SO):
                self._user = user_type

    def _logout(self, session: Session) -> None:
        with self._lock, session._lock:
            try:
                self.library.module.C_Logout(session.handle)
            except error_class(_CKR_NOT_LOGGED_IN):
                pass
            self._user = None

    def _session_closed(self) -> None:
        with self._lock:
            self._open_sessions = max(0, self._open_sessions - 1)
            if self._open_sessions == 0:
                self._user = None  # Cryptoki logs the token out with its application's last session

    @property
    def logged_in(self) -> UserType | None:
        """Who p11 logged this token in as (``UserType.USER``/``SO``), or ``None``."""
        return self._user

    # -- token and PIN management ----------------------------------------------------------------------------

    def init_token(self, so_pin: str | bytes, label: str) -> None:
        """``C_InitToken``: (re-)initialise the token, destroying its objects. No session may be open on it."""
        module = self.library.module
        serial_before = self.serial
        module.C_InitToken(self.slot.id, so_pin, label)
        with self._lock:
            self._mechanisms = None
            self._user = None
        self.slot = self.library._slot_after_init(self.slot, label, serial_before)
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
