"""The SigV4 canonical request and string to sign: pure text rules, no key and no token involved.

Kept apart from the signer so the rules can be read (and tested against the public aws-sig-v4-test-suite) on their
own. The rules are botocore's, so a request signed here and by botocore's ``SigV4Auth`` comes out the same:

* the path is the URL's path as it goes on the wire; for every service but S3 it has its dot segments and repeated
  slashes removed and is URI-encoded (again: AWS signs each segment encoded twice); S3 paths are taken as they are,
  only characters that cannot appear in a URI are encoded;
* query parameters are decoded and re-encoded with the strict SigV4 set (``A-Za-z0-9-_.~``), then sorted by key and
  then by value; ``key`` without ``=`` counts as ``key=``;
* header names are lower-cased, sorted and joined with ``;`` (hop-by-hop headers, ``User-Agent`` and ``Expect`` are
  not signed, as botocore does); a repeated header's values are joined with ``,`` in the order given, each value
  trimmed with its inner runs of white space collapsed to one space; ``host`` comes from the URL when not given.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import TypeAlias
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "UNSIGNED_PAYLOAD",
    "Headers",
    "amz_timestamp",
    "canonical_headers",
    "canonical_path",
    "canonical_query",
    "canonical_request",
    "header_pairs",
    "host_of",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# Headers a proxy or client may change on the way: signing them would break the signature (botocore's list).
UNSIGNED_HEADERS = frozenset(
    {
        "authorization",
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
_TIMESTAMP = re.compile(r"\d{8}T\d{6}Z")
_TOKEN_CHARS = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: what a header name may be

Headers: TypeAlias = "Iterable[tuple[str, str]] | Mapping[str, str]"


def header_pairs(headers: Headers | None) -> list[tuple[str, str]]:
    """``headers`` (a mapping, or pairs with repeated names allowed) as a list of ``(name, value)`` pairs, checked:
    names must be HTTP tokens and values strings without CR/LF (a header value cannot smuggle a second header)."""
    if headers is None:
        return []
    raw: object = headers
    if isinstance(raw, str | bytes):
        raise TypeError("headers must be a mapping or a list of (name, value) pairs, not a string")
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs: list[tuple[str, str]] = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError(f"a header must be a (name, value) pair, not {item!r}") from None
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, not {type(name).__name__}/{type(value).__name__}")
        if not _TOKEN_CHARS.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} has a line break in its value")
        pairs.append((name, value))
    return pairs


def amz_timestamp(value: str | datetime.datetime | None) -> str:
    """``YYYYMMDDTHHMMSSZ`` for a ``datetime`` (naive means UTC), a string already in that form, or now."""
    if value is None:
        value = datetime.datetime.now(datetime.UTC)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
        return value.strftime("%Y%m%dT%H%M%SZ")
    if isinstance(value, str):
        try:
            if _TIMESTAMP.fullmatch(value):
                datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ")  # a real date and time
                return value
        except ValueError:
            pass
        raise ValueError(f"amz_date must be a real date and time like 20150830T123600Z, not {value!r}")
    raise TypeError(f"amz_date must be a str or a datetime, not {type(value).__name__}")


def host_of(url: str) -> str:
    """The ``host`` header for ``url``: lower case, without userinfo, the port only when not the scheme's default."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    return host if port is None or port == default else f"{host}:{port}"


def _remove_dot_segments(path: str) -> str:
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
        else:
            kept.append(segment)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and kept else ""
    return lead + "/".join(kept) + trail


def canonical_path(path: str, *, s3: bool = False) -> str:
    """The canonical URI for ``path`` (see the module docstring for the S3 difference)."""
    if s3:
        return quote(path or "/", safe="/~%")
    return quote(_remove_dot_segments(path) if path else "/", safe="/~")


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_query(query: str) -> str:
    """The canonical query string for the raw query of a URL."""
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        key, _, value = item.partition("=")
        pairs.append((_encode(unquote(key)), _encode(unquote(value))))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _trim(value: str) -> str:
    return " ".join(value.split())


def canonical_headers(pairs: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """``(canonical header block, signed header list)`` for the headers to sign."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name.lower(), []).append(_trim(value))
    names = sorted(grouped)
    block = "".join(f"{name}:{','.join(grouped[name])}\n" for name in names)
    return block, ";".join(names)


def signable(pairs: Iterable[tuple[str, str]], url: str) -> list[tuple[str, str]]:
    """The headers that take part in the signature: all but :data:`UNSIGNED_HEADERS`, plus ``host`` from the URL
    when it is not given."""
    chosen = [(name, value) for name, value in pairs if name.lower() not in UNSIGNED_HEADERS]
    if not any(name.lower() == "host" for name, _ in chosen):
        chosen.append(("host", host_of(url)))
    return chosen


def canonical_request(
    method: str, url: str, pairs: Iterable[tuple[str, str]], payload_hash: str, *, s3: bool = False
) -> tuple[str, str]:
    """``(canonical request, signed header list)`` for a request whose headers to sign are ``pairs``."""
    if not isinstance(method, str) or not _TOKEN_CHARS.fullmatch(method):
        raise ValueError(f"invalid HTTP method {method!r}")
    parts = urlsplit(url)
    block, signed = canonical_headers(pairs)
    text = "\n".join(
        (method.upper(), canonical_path(parts.path, s3=s3), canonical_query(parts.query), block, signed, payload_hash)
    )
    return text, signed


def scope(timestamp: str, region: str, service: str) -> str:
    return f"{timestamp[:8]}/{region}/{service}/aws4_request"


def string_to_sign(timestamp: str, credential_scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{credential_scope}\n{digest}"
