"""How a failure reads on the command line: one line naming what went wrong (the ``CKR_*`` in words) and what to
do, and the exit code (1: the operation failed; 2: the command was used wrongly).

The messages come from the library's exceptions, which never hold a PIN; this module only adds the advice a
person at a shell needs, keyed by exception class so one rule covers every subcommand.
"""

from __future__ import annotations

from typing import Final

import click

from p11 import errors
from p11.aws import CredentialsError
from p11.crypto import InvalidKeyData, PasswordRequired, UnsupportedCurve, UnsupportedKeyType, WrongPassword
from p11.errors import CryptokiError, ModuleNotFound, ModuleNotSpecified, P11Error, PinSourceError, URIError
from p11.pki import CADirectoryError

__all__ = ["FAILED", "USAGE", "CliError", "describe"]

FAILED: Final = 1
USAGE: Final = 2

# Advice by Cryptoki return value name: what the user can do about it.
_ADVICE: Final = {
    "CKR_PIN_INCORRECT": "check the PIN (--pin-source FILE, P11_PIN, or the prompt)",
    "CKR_PIN_LOCKED": "the SO must reset the user PIN (p11 init-pin), or re-initialise the token",
    "CKR_PIN_LEN_RANGE": "choose a PIN whose length the token accepts (see p11 info)",
    "CKR_USER_PIN_NOT_INITIALIZED": "set the user PIN first: p11 init-pin",
    "CKR_MECHANISM_INVALID": "list what the token offers with p11 mechanisms",
    "CKR_KEY_TYPE_INCONSISTENT": "pick a mechanism for this key type (p11 mechanisms)",
    "CKR_KEY_FUNCTION_NOT_PERMITTED": "the key's usage flags forbid this: widen them (p11 set-attr, keygen --usage)",
    "CKR_SESSION_EXISTS": "close other programs using the token, then retry",
    "CKR_TOKEN_WRITE_PROTECTED": "the token is read-only",
    "CKR_SIGNATURE_INVALID": "the data or the signature differ from what was signed",
    "CKR_ATTRIBUTE_READ_ONLY": "this attribute cannot be changed on this token",
    "CKR_USER_NOT_LOGGED_IN": "give the PIN",
}


class CliError(click.ClickException):
    """A failure the command reports as one line; ``exit_code`` 1 (failed) or 2 (usage)."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.code = exit_code

    def format_message(self) -> str:
        return self.message


def describe(exc: BaseException) -> tuple[str, int]:
    """The one line and the exit code for an exception raised under a subcommand."""
    if isinstance(exc, CliError):
        return exc.message, exc.code
    if isinstance(exc, CryptokiError):
        advice = _ADVICE.get(exc.name)
        return f"{exc}{'; ' + advice if advice else ''}", FAILED
    if isinstance(exc, ModuleNotSpecified | ModuleNotFound):
        return f"{exc} (or give --module PATH / --module-name NAME)", USAGE
    if isinstance(exc, errors.UntrustedModule):  # its message says how to allow the module
        return str(exc), USAGE
    if isinstance(exc, errors.ModuleLoadError):
        return f"{exc}; check --module / P11_MODULE", USAGE
    if isinstance(exc, errors.MultipleTokens | errors.MultipleObjects):
        return f"ambiguous selection: {exc}", USAGE
    if isinstance(exc, errors.NoSuchToken | errors.NoSuchObject):
        return f"{exc}; see p11 info / p11 objects", FAILED
    if isinstance(exc, PasswordRequired | WrongPassword):
        return f"{exc}; give the key's password with --password-source FILE", FAILED
    if isinstance(exc, InvalidKeyData | UnsupportedKeyType | UnsupportedCurve):
        return f"cannot use the key material: {exc}", FAILED
    if isinstance(exc, CADirectoryError):
        return f"{exc} (make a CA with p11 selfsign --ca-dir, or p11 issue --new-ca-dir)", FAILED
    if isinstance(exc, CredentialsError):  # a ValueError, but the fetch failed: not a usage error
        return str(exc), FAILED
    if isinstance(exc, URIError | PinSourceError | errors.DERError):  # what the user gave is not valid
        return str(exc), USAGE
    if isinstance(exc, P11Error) and not isinstance(exc, errors.NotARegularFile | errors.FileTooLarge):
        return str(exc), FAILED
    if isinstance(exc, OSError):
        name = f" {exc.filename!r}" if exc.filename else ""
        return f"cannot read or write{name}: {exc.strerror or exc}", FAILED
    if isinstance(exc, ValueError | TypeError):
        return str(exc), USAGE
    return f"{type(exc).__name__}: {exc}", FAILED
