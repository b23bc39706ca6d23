"""The one rule for a PIN given to a token that is already logged in: p11 checks it against the login it made.

Cryptoki answers ``C_Login`` on a logged-in token with ``CKR_USER_ALREADY_LOGGED_IN`` before it looks at the PIN,
so without help a wrong PIN would be "accepted" (``token.login("1234")``, then ``p11.open(uri, pin="0000")``
returning a working key). p11 knows the PIN it logged in with, so each :class:`~p11.Token` keeps a
:class:`LoginRecord`: who p11 logged in, and a salted hash of the PIN (scrypt, a random salt per login; never the
PIN, which is not kept). A different PIN while that login lasts raises :class:`p11.errors.PinIncorrect`, as the
token itself would have.

What it cannot check: a login p11 did not make (another library in the same process, ``p11.lowlevel`` calls). The
token is then logged in with no record, and a PIN given meanwhile is not checked: Cryptoki offers no way to
compare a PIN without logging out first. The record is forgotten when p11 sees the login end (logout, the last
session closed, the token re-initialised, the library closed).

Every place that logs in asks this module: :meth:`Token.open(user_pin=...) <p11.Token.open>` and
:meth:`Session.login <p11.Session.login>` (through ``Token._login``), :meth:`Token.login
<p11.Token.login>` (the pool's login), and so :func:`p11.open` with a ``pin`` argument, ``pin-value`` or
``pin-source``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from typing import TYPE_CHECKING, Final

from p11._cffi import lib
from p11.constants import SessionState, UserType
from p11.errors import error_class
from p11.lowlevel.marshal import pin_bytes

if TYPE_CHECKING:
    from p11.lowlevel import Module

__all__ = ["LoginRecord", "logged_in_user", "pin_bytes"]

# scrypt at 4 MiB and 2**12 iterations: some 15 ms per login or check, a brute force of short PINs no easier
# than the token's own retry counter would allow to anyone who can read this process's memory anyway.
_SCRYPT_N: Final = 1 << 12
_SCRYPT_R: Final = 8
_SALT_BYTES: Final = 16
_CKR_PIN_INCORRECT: Final = int(lib.CKR_PIN_INCORRECT)
_CHECKED_USERS: Final = frozenset({UserType.USER, UserType.SO})
_STATE_USER: Final = {
    SessionState.RO_USER_FUNCTIONS: UserType.USER,
    SessionState.RW_USER_FUNCTIONS: UserType.USER,
    SessionState.RW_SO_FUNCTIONS: UserType.SO,
}


def _hash(pin: bytes, salt: bytes) -> bytes:
    return hashlib.scrypt(pin, salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=1, dklen=32)


class LoginRecord:
    """Who p11 logged a token in as, and a salted hash of the PIN it used (one per :class:`~p11.Token`)."""

    __slots__ = ("_digest", "_lock", "_salt", "_user")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._user: UserType | None = None
        self._salt = b""
        self._digest = b""

    @property
    def user(self) -> UserType | None:
        """The user p11 logged in with a PIN it recorded, or ``None``."""
        return self._user

    def remember(self, user_type: UserType | int, pin: str | bytes | None) -> None:
        """Record a login p11 just made (``C_Login`` answered ``CKR_OK``). A ``None`` PIN (protected
        authentication path: PIN pad) leaves nothing to compare, so no record; a context-specific login (one
        operation's re-authentication) is not a token login and leaves the record as it is."""
        if user_type not in _CHECKED_USERS:
            return
        if pin is None:
            self.forget()
            return
        salt = os.urandom(_SALT_BYTES)
        digest = _hash(pin_bytes(pin), salt)
        with self._lock:
            self._user, self._salt, self._digest = UserType(user_type), salt, digest

    def forget(self) -> None:
        """The login ended (or p11 can no longer vouch for it)."""
        with self._lock:
            self._user, self._salt, self._digest = None, b"", b""

    def check(self, user_type: UserType | int, pin: str | bytes | None) -> None:
        """Raise :class:`p11.errors.PinIncorrect` when p11 logged the token in as ``user_type`` with another PIN.
        Call it only when the token is logged in now; without a record (a login from outside p11) it passes."""
        with self._lock:
            user, salt, digest = self._user, self._salt, self._digest
        if user is None or user != user_type or pin is None:
            return
        if not hmac.compare_digest(_hash(pin_bytes(pin), salt), digest):
            raise error_class(_CKR_PIN_INCORRECT)(
                _CKR_PIN_INCORRECT,
                None,
                f"the token is already logged in as {user.name} with another PIN; Cryptoki would not check a PIN "
                "now, p11 does",
            )


def logged_in_user(module: Module, slot_id: int) -> UserType | None:
    """Who this application is logged in as on the slot's token now (``None``: nobody), read from the state of a
    session opened and closed for the purpose. (Closing it cannot end a login: a login needs a session, so if
    this one was the last, nobody was logged in.)"""
    handle = module.C_OpenSession(slot_id)
    try:
        return _STATE_USER.get(module.C_GetSessionInfo(handle).state)
    finally:
        module.C_CloseSession(handle)
