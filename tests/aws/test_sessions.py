"""boto3 sessions signed through the token, against a local STS stub that verifies every signature it receives."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest

from p11.api.session import Session
from p11.aws import import_secret, signing_session, sts_session
from p11.aws.credentials import parse_expiration
from p11.aws.errors import CredentialsError, CredentialsFetchError, CredentialsFormatError
from tests.aws.stubs import EXAMPLE_SECRET as SECRET
from tests.aws.stubs import StsStub


def test_signing_session_requests_verify_at_the_stub(aws_key: Any, sts_stub: Any) -> None:
    session = signing_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1")
    identity = session.client("sts").get_caller_identity()
    assert identity["UserId"] == "AKIDEXAMPLE"
    assert sts_stub.calls == [("GetCallerIdentity", "AKIDEXAMPLE")] and not sts_stub.rejected
    assert session.get_credentials() is None  # botocore holds no secret, and looked for none


def test_s3_through_a_token_signing_session(aws_key: Any, sts_stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """S3's rules (path not normalised, x-amz-content-sha256 signed) through botocore's S3 client."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", sts_stub.url)
    s3 = signing_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1").client("s3")
    key = "dir//a b/../caf\u00e9+1.txt"
    s3.put_object(Bucket="bucket", Key=key, Body=b"payload on the wire")
    assert s3.get_object(Bucket="bucket", Key=key)["Body"].read() == b"payload on the wire"
    assert not sts_stub.rejected and [c[0].split()[0] for c in sts_stub.calls] == ["PUT", "GET"]


def test_payload_markers_botocore_asks_for_are_signed(aws_key: Any) -> None:
    """An S3 upload with its checksum in an aws-chunked trailer (botocore does that over HTTPS) signs the streaming
    marker, not the body, as botocore's own signer does; so does an operation with payload signing switched off."""
    from botocore.awsrequest import AWSRequest

    from p11.aws.sessions import TokenAuth

    auth = TokenAuth(aws_key, access_key_id="AKIDEXAMPLE")
    for context, marker in (({"checksum": {"request_algorithm": {"in": "trailer", "name": "x-amz-checksum-crc32"}}},
                             "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), ({"payload_signing_enabled": False},
                                                                      "UNSIGNED-PAYLOAD")):
        request = AWSRequest(method="PUT", url="https://bucket.s3.amazonaws.com/k", data=b"body")
        request.context.update(context)
        auth.before_sign(request=request, signing_name="s3", region_name="eu-central-1")
        assert request.headers["X-Amz-Content-SHA256"] == marker
        assert "x-amz-content-sha256" in request.headers["Authorization"]


def test_botocore_presigning_is_refused_not_left_unsigned(aws_key: Any, sts_stub: Any) -> None:
    client = signing_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1").client("sts")
    with pytest.raises(ValueError, match=r"SigV4Signer\.presign"):
        client.generate_presigned_url("get_caller_identity")


def test_a_different_secret_is_rejected_by_the_stub(api_session: Session, sts_stub: Any) -> None:
    from botocore.exceptions import ClientError

    key = import_secret(api_session, SECRET[:-1] + "X", label="aws-wrong-secret")
    try:
        client = signing_session(key, access_key_id="AKIDEXAMPLE", region="eu-central-1").client("sts")
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            client.get_caller_identity()
        assert sts_stub.rejected == ["SignatureDoesNotMatch"] and sts_stub.calls == []
    finally:
        key.destroy()


def test_sts_session_gets_temporary_credentials_signed_on_the_token(aws_key: Any, sts_stub: Any,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session = sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1", duration=900)
    assert sts_stub.calls == []  # fetched at first use
    identity = session.client("sts").get_caller_identity()
    issued = sts_stub.issued[0]
    assert identity["UserId"] == issued  # the call was signed with the temporary credentials
    assert sts_stub.calls == [("GetSessionToken", "AKIDEXAMPLE"), ("GetCallerIdentity", issued)]
    assert session.get_credentials().method == "p11-sts-session-token"
    # The long-term secret is nowhere, even in botocore's DEBUG log (which does print STS's answer, temporary
    # credentials included: that is botocore's logging, see docs/aws.md).
    assert "Sending http request" in caplog.text and SECRET not in caplog.text


def test_sts_session_assume_role(aws_key: Any, sts_stub: Any) -> None:
    session = sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1",
                          role_arn="arn:aws:iam::123456789012:role/device")
    frozen = session.get_credentials().get_frozen_credentials()
    assert frozen.access_key == sts_stub.issued[0]
    assert sts_stub.calls == [("AssumeRole", "AKIDEXAMPLE")]


def test_sts_credentials_refresh_before_they_expire(aws_key: Any, sts_stub: Any) -> None:
    sts_stub.lifetime = datetime.timedelta(minutes=5)  # inside botocore's mandatory refresh window
    session = sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1")
    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials().access_key
    second = credentials.get_frozen_credentials().access_key
    assert first != second and sts_stub.issued == [first, second]
    sts_stub.lifetime = datetime.timedelta(hours=1)
    third = credentials.get_frozen_credentials().access_key
    assert credentials.get_frozen_credentials().access_key == third  # good for an hour: no further call
    assert [a for a, _ in sts_stub.calls] == ["GetSessionToken"] * 3


def _stub() -> StsStub:
    return StsStub({"AKIDEXAMPLE": (SECRET, None)})


def test_endpoint_url_moves_the_credential_fetch(aws_key: Any, aws_env: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``endpoint_url=`` sends GetSessionToken to that endpoint, ahead of ``AWS_ENDPOINT_URL_STS``, which still
    points the session's own STS clients elsewhere."""
    fetch_at, clients_at = _stub(), _stub()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", clients_at.url)
    try:
        session = sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1",
                              endpoint_url=fetch_at.url)
        frozen = session.get_credentials().get_frozen_credentials()
        assert fetch_at.calls == [("GetSessionToken", "AKIDEXAMPLE")] and fetch_at.issued == [frozen.access_key]
        assert clients_at.calls == []
        clients_at.keys[frozen.access_key] = fetch_at.keys[frozen.access_key]  # one STS, two doors
        assert session.client("sts").get_caller_identity()["UserId"] == frozen.access_key
        assert clients_at.calls == [("GetCallerIdentity", frozen.access_key)]
        assert not fetch_at.rejected and not clients_at.rejected
    finally:
        fetch_at.close()
        clients_at.close()


def test_aws_endpoint_url_sts_moves_the_fetch_and_a_clients_endpoint_url_does_not(
        aws_key: Any, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    fetch_at, client_at = _stub(), _stub()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fetch_at.url)
    try:
        session = sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1",
                              role_arn="arn:aws:iam::123456789012:role/device")
        client = session.client("sts", endpoint_url=client_at.url)
        temporary = session.get_credentials().get_frozen_credentials().access_key
        client_at.keys[temporary] = fetch_at.keys[temporary]
        assert client.get_caller_identity()["UserId"] == temporary
        assert fetch_at.calls == [("AssumeRole", "AKIDEXAMPLE")]
        assert client_at.calls == [("GetCallerIdentity", temporary)]
    finally:
        fetch_at.close()
        client_at.close()


def test_a_failed_fetch_says_it_was_the_fetch(aws_key: Any, aws_env: None) -> None:
    """The issue's case: the client is pointed at a local endpoint, the credential fetch is not (here botocore's
    default is a closed local port): the error names the fetch and where it went, not the client's call."""
    from botocore.exceptions import EndpointConnectionError

    client_at = _stub()
    try:
        session = sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1")
        client = session.client("sts", endpoint_url=client_at.url)
        with pytest.raises(CredentialsFetchError) as info:
            client.get_caller_identity()
        assert client_at.calls == [] and client_at.rejected == []
    finally:
        client_at.close()
    message = str(info.value)
    assert message.startswith("fetching temporary credentials (GetSessionToken for AKIDEXAMPLE) from STS at "
                              "http://127.0.0.1:9 (pass endpoint_url= to sts_session, or set AWS_ENDPOINT_URL_STS")
    assert "failed: Could not connect to the endpoint URL" in message
    assert isinstance(info.value.__cause__, EndpointConnectionError) and isinstance(info.value, CredentialsError)


def test_sts_refusing_the_fetch(api_session: Session, aws_env: None) -> None:
    from botocore.exceptions import ClientError

    key = import_secret(api_session, SECRET[:-1] + "X", label="aws-refused-fetch")
    stub = _stub()
    try:
        session = sts_session(key, access_key_id="AKIDEXAMPLE", region="eu-central-1", endpoint_url=stub.url)
        with pytest.raises(CredentialsFetchError, match=r"\(GetSessionToken for AKIDEXAMPLE\) from STS at "
                           rf"{stub.url} failed: .*SignatureDoesNotMatch") as info:
            session.get_credentials().get_frozen_credentials()
        assert isinstance(info.value.__cause__, ClientError) and "pass endpoint_url" not in str(info.value)
        assert SECRET[:-1] not in str(info.value)
    finally:
        stub.close()
        key.destroy()


def test_sts_session_bad_arguments(aws_key: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1", duration=60)
    with pytest.raises(TypeError, match="duration"):
        sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1", duration=900.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role_arn"):
        sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1", role_arn="device")
    with pytest.raises(TypeError, match="p11 secret key"):
        sts_session(SECRET, access_key_id="AKIDEXAMPLE", region="eu-central-1")
    for url in ("sts.amazonaws.com", "ftp://sts.amazonaws.com", b"http://x"):
        with pytest.raises(ValueError, match="endpoint_url must be an http"):
            sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1", endpoint_url=url)  # type: ignore[arg-type]


def test_expirations_in_the_past_or_not_dates_are_refused() -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    assert parse_expiration("2030-01-01T00:00:01Z", now) == now + datetime.timedelta(seconds=1)
    for value in ("2029-12-31T23:59:59Z", "2030-01-01T00:00:00Z"):
        with pytest.raises(CredentialsFormatError, match="expired"):
            parse_expiration(value, now)
    for value in ("tomorrow", None, True, ["2031"]):
        with pytest.raises(CredentialsFormatError, match="not a date"):
            parse_expiration(value, now)
