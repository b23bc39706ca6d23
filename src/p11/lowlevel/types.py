"""Python views of the Cryptoki information structures: small frozen values, built from cdata once per call.

Blank-padded character fields arrive stripped and decoded (UTF-8, undecodable bytes replaced), flag words as the
``IntFlag`` enums of :mod:`p11.constants` (unknown bits kept), and counters the token reports as
``CK_UNAVAILABLE_INFORMATION`` as ``None``. Nothing here calls into a module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from p11._cffi import ffi
from p11.constants import (
    UNAVAILABLE_INFORMATION,
    InterfaceFlag,
    MechanismFlag,
    SessionFlag,
    SessionState,
    SlotFlag,
    TokenFlag,
)

__all__ = [
    "Info",
    "Interface",
    "MechanismInfo",
    "SessionInfo",
    "SlotInfo",
    "TokenInfo",
    "Version",
]


class Version(NamedTuple):
    """A ``CK_VERSION``: ``major`` and ``minor`` (the minor part counts hundredths: 2.40 is ``Version(2, 40)``)."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True, slots=True)
class Info:
    """``CK_INFO``: what ``C_GetInfo`` says about the module."""

    cryptoki_version: Version
    manufacturer_id: str
    flags: int
    library_description: str
    library_version: Version


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """``CK_SLOT_INFO``."""

    slot_description: str
    manufacturer_id: str
    flags: SlotFlag
    hardware_version: Version
    firmware_version: Version


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """``CK_TOKEN_INFO``. Counters are ``None`` when the token does not say (``CK_UNAVAILABLE_INFORMATION``);
    a maximum of ``0`` is ``CK_EFFECTIVELY_INFINITE`` (no limit), as in the specification."""

    label: str
    manufacturer_id: str
    model: str
    serial_number: str
    flags: TokenFlag
    max_session_count: int | None
    session_count: int | None
    max_rw_session_count: int | None
    rw_session_count: int | None
    max_pin_len: int
    min_pin_len: int
    total_public_memory: int | None
    free_public_memory: int | None
    total_private_memory: int | None
    free_private_memory: int | None
    hardware_version: Version
    firmware_version: Version
    utc_time: str


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """``CK_SESSION_INFO``."""

    slot_id: int
    state: SessionState
    flags: SessionFlag
    device_error: int


@dataclass(frozen=True, slots=True)
class MechanismInfo:
    """``CK_MECHANISM_INFO``: key sizes (bits or bytes, as the mechanism defines) and what the mechanism can do."""

    min_key_size: int
    max_key_size: int
    flags: MechanismFlag


@dataclass(frozen=True, slots=True)
class Interface:
    """A ``CK_INTERFACE`` (PKCS#11 3.0): a named function list and its version.

    ``function_list_address`` is the address of the interface's function list (a ``CK_FUNCTION_LIST`` when
    ``version.major`` is 2, else a ``CK_FUNCTION_LIST_3_0``); it stays valid while the module is loaded.
    """

    name: str
    version: Version
    flags: InterfaceFlag
    function_list_address: int


def text(field: Any) -> str:
    """A blank-padded ``CK_UTF8CHAR``/``CK_CHAR`` array as ``str`` (trailing blanks and NULs removed).

    Lossless: bytes that are not UTF-8 (a Latin-1 label written by another tool) become surrogate escapes
    (``surrogateescape``), so the exact bytes come back with ``.encode("utf-8", "surrogateescape")``, two
    different labels never read the same, and :mod:`p11.uri` writes the token's own bytes into a URI."""
    raw = bytes(ffi.buffer(field))
    return raw.decode("utf-8", errors="surrogateescape").rstrip(" \x00")


def version(v: Any) -> Version:
    return Version(v.major, v.minor)


def _count(value: int) -> int | None:
    return None if value == UNAVAILABLE_INFORMATION else int(value)


def info(c: Any) -> Info:
    return Info(
        cryptoki_version=version(c.cryptokiVersion),
        manufacturer_id=text(c.manufacturerID),
        flags=int(c.flags),
        library_description=text(c.libraryDescription),
        library_version=version(c.libraryVersion),
    )


def slot_info(c: Any) -> SlotInfo:
    return SlotInfo(
        slot_description=text(c.slotDescription),
        manufacturer_id=text(c.manufacturerID),
        flags=SlotFlag(c.flags),
        hardware_version=version(c.hardwareVersion),
        firmware_version=version(c.firmwareVersion),
    )


def token_info(c: Any) -> TokenInfo:
    return TokenInfo(
        label=text(c.label),
        manufacturer_id=text(c.manufacturerID),
        model=text(c.model),
        serial_number=text(c.serialNumber),
        flags=TokenFlag(c.flags),
        max_session_count=_count(c.ulMaxSessionCount),
        session_count=_count(c.ulSessionCount),
        max_rw_session_count=_count(c.ulMaxRwSessionCount),
        rw_session_count=_count(c.ulRwSessionCount),
        max_pin_len=int(c.ulMaxPinLen),
        min_pin_len=int(c.ulMinPinLen),
        total_public_memory=_count(c.ulTotalPublicMemory),
        free_public_memory=_count(c.ulFreePublicMemory),
        total_private_memory=_count(c.ulTotalPrivateMemory),
        free_private_memory=_count(c.ulFreePrivateMemory),
        hardware_version=version(c.hardwareVersion),
        firmware_version=version(c.firmwareVersion),
        utc_time=text(c.utcTime),
    )


def session_info(c: Any) -> SessionInfo:
    return SessionInfo(
        slot_id=int(c.slotID),
        state=SessionState(c.state),
        flags=SessionFlag(c.flags),
        device_error=int(c.ulDeviceError),
    )


def mechanism_info(c: Any) -> MechanismInfo:
    return MechanismInfo(
        min_key_size=int(c.ulMinKeySize), max_key_size=int(c.ulMaxKeySize), flags=MechanismFlag(c.flags)
    )


def interface(c: Any) -> Interface:
    """A ``CK_INTERFACE`` (by value or pointer); the version is read from the function list it points to."""
    raw_name = c.pInterfaceName
    name = "" if raw_name == ffi.NULL else ffi.string(ffi.cast("char *", raw_name)).decode("utf-8", "replace")
    fl = c.pFunctionList
    ver = version(ffi.cast("CK_VERSION *", fl)[0]) if fl != ffi.NULL else Version(0, 0)
    return Interface(
        name=name,
        version=ver,
        flags=InterfaceFlag(c.flags),
        function_list_address=int(ffi.cast("uintptr_t", fl)),
    )
