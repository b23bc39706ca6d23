"""Temporary credentials as botocore wants them: checked, and behind a botocore session that refreshes them.

One home for the rules every source of temporary credentials (STS, the IoT credentials provider) shares: the four
fields must be there and be strings, the expiration must be a date in the future; the session gets its credentials
only from us (botocore's own chain, with its environment, files and instance metadata lookups, is never asked), and
refreshes them with botocore's ``DeferredRefreshableCredentials``: the first fetch happens at first use, later ones
before expiry; a failed fetch leaves nothing behind (the next use fetches again).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from p11.aws.errors import CredentialsFormatError

__all__ = ["Metadata", "check_metadata", "credential_process_document", "refreshing_session"]

Metadata = dict[str, str]  # botocore's refresh format: access_key, secret_key, token, expiry_time


def parse_expiration(value: object, now: datetime.datetime | None = None) -> datetime.datetime:
    """``value`` as an aware UTC datetime in the future (ISO 8601 text, or epoch seconds as STS's JSON may give)."""
    if isinstance(value, datetime.datetime):
        when = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        when = datetime.datetime.fromtimestamp(value, datetime.UTC)
    elif isinstance(value, str):
        try:
            when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise CredentialsFormatError(f"credentials expiration is not a date: {value[:40]!r}") from None
    else:
        raise CredentialsFormatError(f"credentials expiration is not a date but {type(value).__name__}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    current = now or datetime.datetime.now(datetime.UTC)
    if when <= current:
        raise CredentialsFormatError(f"credentials expired already ({when.isoformat()})")
    return when.astimezone(datetime.UTC)


def check_metadata(fields: Mapping[str, Any], names: Mapping[str, str]) -> Metadata:
    """botocore's refresh metadata from ``fields``, whose keys are named per ``names`` (ours → theirs); raises
    :class:`CredentialsFormatError` naming the missing or wrong field (never its value)."""
    out: Metadata = {}
    for ours, theirs in names.items():
        value = fields.get(theirs)
        if ours == "expiry_time":
            out[ours] = parse_expiration(value).isoformat()
            continue
        if not isinstance(value, str) or not value:
            raise CredentialsFormatError(f"credentials field {theirs!r} is missing or not a string")
        out[ours] = value
    return out


def credential_process_document(metadata: Metadata) -> dict[str, Any]:
    """What a ``credential_process`` prints for ``metadata`` (from ``check_metadata``): the document every AWS SDK
    and the AWS CLI read, ``{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}``.

    The expiration is written ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds, rounded down): the ISO 8601 / RFC 3339
    form that every SDK's parser takes (Java's ``Instant.parse`` and Go's ``time.RFC3339`` included)."""
    expiry = parse_expiration(metadata["expiry_time"])
    return {
        "Version": 1,
        "AccessKeyId": metadata["access_key"],
        "SecretAccessKey": metadata["secret_key"],
        "SessionToken": metadata["token"],
        "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def refreshing_session(
    fetch: Callable[[], Metadata], *, method: str, region: str | None, config: Mapping[str, Any] | None = None
) -> Any:
    """A ``boto3.Session`` whose only credentials are those ``fetch`` returns, refreshed before they expire;
    ``config`` sets botocore config variables (``region`` ...)."""
    import boto3
    import botocore.credentials
    import botocore.session

    class _Provider(botocore.credentials.CredentialProvider):  # type: ignore[misc]
        METHOD = method

        def load(self) -> Any:
            return botocore.credentials.DeferredRefreshableCredentials(refresh_using=fetch, method=method)

    core = botocore.session.Session()
    core.register_component("credential_provider", botocore.credentials.CredentialResolver([_Provider()]))
    for name, value in (config or {}).items():
        core.set_config_variable(name, value)
    return boto3.Session(botocore_session=core, region_name=region)
