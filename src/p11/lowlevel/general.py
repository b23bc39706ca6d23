"""Cryptoki general-purpose, slot/token, session and login functions (and their 3.0 additions), 1:1.

Each method calls the module's function pointer once (or twice, for a size query) and raises the typed
exception of :mod:`p11.errors` for any return value but ``CKR_OK``; the read-only slot, token and session
queries (marked ``@read_only``) are asked again a few times first when the error is a passing one
(:mod:`p11.lowlevel.retry`). PINs are ``str`` (sent as UTF-8) or ``bytes``,
or ``None`` for ``NULL_PTR`` (a protected authentication path: PIN pad, biometrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from p11._cffi import ffi, lib
from p11.constants import Mechanism
from p11.lowlevel import types
from p11.lowlevel.marshal import data_in, fetch, fetch_ulongs, pin_in, raise_for, ulong_args
from p11.lowlevel.retry import read_only

__all__ = ["GeneralFunctions"]

_NULL = ffi.NULL
_CKR_NO_EVENT = int(lib.CKR_NO_EVENT)
_CKR_BUFFER_TOO_SMALL = int(lib.CKR_BUFFER_TOO_SMALL)
_SERIAL = int(lib.CKF_SERIAL_SESSION)
_LABEL_LEN = 32


def _label(label: str | bytes) -> Any:
    if isinstance(label, str):
        try:  # surrogate escapes stand for the bytes a token label read by p11 holds (lowlevel.types.text)
            raw = label.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = None
        if raw is None:
            raise ValueError("a token label cannot hold a lone surrogate that stands for no byte")
    else:
        raw = bytes(label)
    if len(raw) > _LABEL_LEN:
        raise ValueError(f"a token label is at most {_LABEL_LEN} bytes of UTF-8, this one is {len(raw)}")
    buf = ffi.new("CK_UTF8CHAR[]", _LABEL_LEN)
    ffi.memmove(buf, raw.ljust(_LABEL_LEN, b" "), _LABEL_LEN)
    return buf


@ulong_args
class GeneralFunctions:
    """General, slot and token, session and login management: ``C_GetInfo`` … ``C_Logout``, ``C_LoginUser``."""

    _f: Any
    _sessions_opened: bool

    @read_only
    def C_GetInfo(self) -> types.Info:
        out = ffi.new("CK_INFO *")
        rv = self._f.C_GetInfo(out)
        if rv:
            raise_for(rv, "C_GetInfo")
        return types.info(out)

    # -- slots and tokens ------------------------------------------------------------------------------------

    @read_only
    def C_GetSlotList(self, token_present: bool = False) -> list[int]:
        """Slot ids; with ``token_present`` only slots holding a token."""
        return fetch_ulongs(self._f.C_GetSlotList, "C_GetSlotList", bool(token_present))

    @read_only
    def C_GetSlotInfo(self, slot: int) -> types.SlotInfo:
        out = ffi.new("CK_SLOT_INFO *")
        rv = self._f.C_GetSlotInfo(slot, out)
        if rv:
            raise_for(rv, "C_GetSlotInfo")
        return types.slot_info(out)

    @read_only
    def C_GetTokenInfo(self, slot: int) -> types.TokenInfo:
        out = ffi.new("CK_TOKEN_INFO *")
        rv = self._f.C_GetTokenInfo(slot, out)
        if rv:
            raise_for(rv, "C_GetTokenInfo")
        return types.token_info(out)

    def C_WaitForSlotEvent(self, flags: int = 0) -> int | None:
        """The slot where an event happened. With ``CKF_DONT_BLOCK``, ``None`` when there is none
        (``CKR_NO_EVENT``). Blocking waits release the GIL."""
        slot = ffi.new("CK_SLOT_ID *")
        rv = self._f.C_WaitForSlotEvent(flags, slot, _NULL)
        if rv == _CKR_NO_EVENT:
            return None
        if rv:
            raise_for(rv, "C_WaitForSlotEvent")
        return int(slot[0])

    @read_only
    def C_GetMechanismList(self, slot: int) -> list[Mechanism]:
        """Mechanism types of the slot's token, as :class:`p11.constants.Mechanism` members (each an ``int``)."""
        return [Mechanism(m) for m in fetch_ulongs(self._f.C_GetMechanismList, "C_GetMechanismList", slot)]

    @read_only
    def C_GetMechanismInfo(self, slot: int, mechanism_type: int) -> types.MechanismInfo:
        out = ffi.new("CK_MECHANISM_INFO *")
        rv = self._f.C_GetMechanismInfo(slot, mechanism_type, out)
        if rv:
            raise_for(rv, "C_GetMechanismInfo")
        return types.mechanism_info(out)

    def C_InitToken(self, slot: int, so_pin: str | bytes | None, label: str | bytes) -> None:
        """Initialise (or re-initialise, destroying its objects) the token; ``label`` is blank-padded to 32 bytes."""
        pin, n = pin_in(so_pin, "SO PIN")
        rv = self._f.C_InitToken(slot, pin, n, _label(label))
        if rv:
            raise_for(rv, "C_InitToken")

    def C_InitPIN(self, session: int, pin: str | bytes | None) -> None:
        """Set the normal user's PIN (the session is logged in as SO)."""
        p, n = pin_in(pin)
        rv = self._f.C_InitPIN(session, p, n)
        if rv:
            raise_for(rv, "C_InitPIN")

    def C_SetPIN(self, session: int, old_pin: str | bytes | None, new_pin: str | bytes | None) -> None:
        """Change the PIN of the user the session is logged in as (the normal user when not logged in)."""
        old, old_n = pin_in(old_pin, "old PIN")
        new, new_n = pin_in(new_pin, "new PIN")
        rv = self._f.C_SetPIN(session, old, old_n, new, new_n)
        if rv:
            raise_for(rv, "C_SetPIN")

    # -- sessions --------------------------------------------------------------------------------------------

    def C_OpenSession(self, slot: int, flags: int = _SERIAL) -> int:
        """Open a session; ``CKF_SERIAL_SESSION`` is always added (the specification requires it). No notify
        callback is registered."""
        out = ffi.new("CK_SESSION_HANDLE *")
        self._sessions_opened = True  # the module is no longer "unused" (see Module.reinitialize_unused)
        rv = self._f.C_OpenSession(slot, flags | _SERIAL, _NULL, _NULL, out)
        if rv:
            raise_for(rv, "C_OpenSession")
        return int(out[0])

    def C_CloseSession(self, session: int) -> None:
        rv = self._f.C_CloseSession(session)
        if rv:
            raise_for(rv, "C_CloseSession")

    def C_CloseAllSessions(self, slot: int) -> None:
        rv = self._f.C_CloseAllSessions(slot)
        if rv:
            raise_for(rv, "C_CloseAllSessions")

    @read_only
    def C_GetSessionInfo(self, session: int) -> types.SessionInfo:
        out = ffi.new("CK_SESSION_INFO *")
        rv = self._f.C_GetSessionInfo(session, out)
        if rv:
            raise_for(rv, "C_GetSessionInfo")
        return types.session_info(out)

    def C_GetOperationState(self, session: int) -> bytes:
        """The saved state of the session's active operations (opaque bytes for ``C_SetOperationState``)."""
        return fetch(self._f.C_GetOperationState, "C_GetOperationState", session)

    def C_SetOperationState(
        self, session: int, state: Any, encryption_key: int = 0, authentication_key: int = 0
    ) -> None:
        buf, n = data_in(state, "operation state")
        rv = self._f.C_SetOperationState(session, buf, n, encryption_key, authentication_key)
        if rv:
            raise_for(rv, "C_SetOperationState")

    def C_Login(self, session: int, user_type: int, pin: str | bytes | None) -> None:
        """Log in as ``CKU_SO``, ``CKU_USER`` or ``CKU_CONTEXT_SPECIFIC`` (re-authentication for one operation)."""
        p, n = pin_in(pin)
        rv = self._f.C_Login(session, user_type, p, n)
        if rv:
            raise_for(rv, "C_Login")

    def C_Logout(self, session: int) -> None:
        rv = self._f.C_Logout(session)
        if rv:
            raise_for(rv, "C_Logout")

    # -- legacy parallel functions ---------------------------------------------------------------------------

    def C_GetFunctionStatus(self, session: int) -> None:
        """Legacy: modules answer ``CKR_FUNCTION_NOT_PARALLEL`` (raised as ``FunctionNotParallel``)."""
        rv = self._f.C_GetFunctionStatus(session)
        if rv:
            raise_for(rv, "C_GetFunctionStatus")

    def C_CancelFunction(self, session: int) -> None:
        """Legacy: modules answer ``CKR_FUNCTION_NOT_PARALLEL`` (raised as ``FunctionNotParallel``)."""
        rv = self._f.C_CancelFunction(session)
        if rv:
            raise_for(rv, "C_CancelFunction")

    # -- PKCS#11 3.0 -----------------------------------------------------------------------------------------

    def C_GetInterfaceList(self) -> list[types.Interface]:
        """Every interface the module offers (3.0; ``FunctionNotSupported`` on a 2.x function list)."""
        fn = self._f.C_GetInterfaceList
        count = ffi.new("CK_ULONG *")
        rv = fn(_NULL, count)
        if rv:
            raise_for(rv, "C_GetInterfaceList")
        for _ in range(8):
            n = int(count[0])
            arr = ffi.new("CK_INTERFACE[]", max(n, 1))
            rv = fn(arr, count)
            if rv == 0:
                return [types.interface(arr[i]) for i in range(min(int(count[0]), n))]
            if rv != _CKR_BUFFER_TOO_SMALL or int(count[0]) <= n:
                break
        raise_for(rv, "C_GetInterfaceList")
        raise AssertionError("unreachable")

    def C_GetInterface(
        self, name: str | None = "PKCS 11", version: Sequence[int] | None = None, flags: int = 0
    ) -> types.Interface:
        """One interface by name (``None``: the module's default), version (``(3, 0)``; ``None``: any) and flags."""
        fn = self._f.C_GetInterface
        c_name: Any = _NULL
        if name is not None:
            raw = name.encode("utf-8")
            c_name = ffi.new("CK_UTF8CHAR[]", len(raw) + 1)
            ffi.memmove(c_name, raw, len(raw))
        c_version: Any = _NULL
        if version is not None:
            major, minor = version
            c_version = ffi.new("CK_VERSION *", {"major": major, "minor": minor})
        out = ffi.new("CK_INTERFACE **")
        rv = fn(c_name, c_version, out, flags)
        if rv:
            raise_for(rv, "C_GetInterface")
        return types.interface(out[0])

    def C_LoginUser(self, session: int, user_type: int, pin: str | bytes | None, username: str | bytes) -> None:
        """Log in as a named user (3.0)."""
        fn = self._f.C_LoginUser
        p, n = pin_in(pin)
        user, user_n = pin_in(username, "username")
        rv = fn(session, user_type, p, n, user, user_n)
        if rv:
            raise_for(rv, "C_LoginUser")

    def C_SessionCancel(self, session: int, flags: int) -> None:
        """Cancel the session's active operations named by ``flags`` (``CKF_ENCRYPT`` | ``CKF_SIGN`` …; 3.0)."""
        rv = self._f.C_SessionCancel(session, flags)
        if rv:
            raise_for(rv, "C_SessionCancel")
