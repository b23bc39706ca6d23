"""boto3 sessions signed through the token, against a local STS stub that verifies every signature it receives."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest
from aws_support import EXAMPLE_SECRET as SECRET

from p11.api.session import Session
from p11.aws import import_secret, signing_session, sts_session
from p11.aws.credentials import parse_expiration
from p11.aws.errors import CredentialsFormatError

pytest_plugins = ["highlevel_fixtures", "aws_fixtures"]




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


def test_a_different_secret_is_rejected_by_the_stub(hl_session: Session, sts_stub: Any) -> None:
    from botocore.exceptions import ClientError

    key = import_secret(hl_session, SECRET[:-1] + "X", label="aws-wrong-secret")
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


def test_sts_session_bad_arguments(aws_key: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1", duration=60)
    with pytest.raises(TypeError, match="duration"):
        sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1", duration=900.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role_arn"):
        sts_session(aws_key, access_key_id="AKIDEXAMPLE", region="eu-central-1", role_arn="device")
    with pytest.raises(TypeError, match="p11 secret key"):
        sts_session(SECRET, access_key_id="AKIDEXAMPLE", region="eu-central-1")


def test_expirations_in_the_past_or_not_dates_are_refused() -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    assert parse_expiration("2030-01-01T00:00:01Z", now) == now + datetime.timedelta(seconds=1)
    for value in ("2029-12-31T23:59:59Z", "2030-01-01T00:00:00Z"):
        with pytest.raises(CredentialsFormatError, match="expired"):
            parse_expiration(value, now)
    for value in ("tomorrow", None, True, ["2031"]):
        with pytest.raises(CredentialsFormatError, match="not a date"):
            parse_expiration(value, now)
