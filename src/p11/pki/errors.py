"""What can go wrong running a CA, one exception class per cause, all under :class:`PKIError`.

Each says what was refused and why, so a CLI can print it as it is. None holds a PIN or key material. Bad requests
(a CSR that does not verify, a profile that forbids what is asked) are also ``ValueError``s; a refusal that depends
on the state of the CA (its certificate expired, a serial already used) is not.
"""

from __future__ import annotations

from p11.errors import P11Error

__all__ = [
    "AlreadyRevoked",
    "CADirectoryError",
    "CSRInvalid",
    "ChainInvalid",
    "IndexCorrupt",
    "IssuerNotValid",
    "KeyMismatch",
    "LockTimeout",
    "NotACertificateAuthority",
    "PKIError",
    "PathLengthExceeded",
    "ProfileViolation",
    "SerialInUse",
    "UnknownSerial",
]


class PKIError(P11Error):
    """Base of every error :mod:`p11.pki` raises.

    A refusal that a different argument would avoid also says which: ``parameter`` names the argument (``"san"``,
    ``"path_length"``, ``"profile"``) and ``reason`` is the message without the advice on how to pass it, so a
    command line can give its own advice in its own words (``--san``, not ``san=[...]``).
    """

    def __init__(self, message: str, *, reason: str | None = None, parameter: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason
        self.parameter = parameter


class CSRInvalid(PKIError, ValueError):
    """A certificate signing request could not be read, or its signature does not verify with its own key."""


class ProfileViolation(PKIError, ValueError):
    """The request asks for what the profile forbids (CA=true on a server certificate, no SAN where one is
    required, a key type the profile does not take, an unknown profile name)."""


class IssuerNotValid(PKIError):
    """The issuing CA's certificate is expired or not yet valid: nothing it signed now would verify."""


class PathLengthExceeded(PKIError):
    """A CA below this issuer would break a ``pathLenConstraint`` on the way to the root."""


class NotACertificateAuthority(PKIError):
    """The certificate is not a CA certificate (no ``basicConstraints`` CA=true, or no ``keyCertSign`` usage)."""


class KeyMismatch(PKIError):
    """The token key is not the key of the CA certificate (their public keys differ)."""


class SerialInUse(PKIError):
    """The index already holds this serial number: serials are never reused (RFC 5280 section 4.1.2.2)."""


class UnknownSerial(PKIError, LookupError):
    """No certificate with this serial number is in the CA's index."""


class AlreadyRevoked(PKIError):
    """The certificate is already revoked; its revocation date and reason stay as they were."""


class IndexCorrupt(PKIError):
    """The CA's index file cannot be read: the message names the file and line."""


class CADirectoryError(PKIError):
    """The CA directory is missing, incomplete, or (when creating a CA) not empty."""


class LockTimeout(PKIError, TimeoutError):
    """Another process held the CA directory's lock for longer than the timeout."""


class ChainInvalid(PKIError, ValueError):
    """:func:`p11.pki.verify_chain` found no valid path: ``.certificate`` is the one that failed (when one did)."""

    def __init__(self, message: str, certificate: object | None = None) -> None:
        super().__init__(message)
        self.certificate = certificate
