"""Exceptions: one class per ``CKR_*`` value, generated from the header's constants.

Users catch a handful of bases (``PinError``, ``SessionError``, ``ObjectHandleError`` …) or one specific class
(``p11.errors.PinIncorrect``); every instance carries ``.rv``, ``.name`` and ``.function`` so a log line says exactly
which call failed and why. The classes are built from ``lib.CKR_*`` at import, so a return value added to the header
gets its exception without anyone typing it again. Messages never contain PINs or key material: they are built from
the return value and the function name only.
"""

from __future__ import annotations

from p11._cffi import lib
from p11._exception import FileTooLarge, NotARegularFile, P11Error, URIError

__all__ = [
    "ArgumentsError",
    "AttributeValueError",
    "ContextPinRequired",
    "CryptokiError",
    "DERError",
    "DataError",
    "DeviceError",
    "FileTooLarge",
    "FunctionNotSupported",
    "KeyCapabilityError",
    "LibraryStateError",
    "LoginError",
    "MechanismError",
    "MechanismNotSupported",
    "ModuleBusy",
    "ModuleLoadError",
    "ModuleNotFound",
    "ModuleNotSpecified",
    "MultipleObjects",
    "MultipleTokens",
    "NoEventLoop",
    "NoSuchObject",
    "NoSuchToken",
    "NotARegularFile",
    "ObjectHandleError",
    "OperationError",
    "P11Error",
    "PinError",
    "PinSourceError",
    "PoolClosed",
    "PoolTimeout",
    "SessionError",
    "SignatureError",
    "StaleObject",
    "TemplateError",
    "TokenError",
    "URIError",
    "UntrustedModule",
    "check",
    "error_class",
    "rv_name",
]


class ModuleLoadError(P11Error, OSError):
    """A PKCS#11 module could not be loaded: a missing file, or a shared object that is not a Cryptoki module."""

    def __init__(self, path: str, reason: str) -> None:
        shown = path if len(path) <= 200 else path[:200] + "..."  # a path of 30,000 characters is no message
        super().__init__(f"cannot load PKCS#11 module {shown!r}: {reason}")
        self.path = path
        self.reason = reason


class UntrustedModule(ModuleLoadError):
    """A module that data named (a URI's ``module-path`` or ``module-name``, a CA directory's record) and that the
    caller did not opt in to, so p11 did not load it: loading runs the library's code in this process, and the
    module would be handed the PIN. ``.named_by`` says what named it; the message says how to allow it
    (``p11.trust``)."""

    def __init__(self, path: str, reason: str, named_by: str) -> None:
        super().__init__(path, reason)
        self.named_by = named_by


class CryptokiError(P11Error):
    """A Cryptoki function returned something other than ``CKR_OK``."""

    rv: int = -1

    def __init__(self, rv: int | None = None, function: str | None = None, detail: str | None = None) -> None:
        if rv is None:
            rv = type(self).rv
        self.rv = rv
        self.name = rv_name(rv)
        self.function = function
        self.detail = detail
        text = f"{self.name} (0x{rv:08X})"
        if function:
            text = f"{function}: {text}"
        doc = _DESCRIPTIONS.get(rv)
        if doc:
            text += f": {doc}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.rv, self.function, self.detail))


class LibraryStateError(CryptokiError):
    """The module is not initialised, already initialised, or otherwise not in a state to take the call."""


class ArgumentsError(CryptokiError, ValueError):
    """The module rejected the arguments of a call (``CKR_ARGUMENTS_BAD`` and similar)."""


class FunctionNotSupported(CryptokiError):
    """The module does not implement this function (``CKR_FUNCTION_NOT_SUPPORTED``)."""


class DeviceError(CryptokiError):
    """The device failed, ran out of memory, or went away."""


class TokenError(CryptokiError):
    """The token or slot is absent, unrecognised, write-protected or out of resources."""


class SessionError(CryptokiError):
    """The session is closed, invalid, read-only, or too many sessions are open."""


class LoginError(CryptokiError):
    """Login state is wrong for the call: not logged in, already logged in, wrong user type."""


class PinError(LoginError):
    """The PIN is wrong, invalid, locked or expired."""


class ObjectHandleError(CryptokiError, LookupError):
    """An object or key handle does not name a usable object (``KeyError``-like: the thing asked for is not there)."""


class AttributeValueError(CryptokiError):
    """An attribute is unknown, read-only, sensitive, or has a value the token does not accept."""


class TemplateError(AttributeValueError):
    """A template is incomplete or inconsistent for the object being made."""


class MechanismError(CryptokiError):
    """The mechanism, its parameters or the curve are not supported, or do not suit the key."""


class DataError(CryptokiError, ValueError):
    """Input data or ciphertext is invalid or of the wrong length."""


class SignatureError(DataError):
    """A signature did not verify, or has the wrong length."""


class OperationError(CryptokiError):
    """An operation is already active, not initialised, or could not be cancelled."""


class NoSuchToken(P11Error, LookupError):
    """No token matched what was asked for; the message says what was asked and what tokens there are."""


class MultipleTokens(P11Error, LookupError):
    """More than one token matched; the message lists the candidates."""


class NoSuchObject(P11Error, LookupError):
    """No object matched a search that expected exactly one."""


class MultipleObjects(P11Error, LookupError):
    """More than one object matched a search that expected exactly one; the message lists them."""


class ModuleBusy(P11Error):
    """A module could not be finalised because calls were still running in other threads after the wait's bound
    (nothing was finalised: a module is never finalised under a caller)."""


class StaleObject(P11Error, LookupError):
    """An object or session from an earlier initialisation of its module (before ``fork()``, ``C_Finalize`` or
    ``lib.close()``) that cannot be found again unambiguously in the current one: look it up again. Handles are
    never trusted across initialisations, since the token may have given the same number to another object."""


class PoolTimeout(P11Error, TimeoutError):
    """No pooled session became free within the timeout given to ``borrow`` (all ``max_size`` are in use)."""


class PoolClosed(P11Error, RuntimeError):
    """The session pool was closed (``token.close_pool()``, the library closed): it hands out no more sessions."""


class NoEventLoop(P11Error, RuntimeError):
    """An ``*_async`` method was called outside a running asyncio event loop: await it inside one
    (``asyncio.run(...)``), or call the plain method instead."""


# -- p11's own refusals, not the module's ---------------------------------------------------------------------


class ModuleNotFound(P11Error, LookupError):
    """No installed PKCS#11 module goes by the name asked for; the message says where it looked."""


class ModuleNotSpecified(P11Error, LookupError):
    """The URI names no module (no ``module-path``, no ``module-name``) and ``P11_MODULE`` is not set."""


class PinSourceError(P11Error, ValueError):
    """A ``pin-source`` gave no PIN: its file is missing, unreadable, empty or too large, or its scheme is not
    supported. ``.path`` is the file concerned (``None`` for an unsupported scheme); the message names it and
    never quotes what is in it."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class DERError(P11Error, ValueError):
    """A value that should be DER is not (wrong tag, bad length, trailing bytes)."""


class MechanismNotSupported(MechanismError):
    """The token does not offer ``mechanism`` for ``operation`` (checked against its mechanism info before calling)."""

    def __init__(self, mechanism: object, token_label: str, operation: str) -> None:
        mech_rv = int(lib.CKR_MECHANISM_INVALID)
        super().__init__(mech_rv, None, f"token {token_label!r} does not support {_display(mechanism)} for {operation}")
        self.mechanism = mechanism
        self.token_label = token_label
        self.operation = operation

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.mechanism, self.token_label, self.operation))


class KeyCapabilityError(MechanismError):
    """The key's own attributes forbid the operation (e.g. ``CKA_SIGN`` is false on a key asked to sign)."""

    def __init__(self, key_label: str | None, operation: str, attribute: str) -> None:
        super().__init__(
            int(lib.CKR_KEY_FUNCTION_NOT_PERMITTED),
            None,
            f"key {key_label!r} has {attribute}=false: cannot {operation}",
        )
        self.key_label = key_label
        self.operation = operation
        self.attribute = attribute

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.key_label, self.operation, self.attribute))


class ContextPinRequired(LoginError):
    """A key that needs its PIN for every use (``CKA_ALWAYS_AUTHENTICATE``: PIV and OpenPGP signature keys, eID
    cards) was asked to sign or decrypt without one: pass ``pin=`` to the call (or to ``p11.crypto.token_key``).
    Logging the token in does not help: the token asks for the PIN again for each operation. ``.rv`` is
    ``CKR_USER_NOT_LOGGED_IN``, what the token itself would have answered; nothing was sent to it."""

    def __init__(self, key: str, operation: str) -> None:
        rv = int(lib.CKR_USER_NOT_LOGGED_IN)
        super().__init__(rv, None)
        self.key = key
        self.operation = operation
        self.detail = (
            f"{key} needs its PIN for every use (CKA_ALWAYS_AUTHENTICATE): pass pin=... to {operation}; logging "
            "the token in is not enough"
        )
        self.args = (f"{self.name} (0x{rv:08X}): {self.detail}",)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.key, self.operation))


# Which base each return value belongs to: first matching rule wins.
# Names, not values, so this stays true to the header.
_GROUPS: tuple[tuple[tuple[str, ...], type[CryptokiError]], ...] = (
    (("CKR_FUNCTION_NOT_SUPPORTED",), FunctionNotSupported),
    (("CKR_PIN_",), PinError),
    (("CKR_USER_",), LoginError),
    (("CKR_SESSION_",), SessionError),
    (("CKR_SIGNATURE_",), SignatureError),
    (("CKR_TEMPLATE_",), TemplateError),
    (("CKR_ATTRIBUTE_",), AttributeValueError),
    (("CKR_OBJECT_HANDLE_INVALID", "CKR_KEY_HANDLE_INVALID"), ObjectHandleError),
    (("CKR_MECHANISM_", "CKR_CURVE_", "CKR_DOMAIN_PARAMS_", "CKR_KEY_", "CKR_WRAPPING_KEY_", "CKR_UNWRAPPING_KEY_",
      "CKR_WRAPPED_KEY_", "CKR_PUBLIC_KEY_INVALID"), MechanismError),
    (("CKR_DATA_", "CKR_ENCRYPTED_DATA_", "CKR_RANDOM_", "CKR_SAVED_STATE_INVALID", "CKR_STATE_UNSAVEABLE"), DataError),
    (("CKR_OPERATION_", "CKR_FUNCTION_CANCELED", "CKR_FUNCTION_NOT_PARALLEL", "CKR_FUNCTION_REJECTED"),
     OperationError),
    (("CKR_DEVICE_", "CKR_HOST_MEMORY", "CKR_GENERAL_ERROR", "CKR_FUNCTION_FAILED"), DeviceError),
    (("CKR_TOKEN_", "CKR_SLOT_ID_INVALID", "CKR_INFORMATION_SENSITIVE"), TokenError),
    (("CKR_ARGUMENTS_BAD", "CKR_NO_EVENT", "CKR_NEED_TO_CREATE_THREADS", "CKR_BUFFER_TOO_SMALL",
      "CKR_NEW_PIN_MODE", "CKR_NEXT_OTP", "CKR_EXCEEDED_MAX_ITERATIONS", "CKR_FIPS_SELF_TEST_FAILED",
      "CKR_LIBRARY_LOAD_FAILED", "CKR_UNSUPPORTED_"), ArgumentsError),
    (("CKR_CRYPTOKI_", "CKR_CANT_LOCK", "CKR_ACTION_PROHIBITED", "CKR_COPY_PROHIBITED"), LibraryStateError),
)

# Short human explanations for the return values people meet most; the rest speak through their names.
_DESCRIPTIONS_BY_NAME = {
    "CKR_PIN_INCORRECT": "the PIN is incorrect",
    "CKR_PIN_LOCKED": "the PIN is locked after too many wrong attempts",
    "CKR_PIN_LEN_RANGE": "the PIN is too long or too short for this token",
    "CKR_USER_NOT_LOGGED_IN": "log in first",
    "CKR_USER_ALREADY_LOGGED_IN": "a user is already logged in",
    "CKR_SESSION_HANDLE_INVALID": "the session handle is not valid (closed, or from before a fork or re-initialise)",
    "CKR_SESSION_CLOSED": "the session was closed",
    "CKR_SESSION_READ_ONLY": "the session is read-only; open it read-write",
    "CKR_OBJECT_HANDLE_INVALID": "the object handle is not valid",
    "CKR_KEY_HANDLE_INVALID": "the key handle is not valid",
    "CKR_MECHANISM_INVALID": "the token does not support this mechanism for this operation",
    "CKR_MECHANISM_PARAM_INVALID": "the mechanism parameters are not valid",
    "CKR_FUNCTION_NOT_SUPPORTED": "the module does not implement this function",
    "CKR_CRYPTOKI_NOT_INITIALIZED": "the module is not initialised (finalised, or not yet loaded)",
    "CKR_SIGNATURE_INVALID": "the signature does not verify",
    "CKR_KEY_FUNCTION_NOT_PERMITTED": "the key's attributes do not permit this operation",
    "CKR_KEY_TYPE_INCONSISTENT": "the key type does not suit this mechanism",
    "CKR_TOKEN_WRITE_PROTECTED": "the token is write-protected",
    "CKR_ATTRIBUTE_SENSITIVE": "the attribute is sensitive and cannot be read",
}


def _display(value: object) -> str:
    """``CKM_ECDSA`` rather than ``4161``: enum members by name, anything else as it prints."""
    name = getattr(value, "name", None)
    return f"CKM_{name}" if isinstance(name, str) and type(value).__name__ == "Mechanism" else str(value)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name[len("CKR_"):].split("_"))


def _base_for(name: str) -> type[CryptokiError]:
    for prefixes, base in _GROUPS:
        if name.startswith(prefixes):
            return base
    return CryptokiError


_RV_NAMES: dict[int, str] = {}
_CLASSES: dict[int, type[CryptokiError]] = {}
_DESCRIPTIONS: dict[int, str] = {}


def _build() -> None:
    for name in sorted(dir(lib)):
        if not name.startswith("CKR_") or name in ("CKR_OK", "CKR_VENDOR_DEFINED"):
            continue
        rv = int(getattr(lib, name))
        if rv in _CLASSES:  # a deprecated alias of a value already named: keep the first (spec) name
            continue
        _RV_NAMES[rv] = name
        if name in _DESCRIPTIONS_BY_NAME:
            _DESCRIPTIONS[rv] = _DESCRIPTIONS_BY_NAME[name]
        base = _base_for(name)
        cls_name = _camel(name)
        if cls_name == base.__name__:
            _CLASSES[rv] = base
            base.rv = rv
            continue
        cls = type(cls_name, (base,), {"rv": rv, "__doc__": f"``{name}``", "__module__": __name__})
        _CLASSES[rv] = cls
        globals()[cls_name] = cls
        __all__.append(cls_name)
    _RV_NAMES[int(lib.CKR_OK)] = "CKR_OK"


_build()


def rv_name(rv: int) -> str:
    """The ``CKR_*`` name of a return value; vendor values are named relative to ``CKR_VENDOR_DEFINED``."""
    name = _RV_NAMES.get(rv)
    if name:
        return name
    vendor = int(lib.CKR_VENDOR_DEFINED)
    if rv >= vendor:
        return f"CKR_VENDOR_DEFINED+0x{rv - vendor:X}"
    return f"CKR_UNKNOWN_0x{rv:X}"


def error_class(rv: int) -> type[CryptokiError]:
    """The exception class raised for ``rv``."""
    return _CLASSES.get(rv, CryptokiError)


def check(rv: int, function: str) -> None:
    """Raise the exception for ``rv`` unless it is ``CKR_OK``."""
    if rv:
        raise _CLASSES.get(rv, CryptokiError)(rv, function)
