r"""Errors of p11.aws: why temporary credentials could not be had.

They are :class:`p11.errors.P11Error`\ s, and ``ValueError``\ s too because that is what
``awsiot-credentialhelper`` raises for every failure, so code moving to :mod:`p11.aws.compat` keeps its
``except ValueError``. No message carries a PIN, a secret or a credential: only the endpoint, the HTTP status, the
field that is wrong and the provider's own error message.
"""

from __future__ import annotations

from p11.errors import P11Error

__all__ = [
    "ClientCertificateRejected",
    "CredentialsError",
    "CredentialsFetchError",
    "CredentialsFormatError",
    "CredentialsProviderError",
    "CredentialsTLSError",
    "TokenKeyError",
]


class CredentialsError(P11Error, ValueError):
    """Temporary credentials could not be obtained (base class)."""


class CredentialsTLSError(CredentialsError):
    """The mutual-TLS connection failed: the server rejected the client certificate, the server's certificate does
    not verify, the certificate does not match the token key, or the endpoint cannot be reached."""


class ClientCertificateRejected(CredentialsTLSError):
    """The server asks for a client certificate and refused the one given: not issued by a CA it trusts, not for
    client authentication (an extendedKeyUsage without ``clientAuth``), or refused by its own policy. The message
    names what p11 can see wrong with the certificate, when it can."""


class CredentialsProviderError(CredentialsError):
    """The provider answered with an HTTP error (``.status``); 5xx answers were retried first, a bounded number of
    times with backoff."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class CredentialsFormatError(CredentialsError):
    """The provider's answer is not credentials: malformed or partial JSON, a missing field, an expiration that is
    not a date or is already past."""


class CredentialsFetchError(CredentialsError):
    """The call that fetches temporary credentials from STS (GetSessionToken, AssumeRole) failed: the endpoint could
    not be reached or refused the call. The message names the action and the endpoint it went to; ``__cause__`` is
    botocore's error. Raised from the first use of a client (or a refresh), so it says that it was the credential
    fetch, not the client's own call, that failed."""


class TokenKeyError(CredentialsError, RuntimeError):
    """:mod:`p11.aws.compat`: the PKCS#11 key could not be used (a wrong PIN, no such token or key). A
    ``RuntimeError`` too, as ``awsiot-credentialhelper`` raises awscrt's ``RuntimeError`` for these, so code written
    for it keeps catching it; ``__cause__`` is p11's own error (a wrong PIN's, a missing key's ...)."""
