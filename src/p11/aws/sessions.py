"""boto3 sessions signed through the token: :func:`signing_session` (every request) and :func:`sts_session`
(temporary credentials from GetSessionToken/AssumeRole, whose calls are signed through the token).

No botocore internals are patched: two documented event hooks do the work. ``choose-signer`` (registered first, so
it also wins over botocore's per-operation choice) answers ``botocore.UNSIGNED``, so botocore's own signer (which
would need the secret) steps aside, and ``before-sign`` (which botocore emits for every request, signed or not, with
the service's signing name and region) signs the request with :class:`p11.aws.SigV4Signer`. The session's credential
chain is replaced by an empty resolver, so botocore never looks for a secret in the environment, files or instance
metadata.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

from p11.aws.canonical import UNSIGNED_PAYLOAD
from p11.aws.credentials import Metadata, check_metadata, refreshing_session
from p11.aws.errors import CredentialsFetchError
from p11.aws.signer import SigV4Signer, check_key, check_scope_part

__all__ = ["TokenAuth", "signing_session", "sts_session"]

_ANOTHER_ENDPOINT = " (pass endpoint_url= to sts_session, or set AWS_ENDPOINT_URL_STS, to use another)"
_STS_FIELDS = {
    "access_key": "AccessKeyId",
    "secret_key": "SecretAccessKey",
    "token": "SessionToken",
    "expiry_time": "Expiration",
}


class TokenAuth:
    """The two botocore event handlers that sign requests through a token key; :meth:`register` attaches them to a
    botocore session or a client's event emitter."""

    def __init__(self, key: Any, *, access_key_id: str, session_token: str | None = None) -> None:
        check_key(key)
        check_scope_part("access_key_id", access_key_id)
        self._key = key
        self._access_key_id = access_key_id
        self._session_token = session_token
        self._signers: dict[tuple[str, str], SigV4Signer] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<TokenAuth {self._access_key_id}>"

    def register(self, events: Any) -> None:
        """Hook into ``events``: a botocore session's ``get_component("event_emitter")`` or ``client.meta.events``.
        The signer choice goes first, ahead of botocore's own per-operation choice (S3 asks for ``s3v4``)."""
        events.register_first("choose-signer", self.choose_signer, unique_id="p11-aws-choose-signer")
        events.register("before-sign", self.before_sign, unique_id="p11-aws-before-sign")

    def choose_signer(self, context: Any = None, **_: Any) -> Any:
        import botocore

        if isinstance(context, dict) and context.get("is_presign_request"):
            # botocore's presigners sign through the query string, which before-sign cannot do (no expiry is given).
            raise ValueError("botocore's presigned URLs/POSTs cannot be signed on the token: use SigV4Signer.presign")
        return botocore.UNSIGNED

    def _signer(self, region: str, service: str) -> SigV4Signer:
        with self._lock:
            signer = self._signers.get((region, service))
            if signer is None:
                signer = SigV4Signer(self._key, access_key_id=self._access_key_id, region=region, service=service)
                self._signers[(region, service)] = signer
            return signer

    def before_sign(self, request: Any, signing_name: str, region_name: str | None, **_: Any) -> None:
        signing = request.context.get("signing") or {}
        region = signing.get("region") or region_name
        service = signing.get("signing_name") or signing_name
        if not region:
            raise ValueError("no region to sign for: give the session or client a region_name")
        url = request.url
        if request.params:
            query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in request.params.items())
            url = f"{url}{'&' if '?' in url else '?'}{query}"
            request.url, request.params = url, {}
        dropped = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
        headers = [(n, v) for n, v in request.headers.items() if n.lower() not in dropped]
        if self._session_token is None:
            headers += [(n, v) for n, v in request.headers.items() if n.lower() == "x-amz-security-token"]
        payload = _payload_marker(request)
        if payload is not None:
            headers.append(("X-Amz-Content-SHA256", payload))
        signed = self._signer(region, service).sign(
            request.method,
            url,
            headers,
            b"" if payload is not None else _body_bytes(request.body),
            session_token=self._session_token,
        )
        for name in {n for n, _ in signed}:
            del request.headers[name]
        for name, value in signed:
            request.headers[name] = value


def _payload_marker(request: Any) -> str | None:
    """What stands for the payload hash when the body is not hashed, as botocore decides: a checksum sent in an
    aws-chunked trailer (S3 uploads over HTTPS), or payload signing switched off for the operation."""
    algorithm = (request.context.get("checksum") or {}).get("request_algorithm")
    if isinstance(algorithm, dict) and algorithm.get("in") == "trailer":
        return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    if request.context.get("payload_signing_enabled", True) is False:
        return UNSIGNED_PAYLOAD
    return None


def _encode(value: object) -> str:
    return quote(str(value), safe="-_.~")


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    # A seekable stream (an upload): read it for the hash, then put it back where it was.
    position = body.tell()
    data = body.read()
    body.seek(position)
    return data if isinstance(data, bytes) else str(data).encode("utf-8")


def signing_session(key: Any, *, access_key_id: str, region: str, session_token: str | None = None) -> Any:
    """A ``boto3.Session`` whose clients sign every request through ``key`` (from :func:`p11.aws.import_secret`)."""
    import boto3
    import botocore.credentials
    import botocore.session

    auth = TokenAuth(key, access_key_id=access_key_id, session_token=session_token)
    core = botocore.session.Session()
    core.register_component("credential_provider", botocore.credentials.CredentialResolver([]))
    auth.register(core.get_component("event_emitter"))
    return boto3.Session(botocore_session=core, region_name=region)


def sts_session(
    key: Any,
    *,
    access_key_id: str,
    region: str,
    role_arn: str | None = None,
    duration: int = 3600,
    endpoint_url: str | None = None,
) -> Any:
    """A ``boto3.Session`` with refreshable temporary credentials: ``GetSessionToken`` (or ``AssumeRole`` when
    ``role_arn`` is given) for ``duration`` seconds, each call signed through ``key``. Only the temporary
    credentials ever exist in the host's memory; they are fetched at first use and again before they expire.

    botocore refreshes such credentials from 15 minutes before they expire (and insists from 10 minutes): with the
    shortest ``duration`` (900 s) every use refreshes, so keep it an hour or more unless that is what you want.

    Where the credentials come from: ``endpoint_url`` when given, else botocore's own choice for an STS client
    (``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``, the profile's ``endpoint_url``, else STS in ``region``). A
    client's own ``endpoint_url=`` does not move this fetch: it is another client. When the fetch fails, the error
    (:class:`~p11.aws.errors.CredentialsFetchError`, raised by the first call of any client) says that it was the
    fetch, which action and which endpoint."""
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise TypeError(f"duration must be an int (seconds), not {type(duration).__name__}")
    if not 900 <= duration <= 129600:
        raise ValueError(f"duration must be between 900 and 129600 seconds (STS limits), not {duration}")
    if role_arn is not None and (not isinstance(role_arn, str) or not role_arn.startswith("arn:")):
        raise ValueError(f"role_arn must be an ARN (arn:...), not {role_arn!r}")
    if endpoint_url is not None and (not isinstance(endpoint_url, str) or not endpoint_url.startswith(
            ("http://", "https://"))):
        raise ValueError(f"endpoint_url must be an http(s) URL, not {endpoint_url!r}")
    client = signing_session(key, access_key_id=access_key_id, region=region).client(
        "sts", region_name=region, endpoint_url=endpoint_url
    )
    lock = threading.Lock()
    action = "GetSessionToken" if role_arn is None else "AssumeRole"

    def fetch() -> Metadata:
        from botocore.exceptions import BotoCoreError, ClientError

        with lock:  # one STS call at a time per session
            try:
                if role_arn is None:
                    answer = client.get_session_token(DurationSeconds=duration)
                else:
                    answer = client.assume_role(
                        RoleArn=role_arn, RoleSessionName=f"p11-{access_key_id}"[:64], DurationSeconds=duration
                    )
            except (BotoCoreError, ClientError) as exc:
                hint = "" if endpoint_url else _ANOTHER_ENDPOINT
                raise CredentialsFetchError(
                    f"fetching temporary credentials ({action} for {access_key_id}) from STS at "
                    f"{client.meta.endpoint_url}{hint} failed: {exc}"
                ) from exc
        return check_metadata(answer.get("Credentials") or {}, _STS_FIELDS)

    method = "p11-sts-assume-role" if role_arn else "p11-sts-session-token"
    return refreshing_session(fetch, method=method, region=region)
