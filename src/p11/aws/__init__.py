"""AWS with keys that never leave the token.

* :func:`import_secret` + :class:`SigV4Signer`: SigV4 with the long-term secret access key inside the token (the
  first HMAC of the key derivation runs there);
* :func:`signing_session` / :func:`sts_session`: boto3 sessions whose requests, or whose temporary credentials'
  GetSessionToken/AssumeRole calls, are signed through the token (botocore's event hooks, no patching);
* :func:`iot_session`: temporary credentials from the AWS IoT credentials provider over mutual TLS with the device key
  on the token (awscrt's PKCS#11 TLS, sharing this process's module), refreshed before they expire;
* :mod:`p11.aws.compat`: a drop-in for ``awsiot-credentialhelper`` 1.0.x;
* :func:`mtls_client`: HTTPS over mutual TLS with the client key on the token, for any server (the same awscrt TLS
  as :func:`iot_session`; Python's ``ssl`` takes client keys from files only).
* from the shell and every AWS SDK: ``p11 aws credentials`` (a ``credential_process``) and ``p11 aws import-secret``
  (``p11.cli.aws``).

A leaf of p11: it uses the public API only and nothing in the core imports it. boto3/botocore and awscrt are needed
only by the session functions (``pip install p11[aws]``); the signer needs neither. See docs/aws.md.
"""

from __future__ import annotations

from p11.aws.credentials import credential_process_document
from p11.aws.errors import (
    ClientCertificateRejected,
    CredentialsError,
    CredentialsFetchError,
    CredentialsFormatError,
    CredentialsProviderError,
    CredentialsTLSError,
    TokenKeyError,
)
from p11.aws.iot import iot_fetcher, iot_session, mtls_client
from p11.aws.mtls import DEFAULT_TIMEOUT, MtlsClient
from p11.aws.secret import import_secret
from p11.aws.sessions import signing_session, sts_session
from p11.aws.signer import SigV4Signer

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClientCertificateRejected",
    "CredentialsError",
    "CredentialsFetchError",
    "CredentialsFormatError",
    "CredentialsProviderError",
    "CredentialsTLSError",
    "MtlsClient",
    "SigV4Signer",
    "TokenKeyError",
    "credential_process_document",
    "import_secret",
    "iot_fetcher",
    "iot_session",
    "mtls_client",
    "signing_session",
    "sts_session",
]
