"""Cryptoki constants as ``IntEnum``/``IntFlag`` types, built from the header's ``#define`` lines at import.

Nothing here types a value: each enum takes every ``lib.<PREFIX>*`` name of the compiled header, so the header stays the
one source of truth. Members drop the prefix (``Mechanism.ECDSA``, ``Attribute.CLASS``); values the header does not
name (vendor extensions) still convert, as pseudo-members named after the vendor base (``Mechanism(0x80000001)``).

``CKF_*`` names are shared by several unrelated flag words, so the flag enums are the one place that lists which
flag belongs to which word; their values still come from the header.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from p11._cffi import lib

__all__ = [
    "EFFECTIVELY_INFINITE",
    "INVALID_HANDLE",
    "MGF",
    "PBKDF2PRF",
    "UNAVAILABLE_INFORMATION",
    "Attribute",
    "CertificateType",
    "HardwareFeature",
    "InitializeFlag",
    "InterfaceFlag",
    "KeyDerivation",
    "KeyType",
    "Mechanism",
    "MechanismFlag",
    "ObjectClass",
    "Profile",
    "ReturnValue",
    "SessionFlag",
    "SessionState",
    "SlotFlag",
    "TokenFlag",
    "UserType",
]

_ALL_NAMES = sorted(dir(lib))

#: ``CK_UNAVAILABLE_INFORMATION``: what a token reports for a count or size it does not know (or will not say).
UNAVAILABLE_INFORMATION: int = int(lib.CK_UNAVAILABLE_INFORMATION)
#: ``CK_EFFECTIVELY_INFINITE``: a session or PIN-length limit the token does not enforce.
EFFECTIVELY_INFINITE: int = int(lib.CK_EFFECTIVELY_INFINITE)
#: ``CK_INVALID_HANDLE``: the handle no object or session has (0).
INVALID_HANDLE: int = int(lib.CK_INVALID_HANDLE)


def _members(prefix: str, exclude: Iterable[str] = ()) -> dict[str, int]:
    skip = set(exclude)
    out: dict[str, int] = {}
    for name in _ALL_NAMES:
        if name.startswith(prefix) and name not in skip:
            value = getattr(lib, name)
            if isinstance(value, int):
                out[name[len(prefix):]] = value
    return out


class _VendorAwareEnum(enum.IntEnum):
    """An IntEnum that accepts any CK_ULONG, naming unknown values relative to the vendor base."""

    @classmethod
    def _missing_(cls, value: object) -> _VendorAwareEnum | None:
        if not isinstance(value, int) or value < 0 or value > 0xFFFFFFFFFFFFFFFF:
            return None
        vendor = cls.__members__.get("VENDOR_DEFINED")
        if vendor is not None and value >= vendor:
            name = f"VENDOR_DEFINED+0x{value - int(vendor):X}"
        else:
            name = f"UNKNOWN_0x{value:X}"
        member = int.__new__(cls, value)
        member._name_ = name
        member._value_ = value
        return member


def _enum(name: str, prefix: str, doc: str, exclude: Iterable[str] = ()) -> type[_VendorAwareEnum]:
    cls = _VendorAwareEnum(name, _members(prefix, exclude), module=__name__)  # type: ignore[call-overload]
    cls.__doc__ = doc
    return cls  # type: ignore[no-any-return]


Mechanism = _enum("Mechanism", "CKM_", "Mechanism types (``CKM_*``).")
Attribute = _enum("Attribute", "CKA_", "Attribute types (``CKA_*``).")
ObjectClass = _enum("ObjectClass", "CKO_", "Object classes (``CKO_*``).")
KeyType = _enum("KeyType", "CKK_", "Key types (``CKK_*``).")
CertificateType = _enum("CertificateType", "CKC_", "Certificate types (``CKC_*``).")
ReturnValue = _enum("ReturnValue", "CKR_", "Return values (``CKR_*``).")
UserType = _enum("UserType", "CKU_", "User types for C_Login (``CKU_*``).")
SessionState = _enum("SessionState", "CKS_", "Session states (``CKS_*``).")
HardwareFeature = _enum("HardwareFeature", "CKH_", "Hardware feature types (``CKH_*``).")
# CKP_ also prefixes the PBKDF2 pseudo-random functions (CKP_PKCS5_PBKD2_*), a different value space.
_PBKDF2_PRF_PREFIX = "CKP_PKCS5_PBKD2_"
Profile = _enum(
    "Profile", "CKP_", "Profile ids (``CKP_*``).", exclude=[n for n in _ALL_NAMES if n.startswith(_PBKDF2_PRF_PREFIX)]
)
PBKDF2PRF = _enum(
    "PBKDF2PRF", _PBKDF2_PRF_PREFIX, "Pseudo-random functions of PKCS #5 PBKDF2 (``CKP_PKCS5_PBKD2_*``)."
)
KeyDerivation = _enum("KeyDerivation", "CKD_", "Key derivation functions for ECDH and friends (``CKD_*``).")
MGF = _enum("MGF", "CKG_MGF1_", "Mask generation functions for RSA PSS/OAEP (``CKG_MGF1_*``).")


def _flags(name: str, flag_names: Iterable[str], doc: str) -> type[enum.IntFlag]:
    members = {flag[len("CKF_"):]: getattr(lib, flag) for flag in flag_names if hasattr(lib, flag)}
    cls = enum.IntFlag(name, members, module=__name__, boundary=enum.KEEP)  # type: ignore[call-overload]
    cls.__doc__ = doc
    return cls  # type: ignore[no-any-return]


SlotFlag = _flags("SlotFlag", ("CKF_TOKEN_PRESENT", "CKF_REMOVABLE_DEVICE", "CKF_HW_SLOT"), "``CK_SLOT_INFO.flags``.")
TokenFlag = _flags(
    "TokenFlag",
    (
        "CKF_RNG", "CKF_WRITE_PROTECTED", "CKF_LOGIN_REQUIRED", "CKF_USER_PIN_INITIALIZED",
        "CKF_RESTORE_KEY_NOT_NEEDED", "CKF_CLOCK_ON_TOKEN", "CKF_PROTECTED_AUTHENTICATION_PATH",
        "CKF_DUAL_CRYPTO_OPERATIONS", "CKF_TOKEN_INITIALIZED", "CKF_SECONDARY_AUTHENTICATION",
        "CKF_USER_PIN_COUNT_LOW", "CKF_USER_PIN_FINAL_TRY", "CKF_USER_PIN_LOCKED", "CKF_USER_PIN_TO_BE_CHANGED",
        "CKF_SO_PIN_COUNT_LOW", "CKF_SO_PIN_FINAL_TRY", "CKF_SO_PIN_LOCKED", "CKF_SO_PIN_TO_BE_CHANGED",
        "CKF_ERROR_STATE",
    ),
    "``CK_TOKEN_INFO.flags``.",
)
SessionFlag = _flags("SessionFlag", ("CKF_RW_SESSION", "CKF_SERIAL_SESSION"), "``CK_SESSION_INFO.flags``.")
MechanismFlag = _flags(
    "MechanismFlag",
    (
        "CKF_HW", "CKF_MESSAGE_ENCRYPT", "CKF_MESSAGE_DECRYPT", "CKF_MESSAGE_SIGN", "CKF_MESSAGE_VERIFY",
        "CKF_MULTI_MESSAGE", "CKF_FIND_OBJECTS", "CKF_ENCRYPT", "CKF_DECRYPT", "CKF_DIGEST", "CKF_SIGN",
        "CKF_SIGN_RECOVER", "CKF_VERIFY", "CKF_VERIFY_RECOVER", "CKF_GENERATE", "CKF_GENERATE_KEY_PAIR",
        "CKF_WRAP", "CKF_UNWRAP", "CKF_DERIVE", "CKF_EC_F_P", "CKF_EC_F_2M", "CKF_EC_ECPARAMETERS",
        "CKF_EC_OID", "CKF_EC_UNCOMPRESS", "CKF_EC_COMPRESS", "CKF_EC_CURVENAME", "CKF_EXTENSION",
    ),
    "``CK_MECHANISM_INFO.flags``.",
)
InitializeFlag = _flags(
    "InitializeFlag", ("CKF_LIBRARY_CANT_CREATE_OS_THREADS", "CKF_OS_LOCKING_OK"), "``CK_C_INITIALIZE_ARGS.flags``."
)
InterfaceFlag = _flags("InterfaceFlag", ("CKF_INTERFACE_FORK_SAFE",), "``CK_INTERFACE.flags``.")
