"""``SigV4Signer``: AWS Signature Version 4 with the long-term secret inside the token.

The signing key is ``HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")``. The token
holds ``"AWS4" + secret`` as a non-extractable HMAC key (:func:`p11.aws.import_secret`) and computes the first step,
the HMAC over the date; the rest runs in software on that day's derived key, which is all the host ever sees. The
derived key is kept in memory only, per ``(date, region, service)``, for the current date (a new day evicts the old
ones), so a busy client crosses into the token once a day per region and service, not once a request.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from p11.aws import canonical
from p11.aws.canonical import Headers
from p11.constants import Mechanism

__all__ = ["SigV4Signer", "check_key", "check_scope_part"]

_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


class SigV4Signer:
    """Signs requests for one access key, region and service with a token-held secret (see the module docstring).

    ``key`` is the token key from :func:`p11.aws.import_secret` (any p11 secret key that signs with
    ``SHA256_HMAC`` and holds ``"AWS4" + secret``).
    """

    __slots__ = ("_cache", "_key", "_lock", "access_key_id", "region", "service")

    def __init__(self, key: Any, *, access_key_id: str, region: str, service: str) -> None:
        check_key(key)
        for name, value in (("access_key_id", access_key_id), ("region", region), ("service", service)):
            check_scope_part(name, value)
        self._key = key
        self.access_key_id = access_key_id
        self.region = region
        self.service = service
        self._cache: dict[tuple[str, str, str], bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SigV4Signer {self.access_key_id} {self.region}/{self.service}>"

    # -- the key --------------------------------------------------------------------------------------------------

    def _signing_key(self, date: str) -> bytes:
        """The derived key for ``date`` (``YYYYMMDD``): one HMAC on the token, three in software, cached."""
        slot = (date, self.region, self.service)
        with self._lock:
            cached = self._cache.get(slot)
        if cached is not None:
            return cached
        k_date = bytes(self._key.sign(date.encode("ascii"), Mechanism.SHA256_HMAC))
        k_region = hmac.new(k_date, self.region.encode("utf-8"), hashlib.sha256).digest()
        k_service = hmac.new(k_region, self.service.encode("utf-8"), hashlib.sha256).digest()
        k_signing = hmac.new(k_service, b"aws4_request", hashlib.sha256).digest()
        with self._lock:
            for old in [s for s in self._cache if s[0] != date]:
                del self._cache[old]
            self._cache[slot] = k_signing
        return k_signing

    def signature(self, string_to_sign: str, timestamp: str) -> str:
        """The hex signature of ``string_to_sign`` for a request made at ``timestamp`` (``YYYYMMDDTHHMMSSZ``)."""
        key = self._signing_key(timestamp[:8])
        return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- headers --------------------------------------------------------------------------------------------------

    @property
    def _s3(self) -> bool:
        return self.service == "s3"

    def sign(
        self,
        method: str,
        url: str,
        headers: Headers | None = None,
        body: bytes = b"",
        *,
        amz_date: str | datetime.datetime | None = None,
        session_token: str | None = None,
        unsigned_payload: bool = False,
    ) -> list[tuple[str, str]]:
        """The headers to send: ``headers`` (order and repeated names kept; any ``Authorization`` dropped) plus
        ``X-Amz-Date`` when missing, ``X-Amz-Security-Token`` when ``session_token`` is given, ``x-amz-content-sha256``
        for S3 (or when ``unsigned_payload``), and ``Authorization``.

        ``url`` is the URL as sent (path and query percent-encoded as on the wire). ``amz_date`` defaults to the
        request's ``X-Amz-Date`` header, else now. An ``X-Amz-Content-SHA256`` header in ``headers`` is signed as
        the payload hash instead of hashing ``body`` (``UNSIGNED-PAYLOAD``, ``STREAMING-...`` markers)."""
        return self._signed(method, url, headers, body, amz_date, session_token, unsigned_payload)[0]

    def _signed(
        self,
        method: str,
        url: str,
        headers: Headers | None,
        body: bytes,
        amz_date: str | datetime.datetime | None,
        session_token: str | None,
        unsigned_payload: bool,
    ) -> tuple[list[tuple[str, str]], str, str]:
        """``(headers to send, canonical request, string to sign)``: the last two for tests and debugging."""
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"body must be bytes, not {type(body).__name__}")
        pairs = [(n, v) for n, v in canonical.header_pairs(headers) if n.lower() != "authorization"]
        timestamp = self._timestamp(pairs, amz_date)
        if session_token is not None:
            _check_token(session_token)
            pairs = [(n, v) for n, v in pairs if n.lower() != "x-amz-security-token"]
            pairs.append(("X-Amz-Security-Token", session_token))
        payload = _find(pairs, "x-amz-content-sha256")
        if payload is None:
            payload = canonical.UNSIGNED_PAYLOAD if unsigned_payload else hashlib.sha256(body).hexdigest()
            if self._s3 or unsigned_payload:
                pairs.append(("X-Amz-Content-SHA256", payload))
        canon, signed = canonical.canonical_request(
            method, url, canonical.signable(pairs, url), payload, s3=self._s3
        )
        credential_scope = canonical.scope(timestamp, self.region, self.service)
        sts = canonical.string_to_sign(timestamp, credential_scope, canon)
        authorization = (
            f"{canonical.ALGORITHM} Credential={self.access_key_id}/{credential_scope}, "
            f"SignedHeaders={signed}, Signature={self.signature(sts, timestamp)}"
        )
        pairs.append(("Authorization", authorization))
        return pairs, canon, sts

    def _timestamp(self, pairs: list[tuple[str, str]], amz_date: str | datetime.datetime | None) -> str:
        """The request's time; adds ``X-Amz-Date`` to ``pairs`` when it is missing."""
        present = _find(pairs, "x-amz-date")
        if present is None:
            timestamp = canonical.amz_timestamp(amz_date)
            pairs.append(("X-Amz-Date", timestamp))
            return timestamp
        timestamp = canonical.amz_timestamp(present.strip())
        if amz_date is not None and canonical.amz_timestamp(amz_date) != timestamp:
            raise ValueError("amz_date differs from the request's X-Amz-Date header")
        return timestamp

    # -- query string (presigned URLs) ----------------------------------------------------------------------------

    def presign(
        self,
        method: str,
        url: str,
        expires: int = 3600,
        *,
        headers: Headers | None = None,
        amz_date: str | datetime.datetime | None = None,
        session_token: str | None = None,
    ) -> str:
        """A presigned URL valid for ``expires`` seconds (1 s to 7 days): the signature travels in the query string
        (``X-Amz-Algorithm``, ``-Credential``, ``-Date``, ``-Expires``, ``-SignedHeaders``, ``-Security-Token``,
        ``-Signature``). The payload is ``UNSIGNED-PAYLOAD`` for S3 and the empty body's hash otherwise, as botocore
        does; ``headers`` are extra headers the URL's user must send (``host`` is always signed)."""
        if isinstance(expires, bool) or not isinstance(expires, int):
            raise TypeError(f"expires must be an int (seconds), not {type(expires).__name__}")
        if not 1 <= expires <= _MAX_PRESIGN_SECONDS:
            raise ValueError(f"expires must be between 1 and {_MAX_PRESIGN_SECONDS} seconds, not {expires}")
        timestamp = canonical.amz_timestamp(amz_date)
        pairs = canonical.signable(canonical.header_pairs(headers), url)
        _, signed = canonical.canonical_headers(pairs)
        credential_scope = canonical.scope(timestamp, self.region, self.service)
        params = [
            ("X-Amz-Algorithm", canonical.ALGORITHM),
            ("X-Amz-Credential", f"{self.access_key_id}/{credential_scope}"),
            ("X-Amz-Date", timestamp),
            ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", signed),
        ]
        if session_token is not None:
            _check_token(session_token)
            params.append(("X-Amz-Security-Token", session_token))
        parts = urlsplit(url)
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params)
        query = f"{parts.query}&{query}" if parts.query else query
        unsigned = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        payload = canonical.UNSIGNED_PAYLOAD if self._s3 else canonical.EMPTY_SHA256
        canon, _ = canonical.canonical_request(method, unsigned, pairs, payload, s3=self._s3)
        sts = canonical.string_to_sign(timestamp, credential_scope, canon)
        return f"{unsigned}&X-Amz-Signature={self.signature(sts, timestamp)}"


def check_key(key: object) -> None:
    """``key`` must sign like a p11 secret key (the one from :func:`p11.aws.import_secret`)."""
    if not callable(getattr(key, "sign", None)):
        raise TypeError(f"key must be a p11 secret key (from p11.aws.import_secret), not {type(key).__name__}")


def check_scope_part(name: str, value: object) -> None:
    """An access key id, region or service: it goes into the credential scope, ``/``-separated."""
    if not isinstance(value, str) or not value or "/" in value or any(c.isspace() for c in value):
        raise ValueError(f"{name} must be a non-empty string without '/' or white space, not {value!r}")


def _find(pairs: Iterable[tuple[str, str]], lname: str) -> str | None:
    for name, value in pairs:
        if name.lower() == lname:
            return value
    return None


def _check_token(token: object) -> None:
    if not isinstance(token, str) or not token or "\r" in token or "\n" in token:
        raise ValueError("session_token must be a non-empty string without line breaks")
