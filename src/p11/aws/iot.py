"""``iot_session``: temporary credentials from the AWS IoT credentials provider, over mutual TLS whose client key
is on the token, as a refreshing ``boto3.Session``.

The provider's call is ``GET /role-aliases/{alias}/credentials`` with header ``x-amzn-iot-thingname``; its answer is
``{"credentials": {"accessKeyId", "secretAccessKey", "sessionToken", "expiration"}}``. A 5xx answer is retried
(:data:`RETRIES` times at most, waiting :data:`BACKOFF` seconds and doubling); a 4xx answer is not. Before connecting
the certificate is checked against the key (same public key) and its validity dates, so those mistakes are named
rather than surfacing as a TLS failure.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from p11.aws.credentials import Metadata, check_metadata, refreshing_session
from p11.aws.errors import CredentialsFormatError, CredentialsProviderError, CredentialsTLSError
from p11.aws.mtls import DEFAULT_TIMEOUT, Endpoint, MtlsClient, TokenKeyRef
from p11.files import read_small_file

__all__ = [
    "BACKOFF",
    "RETRIES",
    "CredentialsFetcher",
    "iot_fetcher",
    "iot_session",
    "mtls_client",
    "read_pem",
    "region_of",
    "token_key_ref",
]

RETRIES = 3  # further attempts after a 5xx answer
BACKOFF = 0.2  # seconds before the first retry; doubled for each next one
_FIELDS = {
    "access_key": "accessKeyId",
    "secret_key": "secretAccessKey",
    "token": "sessionToken",
    "expiry_time": "expiration",
}
_MESSAGE_LIMIT = 200
_PEM_LIMIT = 16 * 1024 * 1024  # a certificate, a key or a CA bundle (the system's is a few hundred KiB)


def read_pem(source: str | bytes | Path, what: str) -> bytes:
    """``source`` as bytes: the bytes themselves, or the regular file a path names (a FIFO or a device is refused,
    never read: it could block for ever; at most :data:`_PEM_LIMIT` bytes)."""
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    if isinstance(source, str | Path):
        try:
            return read_small_file(str(source), _PEM_LIMIT)
        except OSError as exc:
            raise ValueError(f"cannot read the {what} file {str(source)!r}: {exc.strerror}") from None
    raise TypeError(f"{what} must be a path or bytes, not {type(source).__name__}")


def region_of(endpoint: Endpoint) -> str | None:
    """The region in an AWS credentials endpoint name (``<id>.credentials.iot.<region>.amazonaws.com``)."""
    labels = endpoint.host.split(".")
    if len(labels) == 6 and labels[1:3] == ["credentials", "iot"]:
        return labels[3]
    return None


def _private_key(key: Any) -> Any:
    """The p11 private key for ``key``: an RFC 7512 URI (opened with :func:`p11.open`, which logs the token in),
    a p11 ``PrivateKey``, or p11's ``cryptography`` adapter of one."""
    import p11
    from p11.api.objects import PrivateKey

    if isinstance(key, str | p11.URI):
        key = p11.open(key)
    key = getattr(key, "token_object", key)
    if not isinstance(key, PrivateKey):
        raise TypeError(f"key must be a PKCS#11 URI or a p11 private key, not {type(key).__name__}")
    return key


def token_key_ref(key: Any, certificate: bytes) -> TokenKeyRef:
    """Check that ``certificate`` (PEM) belongs to the token key and is valid now; what awscrt needs to find it."""
    from cryptography import x509

    from p11.constants import ObjectClass, SessionState
    from p11.crypto import token_key

    private = _private_key(key)
    if private.session.info().state not in (SessionState.RO_USER_FUNCTIONS, SessionState.RW_USER_FUNCTIONS):
        raise ValueError("the key's token is not logged in: open the key with its PIN (awscrt shares p11's login)")
    try:
        cert = x509.load_pem_x509_certificate(certificate)
    except ValueError:
        raise ValueError("certificate is not a PEM X.509 certificate") from None
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc <= now:
        raise CredentialsTLSError(f"the certificate expired on {cert.not_valid_after_utc.isoformat()}")
    if cert.not_valid_before_utc > now:
        raise CredentialsTLSError(f"the certificate is not valid before {cert.not_valid_before_utc.isoformat()}")
    if token_key(private).public_key() != cert.public_key():
        raise CredentialsTLSError("the certificate does not match the token key (different public keys)")
    label = private.label
    try:
        label.encode("utf-8")
    except UnicodeEncodeError:  # bytes kept as surrogate escapes (docs/security.md): awscrt takes UTF-8
        raise ValueError(
            f"the token key's label {label.encode('utf-8', 'surrogateescape')!r} is not UTF-8, and awscrt finds keys "
            "by a UTF-8 label: give the key a UTF-8 label no other private key has"
        ) from None
    session = private.session
    same = list(session.find(object_class=ObjectClass.PRIVATE_KEY, label=label))
    if not label or len(same) != 1:
        raise ValueError(
            f"the token key needs a label no other private key has (awscrt finds keys by label): {label!r} names "
            f"{len(same)} private keys"
        )
    token = session.token
    return TokenKeyRef(token.library.path, token.slot.id, label, holder=private)


def mtls_client(
    endpoint: str,
    *,
    certificate: str | Path | bytes,
    key: Any,
    ca_file: str | Path | bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> MtlsClient:
    """An HTTPS client over mutual TLS whose client key is the token key ``key`` (an RFC 7512 URI or a p11 key):
    ``client.request("POST", "/path", headers, body)`` / ``client.get(...)`` give ``(status, body)``.

    Python's ``ssl`` takes client keys from files only; this is awscrt's TLS (``pip install p11[aws]``), which signs
    the handshake on the token. ``certificate`` (PEM path or bytes) is checked against the key and its validity
    dates first; ``ca_file`` verifies the server (the system's trust store when None); no step of a request waits
    longer than ``timeout`` seconds. A server that refuses the client certificate raises
    :class:`~p11.aws.errors.ClientCertificateRejected`, saying why when p11 can see it (an extendedKeyUsage without
    ``clientAuth`` ...)."""
    where = Endpoint.parse(endpoint)
    cert = read_pem(certificate, "certificate")
    ca = None if ca_file is None else read_pem(ca_file, "CA")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise ValueError(f"timeout must be a number of seconds in (0, 600], not {timeout!r}")
    return MtlsClient(where, cert, token_key=token_key_ref(key, cert), ca=ca, timeout=float(timeout))


class CredentialsFetcher:
    """One fetch of credentials from the provider, with the bounded retries of the module docstring."""

    def __init__(
        self, client: MtlsClient, role_alias: str, thing_name: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        for name, value in (("role_alias", role_alias), ("thing_name", thing_name)):
            if not isinstance(value, str) or not value or any(c.isspace() or c in "/?#" for c in value):
                raise ValueError(f"{name} must be a non-empty name without white space, '/', '?' or '#'")
        self._client = client
        self._path = f"/role-aliases/{quote(role_alias, safe='')}/credentials"
        self._headers = [("x-amzn-iot-thingname", thing_name)]
        self._sleep = sleep

    def __call__(self) -> Metadata:
        delay = BACKOFF
        for attempt in range(RETRIES + 1):
            status, body = self._client.get(self._path, self._headers)
            if status == 200:
                return _credentials(body)
            if status < 500 or attempt == RETRIES:
                break
            self._sleep(delay)
            delay *= 2
        tries = f" after {attempt + 1} attempts" if attempt else ""
        raise CredentialsProviderError(
            f"credentials provider {self._client.endpoint} answered HTTP {status}{tries}: {_message(body)}", status
        )


def _message(body: bytes) -> str:
    try:
        text = json.loads(body).get("message")
    except (ValueError, AttributeError):
        text = None
    if not isinstance(text, str):
        text = body.decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else " " for c in text[:_MESSAGE_LIMIT]).strip()  # one line, no escapes
    return text or "(no message)"


def _credentials(body: bytes) -> Metadata:
    try:
        document = json.loads(body)
    except ValueError:
        raise CredentialsFormatError("the credentials provider's answer is not JSON") from None
    fields = document.get("credentials") if isinstance(document, dict) else None
    if not isinstance(fields, dict):
        raise CredentialsFormatError("the credentials provider's answer has no 'credentials' object")
    return check_metadata(fields, _FIELDS)


def iot_fetcher(
    *,
    endpoint: str,
    role_alias: str,
    thing_name: str,
    certificate: str | Path,
    key: Any,
    ca_file: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CredentialsFetcher:
    """What fetches credentials for :func:`iot_session` (and ``p11 aws credentials``): the arguments checked, the
    certificate checked against the key, no connection made yet. Each call of the result is one fetch."""
    client = mtls_client(endpoint, certificate=certificate, key=key, ca_file=ca_file, timeout=timeout)
    return CredentialsFetcher(client, role_alias, thing_name)


def iot_session(
    *,
    endpoint: str,
    role_alias: str,
    thing_name: str,
    certificate: str | Path,
    key: Any,
    ca_file: str | Path | None = None,
    region: str | None = None,
) -> Any:
    """A ``boto3.Session`` whose credentials come from the IoT credentials provider at ``endpoint`` (``host[:port]``)
    for ``role_alias`` as ``thing_name``, authenticated by ``certificate`` (PEM path) and the token key ``key`` (an
    RFC 7512 URI or a p11 key); ``ca_file`` verifies the endpoint (the system's trust store when None); ``region``
    defaults to the endpoint's. Credentials are fetched at first use and again before they expire."""
    fetch = iot_fetcher(endpoint=endpoint, role_alias=role_alias, thing_name=thing_name, certificate=certificate,
                        key=key, ca_file=ca_file)
    where = Endpoint.parse(endpoint)
    return refreshing_session(fetch, method="p11-iot-credentials-provider", region=region or region_of(where))
