"""IoT credentials over mutual TLS with the device key on the token: a local provider on 127.0.0.1 that requires a
client certificate chaining to a test CA; refresh, the bad-input list of the issue, and the awsiot-credentialhelper
drop-in side by side with the real package."""

from __future__ import annotations

import datetime
import gc
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_support import IotStub, Pki, SilentServer, StsStub, credentials_body, server_context
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support import unique_label

import p11
from p11 import errors
from p11.api.session import Session
from p11.aws import CredentialsFormatError, CredentialsProviderError, CredentialsTLSError, iot_session
from p11.aws.compat import Boto3SessionProvider, Pkcs11Config
from p11.aws.iot import CredentialsFetcher
from p11.aws.mtls import Endpoint, MtlsClient
from p11.crypto import token_key
from p11.testing import SoftHSM

pytest_plugins = ["highlevel_fixtures", "aws_fixtures"]

PIN = "2468"
_names = itertools.count()


@pytest.fixture(scope="session")  # a fixed token label: made once per run (tests/support.py)
def iot_token(softhsm: SoftHSM, hl_library: p11.Library) -> Iterator[Session]:
    """A token of its own (awscrt keeps a session, so the token stays logged in while its TLS contexts live)."""
    spec = softhsm.add_token("aws-iot", user_pin=PIN, so_pin="13579246")
    token = hl_library.get_token(label=spec.label)
    with token.open(user_pin=PIN, rw=True) as session:
        yield session


@pytest.fixture(scope="session")  # its key is on the session-wide iot_token, its certificate from pki
def device(iot_token: Session, pki: Pki) -> tuple[Any, Path]:
    """The device key (on the token) and its certificate, issued by the CA the provider trusts."""
    _, private = iot_token.generate_keypair("ec", curve="P-256", label="device", id=b"dev1")
    return private, pki.device(token_key(private).public_key())


@pytest.fixture
def stub(pki: Pki, server_pki: Pki, aws_env: None) -> Iterator[IotStub]:
    server = IotStub(pki, server_pki)
    yield server
    server.close()


def session_for(stub: IotStub, server_pki: Pki, device: tuple[Any, Path], **kw: Any) -> Any:
    key, cert = device
    options: dict[str, Any] = {"endpoint": stub.endpoint, "role_alias": "device-role", "thing_name": "thing-1",
                               "certificate": cert, "key": key, "ca_file": server_pki.ca_file, "region": "eu-west-1"}
    options.update(kw)
    return iot_session(**options)


def test_credentials_come_over_mtls_with_the_token_key(stub: IotStub, server_pki: Pki, device: Any) -> None:
    session = session_for(stub, server_pki, device)
    assert stub.requests == []  # fetched at first use
    frozen = session.get_credentials().get_frozen_credentials()
    issued = stub.issued[0]
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        issued["accessKeyId"], issued["secretAccessKey"], issued["sessionToken"])
    assert stub.requests == [{"path": "/role-aliases/device-role/credentials", "thing": "thing-1", "client": "device"}]
    assert session.region_name == "eu-west-1"


def test_key_by_uri(stub: IotStub, server_pki: Pki, device: Any, softhsm: SoftHSM) -> None:
    uri = f"pkcs11:token=aws-iot;object=device;type=private?module-path={softhsm.module_path}&pin-value={PIN}"
    session = session_for(stub, server_pki, device, key=uri)
    assert session.get_credentials().get_frozen_credentials().access_key == stub.issued[0]["accessKeyId"]


def test_short_expiry_refreshes(stub: IotStub, server_pki: Pki, device: Any) -> None:
    stub.lifetime = datetime.timedelta(minutes=5)  # inside botocore's mandatory refresh window
    credentials = session_for(stub, server_pki, device).get_credentials()
    first = credentials.get_frozen_credentials().access_key
    second = credentials.get_frozen_credentials().access_key
    assert first != second and len(stub.requests) == 2
    stub.lifetime = datetime.timedelta(hours=1)
    third = credentials.get_frozen_credentials().access_key
    assert credentials.get_frozen_credentials().access_key == third and len(stub.requests) == 3


def test_the_credentials_sign_an_sts_call_the_stub_verifies(stub: IotStub, server_pki: Pki, device: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    sts = StsStub({})
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    try:
        session = session_for(stub, server_pki, device)
        session.get_credentials().get_frozen_credentials()
        issued = stub.issued[0]
        sts.keys[issued["accessKeyId"]] = (issued["secretAccessKey"], issued["sessionToken"])
        assert session.client("sts").get_caller_identity()["UserId"] == issued["accessKeyId"]
        assert sts.calls == [("GetCallerIdentity", issued["accessKeyId"])] and not sts.rejected
    finally:
        sts.close()


# -- bad input -----------------------------------------------------------------------------------------------


def test_wrong_pin_in_the_uri(stub: IotStub, server_pki: Pki, device: Any, softhsm: SoftHSM) -> None:
    # The module token is logged in already here (iot_token); a second token logs in through the URI's PIN.
    spec = softhsm.add_token(unique_label("aws-iot-2"), user_pin="1357", so_pin="13579246")
    uri = f"pkcs11:token={spec.label};object=device;type=private?module-path={softhsm.module_path}&pin-value=918273"
    with pytest.raises(errors.PinIncorrect) as info:
        session_for(stub, server_pki, device, key=uri)
    assert "918273" not in str(info.value) and "918273" not in repr(info.value)
    assert stub.requests == []


def test_key_on_a_token_that_is_not_logged_in(stub: IotStub, server_pki: Pki, pki: Pki, softhsm: SoftHSM,
                                              hl_library: p11.Library) -> None:
    spec = softhsm.add_token(unique_label("aws-iot-public"), user_pin="1357", so_pin="13579246")
    token = hl_library.get_token(label=spec.label)
    with token.open(user_pin="1357", rw=True) as rw:
        _, key = rw.generate_keypair("ec", curve="P-256", label="open-key",
                                     private_attrs={p11.Attribute.PRIVATE: False})
        cert = pki.device(token_key(key).public_key(), "open-device")
    with token.open() as session:  # a public session: the (non-private) key is visible, the token not logged in
        visible = session.get_key(label="open-key", object_class=p11.ObjectClass.PRIVATE_KEY)
        with pytest.raises(ValueError, match="not logged in"):
            session_for(stub, server_pki, (visible, cert))


def test_missing_key(stub: IotStub, server_pki: Pki, device: Any, softhsm: SoftHSM) -> None:
    uri = f"pkcs11:token=aws-iot;object=no-such-key;type=private?module-path={softhsm.module_path}&pin-value={PIN}"
    with pytest.raises(errors.NoSuchObject, match="no-such-key"):
        session_for(stub, server_pki, device, key=uri)


def test_certificate_that_does_not_match_the_key(stub: IotStub, server_pki: Pki, pki: Pki, device: Any) -> None:
    other = pki.device(ec.generate_private_key(ec.SECP256R1()).public_key(), "stranger")
    with pytest.raises(CredentialsTLSError, match="does not match the token key"):
        session_for(stub, server_pki, (device[0], other))


def test_expired_certificate(stub: IotStub, server_pki: Pki, pki: Pki, device: Any) -> None:
    expired = pki.device(token_key(device[0]).public_key(), "expired", days=(-30, -1))
    with pytest.raises(CredentialsTLSError, match="expired on"):
        session_for(stub, server_pki, (device[0], expired))


def test_server_rejects_a_client_from_another_ca(stub: IotStub, server_pki: Pki, device: Any, tmp_path: Path) -> None:
    rogue = Pki(tmp_path, "rogue CA").device(token_key(device[0]).public_key(), "rogue-device")
    session = session_for(stub, server_pki, (device[0], rogue))
    with pytest.raises(CredentialsTLSError, match=r"TLS connection to 127\.0\.0\.1"):
        session.get_credentials().get_frozen_credentials()
    assert stub.requests == [] and stub.issued == []


def test_server_certificate_that_does_not_verify(stub: IotStub, pki: Pki, device: Any) -> None:
    session = session_for(stub, pki, device)  # the device CA did not issue the server's certificate
    with pytest.raises(CredentialsTLSError, match=r"server certificate of 127.*does not verify against the given CA"):
        session.get_credentials().get_frozen_credentials()
    assert stub.requests == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b'{"credentials": {"accessKeyId": "A"', "not JSON"),  # cut short
        (b'{"creds": {}}', "no 'credentials' object"),
        (credentials_body(sessionToken=None), "'sessionToken' is missing"),
        (credentials_body(secretAccessKey=7), "'secretAccessKey' is missing or not a string"),
        (credentials_body(expiration="2001-01-01T00:00:00Z"), "expired already"),
        (credentials_body(expiration="soon"), "not a date"),
        (b'{"credentials": "' + b"x" * 200_000 + b'"}', "longer than 64 KiB: not credentials"),  # read no further
    ],
)
def test_malformed_partial_or_expired_answers(stub: IotStub, server_pki: Pki, device: Any, body: bytes,
                                              match: str) -> None:
    stub.answers.append((200, body))
    with pytest.raises(CredentialsFormatError, match=match) as info:
        session_for(stub, server_pki, device).get_credentials().get_frozen_credentials()
    assert "queued-secret" not in str(info.value)


def test_403_is_not_retried_and_nothing_is_cached(stub: IotStub, server_pki: Pki, device: Any) -> None:
    stub.answers.append((403, b'{"message": "Access Denied"}'))
    credentials = session_for(stub, server_pki, device).get_credentials()
    with pytest.raises(CredentialsProviderError, match="HTTP 403: Access Denied") as info:
        credentials.get_frozen_credentials()
    assert info.value.status == 403 and len(stub.requests) == 1
    # Nothing was kept from the failure: the next use fetches again, and gets the provider's new credentials.
    assert credentials.get_frozen_credentials().access_key == stub.issued[0]["accessKeyId"]
    assert len(stub.requests) == 2


def test_the_providers_message_is_one_printable_line(stub: IotStub, server_pki: Pki, device: Any) -> None:
    stub.answers.append((403, json.dumps({"message": "Access\nDenied\u001b[2J\r\nnow"}).encode()))
    with pytest.raises(CredentialsProviderError) as info:
        session_for(stub, server_pki, device).get_credentials().get_frozen_credentials()
    assert str(info.value).endswith("answered HTTP 403: Access Denied [2J  now")


def test_failed_refresh_keeps_nothing(stub: IotStub, server_pki: Pki, device: Any) -> None:
    stub.lifetime = datetime.timedelta(minutes=5)
    credentials = session_for(stub, server_pki, device).get_credentials()
    first = credentials.get_frozen_credentials().access_key
    stub.answers.append((200, credentials_body(expiration="2001-01-01T00:00:00Z")))
    with pytest.raises(CredentialsFormatError):
        credentials.get_frozen_credentials()  # a mandatory refresh failed: the error reaches the caller
    stub.lifetime = datetime.timedelta(hours=1)
    fresh = credentials.get_frozen_credentials().access_key
    assert fresh not in (first, "ASIAQUEUED") and fresh == stub.issued[-1]["accessKeyId"]


def test_5xx_is_retried_with_backoff_then_succeeds(stub: IotStub, server_pki: Pki, device: Any) -> None:
    stub.answers += [(503, b'{"message": "busy"}'), (500, b""), (502, b"bad gateway")]
    delays: list[float] = []
    client = MtlsClient(Endpoint.parse(stub.endpoint), device[1].read_bytes(),
                        token_key=_ref(device), ca=server_pki.ca_file.read_bytes())
    metadata = CredentialsFetcher(client, "device-role", "thing-1", sleep=delays.append)()
    assert metadata["access_key"] == stub.issued[0]["accessKeyId"]
    assert delays == [0.2, 0.4, 0.8] and len(stub.requests) == 4


def test_5xx_retries_are_bounded(stub: IotStub, server_pki: Pki, device: Any) -> None:
    stub.answers += [(500, b'{"message": "down"}')] * 6
    delays: list[float] = []
    client = MtlsClient(Endpoint.parse(stub.endpoint), device[1].read_bytes(),
                        token_key=_ref(device), ca=server_pki.ca_file.read_bytes())
    with pytest.raises(CredentialsProviderError, match="HTTP 500 after 4 attempts: down") as info:
        CredentialsFetcher(client, "device-role", "thing-1", sleep=delays.append)()
    assert info.value.status == 500 and len(stub.requests) == 4 and len(delays) == 3


def _live_awscrt_objects() -> dict[int, str]:
    """awscrt's connections, event loops, bootstraps and TLS contexts still alive (after collecting cycles), by id
    (other tests, and the real awsiot-credentialhelper, may leave some of their own)."""
    gc.collect()
    kinds = {"HttpClientConnection", "HttpClientStream", "EventLoopGroup", "ClientBootstrap", "ClientTlsContext",
             "TlsConnectionOptions", "_HttpClientConnectionCore"}
    return {id(o): type(o).__name__ for o in gc.get_objects() if type(o).__name__ in kinds}


@pytest.mark.parametrize("case", ["200", "403", "client-rejected", "silent-after-tls", "too-long"])
def test_awscrt_lets_go_of_the_token_session_before_get_returns(stub: IotStub, pki: Pki, server_pki: Pki,
                                                                device: Any, tmp_path: Path, case: str) -> None:
    """awscrt's TLS context holds a PKCS#11 session it closes on its event-loop thread once the connection is gone:
    if that is still to come when the process exits, it runs after p11's C_Finalize and SoftHSM crashes (about one
    exit in 30 did, with p11 aws credentials). So when get() returns or raises, nothing of awscrt is left alive."""
    from p11.aws import mtls

    before = _live_awscrt_objects()
    key, cert = device
    endpoint = stub.endpoint
    server: SilentServer | None = None
    if case == "403":
        stub.answers.append((403, b'{"message": "no"}'))
    elif case == "too-long":
        stub.answers.append((200, b"x" * 200_000))
    elif case == "client-rejected":
        cert = Pki(tmp_path, "rogue CA").device(token_key(key).public_key(), "rogue-device")
    elif case == "silent-after-tls":
        server = SilentServer(server_context(pki, server_pki))
        endpoint = server.endpoint
    client = MtlsClient(Endpoint.parse(endpoint), cert.read_bytes(), token_key=_ref((key, cert)),
                        ca=server_pki.ca_file.read_bytes(), timeout=1)
    try:
        status, _ = client.get("/role-aliases/device-role/credentials", [])
        assert status == int(case)
    except CredentialsTLSError:
        assert case in ("client-rejected", "silent-after-tls")
    except CredentialsFormatError:
        assert case == "too-long"
    finally:
        if server is not None:
            server.close()
    assert [name for ident, name in _live_awscrt_objects().items() if ident not in before] == []
    assert all(event.is_set() for event in mtls._unfinished)


def _ref(device: Any) -> Any:
    from p11.aws.iot import token_key_ref

    return token_key_ref(device[0], device[1].read_bytes())


def test_bad_arguments(stub: IotStub, server_pki: Pki, device: Any) -> None:
    for endpoint in ("https://host", "host:0", "host:x", "a:b:c", ""):
        with pytest.raises(ValueError, match="endpoint"):
            session_for(stub, server_pki, device, endpoint=endpoint)
    with pytest.raises(ValueError, match="role_alias"):
        session_for(stub, server_pki, device, role_alias="a/b")
    with pytest.raises(ValueError, match="cannot read the certificate file"):
        session_for(stub, server_pki, device, certificate="/nonexistent/cert.pem")
    with pytest.raises(TypeError, match="PKCS#11 URI or a p11 private key"):
        session_for(stub, server_pki, device, key=42)


def test_no_pin_or_secret_in_logs_or_reprs(stub: IotStub, server_pki: Pki, device: Any, iot_token: Session,
                                           softhsm: SoftHSM, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = Pkcs11Config(pkcs11_lib=softhsm.module_path, user_pin=PIN, token_label="aws-iot",
                          private_key_label="device")
    provider = Boto3SessionProvider(stub.endpoint, "device-role", "thing-1", str(device[1]), pkcs11=config,
                                    ca=server_pki.ca_file.read_bytes())
    session = provider.get_session(region="eu-west-1")
    frozen = session.get_credentials().get_frozen_credentials()
    for text in (repr(provider), repr(session), repr(session.get_credentials()), caplog.text):
        assert f"={PIN}" not in text and f"'{PIN}'" not in text and frozen.secret_key not in text


# -- the awsiot-credentialhelper drop-in ---------------------------------------------------------------------


def test_compat_side_by_side_with_awsiot_credentialhelper(stub: IotStub, server_pki: Pki, device: Any,
                                                          softhsm: SoftHSM) -> None:
    from awsiot_credentialhelper.boto3_session import Boto3SessionProvider as Original
    from awsiot_credentialhelper.boto3_session import Pkcs11Config as OriginalConfig

    answer = credentials_body(accessKeyId="ASIASAME", secretAccessKey="same-secret", sessionToken="same-token")
    stub.answers += [(200, answer), (200, answer)]
    results = []
    for provider_class, config_class in ((Original, OriginalConfig), (Boto3SessionProvider, Pkcs11Config)):
        config = config_class(pkcs11_lib=softhsm.module_path, user_pin=PIN, token_label="aws-iot",
                              private_key_label="device")
        provider = provider_class(endpoint=stub.endpoint, role_alias="device-role", thing_name="thing-1",
                                  certificate=device[1].read_bytes(), pkcs11=config,
                                  ca=server_pki.ca_file.read_bytes())
        session = provider.get_session(region="eu-west-1")
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials()
        results.append((frozen, session.region_name, credentials.method, credentials.refresh_needed()))
    assert results[0] == results[1]
    assert results[1][0] == ("ASIASAME", "same-secret", "same-token", None)
    assert [r["client"] for r in stub.requests] == ["device", "device"]


@pytest.mark.parametrize("case", ["wrong-pin", "missing-key"])
def test_compat_key_errors_are_runtime_errors_where_the_original_raises_them(stub: IotStub, device: Any,
                                                                             softhsm: SoftHSM, case: str) -> None:
    """Code written for awsiot-credentialhelper catches a wrong PIN or a missing key as ``RuntimeError`` (awscrt's)
    at the first use of the session's credentials: the same code catches ours, which says more and is a
    ``ValueError`` too. Both packages run the same code here."""
    from awsiot_credentialhelper.boto3_session import Boto3SessionProvider as Original
    from awsiot_credentialhelper.boto3_session import Pkcs11Config as OriginalConfig

    spec = softhsm.add_token(unique_label(f"aws-iot-compat-{case}"), user_pin="1357", so_pin="13579246")
    pin, label = ("918273", "device") if case == "wrong-pin" else ("1357", "no-such-key")
    caught = []
    for provider_class, config_class in ((Original, OriginalConfig), (Boto3SessionProvider, Pkcs11Config)):
        config = config_class(pkcs11_lib=softhsm.module_path, user_pin=pin, token_label=spec.label,
                              private_key_label=label)
        provider = provider_class(stub.endpoint, "device-role", "thing-1", device[1].read_bytes(), pkcs11=config)
        session = provider.get_session(region="eu-west-1")  # no error yet, in either package
        try:
            session.get_credentials().get_frozen_credentials()
        except RuntimeError as exc:  # what code written for the original catches
            caught.append(exc)
        assert "918273" not in repr(provider)
    original, ours = caught
    expected = ("CKR_PIN_INCORRECT", "PIN is incorrect") if case == "wrong-pin" else ("KEY_NOT_FOUND", "no-such-key")
    assert expected[0] in str(original)
    assert isinstance(ours, ValueError) and expected[1] in str(ours) and "918273" not in str(ours)
    assert isinstance(ours.__cause__, errors.PinIncorrect if case == "wrong-pin" else errors.NoSuchObject)
    assert stub.requests == []


def test_compat_software_key_and_arguments(stub: IotStub, server_pki: Pki, pki: Pki, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert = pki.device(key.public_key(), "soft-device")
    provider = Boto3SessionProvider(stub.endpoint, "device-role", "thing-1", str(cert), private_key=key_pem,
                                    ca=str(server_pki.ca_file))
    frozen = provider.get_session().get_credentials().get_frozen_credentials()
    assert frozen.access_key == stub.issued[0]["accessKeyId"] and stub.requests[0]["client"] == "soft-device"
    with pytest.raises(ValueError, match="neither were provided"):
        Boto3SessionProvider(stub.endpoint, "r", "t", str(cert))
    with pytest.raises(ValueError, match="both were provided"):
        Boto3SessionProvider(stub.endpoint, "r", "t", str(cert), private_key=key_pem,
                             pkcs11=Pkcs11Config(pkcs11_lib="/x"))
    with pytest.raises(ValueError, match="is not a valid file path"):
        Boto3SessionProvider(stub.endpoint, "r", "t", str(cert), pkcs11=Pkcs11Config(pkcs11_lib="/nonexistent.so"))
