"""``p11 aws credentials`` and ``p11 aws import-secret`` run as users run them: the ``p11`` console script in a
subprocess, on a SoftHSM store of its own (with its spare uninitialised slot), against a local mutual-TLS stub of the
IoT credentials provider; ``credential_process`` through botocore's own ``ProcessProvider`` and a boto3 profile.
Then the attacks: expired, malformed and refused answers, silent endpoints, keys that are not there or not alone,
wrong, missing and command-line PINs, and secrets that must never show."""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from aws_support import EXAMPLE_SECRET, IotStub, Pki, SilentServer, StsStub, credentials_body, server_context
from cli_support import USER_PIN, p11_executable
from cryptography.hazmat.primitives.serialization import load_pem_public_key

pytest_plugins = ["aws_fixtures"]

PIN = {"P11_PIN": USER_PIN}
TOKEN = "aws-cli"
KEY = f"pkcs11:token={TOKEN};object=device;type=private"
OTHER_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"  # 40 characters, as AWS makes them


@pytest.fixture(scope="module")
def token(cli: Any) -> str:
    """A token with the device key (EC P-256, made on the token)."""
    cli.new_token(TOKEN)
    cli.ok("keygen", "ec", "--curve", "P-256", "--token", TOKEN, "--label", "device", env=PIN)
    return TOKEN


@pytest.fixture(scope="module")
def cert(cli: Any, token: str, pki: Pki) -> Path:
    """The device certificate, issued by the CA the provider trusts for the public key ``p11 export`` gives."""
    public = cli.ok("export", "--token", token, "--label", "device", "--type", "public", "--public").raw
    return pki.device(load_pem_public_key(public), "cli-device")


@pytest.fixture
def stub(pki: Pki, server_pki: Pki) -> Iterator[IotStub]:
    server = IotStub(pki, server_pki)
    yield server
    server.close()


def credential_args(endpoint: str, server_pki: Pki, cert: Path, key: str = KEY) -> list[str]:
    return ["aws", "credentials", "--endpoint", endpoint, "--role-alias", "device-role", "--thing-name", "thing-1",
            "--cert", str(cert), "--key", key, "--ca", str(server_pki.ca_file)]


def _failed(result: Any, code: int) -> str:
    """The one error line of a failed run (nothing on standard output, where an SDK would look for JSON)."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert result.stdout == "" and len(result.error_lines) == 1, result.stderr
    line: str = result.error_lines[0]
    assert line.startswith("p11: error: ")
    return line


# -- credentials -----------------------------------------------------------------------------------------------


def test_credentials_print_the_credential_process_document(cli: Any, stub: IotStub, server_pki: Pki,
                                                           cert: Path) -> None:
    result = cli.ok(*credential_args(stub.endpoint, server_pki, cert), env=PIN, input=b"")
    issued = stub.issued[0]
    assert json.loads(result.stdout) == {
        "Version": 1, "AccessKeyId": issued["accessKeyId"], "SecretAccessKey": issued["secretAccessKey"],
        "SessionToken": issued["sessionToken"], "Expiration": issued["expiration"],
    }
    assert result.stdout.count("\n") == 1 and result.stderr == ""
    assert stub.requests == [{"path": "/role-aliases/device-role/credentials", "thing": "thing-1",
                              "client": "cli-device"}]
    # --json changes nothing: the output is always the document SDKs read.
    again = cli.ok(*credential_args(stub.endpoint, server_pki, cert), "--json", env=PIN, input=b"")
    assert json.loads(again.stdout)["AccessKeyId"] == stub.issued[1]["accessKeyId"]


def test_botocore_process_provider_and_a_boto3_profile_run_p11(cli: Any, stub: IotStub, server_pki: Pki,
                                                               cert: Path, tmp_path: Path, aws_env: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``credential_process`` in an AWS config file, pointing at the installed ``p11`` console script: botocore's
    ProcessProvider (what boto3 and the AWS CLI run) gets the credentials, and a boto3 session on the profile signs
    an STS call with them that a stub verifies."""
    import boto3
    import botocore.session
    from botocore.credentials import ProcessProvider

    command = shlex.join([p11_executable(), "aws", "credentials", "--module", cli.module,
                          *credential_args(stub.endpoint, server_pki, cert)[2:]])
    config = tmp_path / "aws-config"
    config.write_text(f"[profile device]\ncredential_process = {command}\nregion = eu-west-1\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("SOFTHSM2_CONF", str(cli.conf))  # the child's token store; this process's SoftHSM is loaded
    monkeypatch.setenv("P11_PIN", USER_PIN)
    monkeypatch.delenv("P11_MODULE", raising=False)  # the module comes from --module in the command

    core = botocore.session.Session(profile="device")
    credentials = ProcessProvider(profile_name="device", load_config=lambda: core.full_config).load()
    frozen = credentials.get_frozen_credentials()
    issued = stub.issued[0]
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        issued["accessKeyId"], issued["secretAccessKey"], issued["sessionToken"])
    assert credentials.method == "custom-process" and not credentials.refresh_needed()  # the expiry was read

    stub.answers.append((200, credentials_body(accessKeyId="ASIAPROCESS", secretAccessKey="process-secret",
                                      sessionToken="process-token")))
    sts = StsStub({"ASIAPROCESS": ("process-secret", "process-token")})
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    try:
        session = boto3.Session(profile_name="device")
        assert session.client("sts").get_caller_identity()["UserId"] == "ASIAPROCESS"
        assert session.get_credentials().method == "custom-process"
        assert sts.calls == [("GetCallerIdentity", "ASIAPROCESS")] and not sts.rejected
    finally:
        sts.close()


def test_every_exit_is_clean(cli: Any, stub: IotStub, server_pki: Pki, cert: Path) -> None:
    """p11 finalises the module at exit, after awscrt used the token key: before awscrt was made to let go of its
    PKCS#11 session first, about one exit in 30 died of SIGSEGV in SoftHSM's C_CloseSession (after the output was
    written: an SDK would see a crash for a good answer). Successes and failures, repeated."""
    codes = []
    for run in range(10):
        if run % 2:
            stub.answers.append((403, b'{"message": "Access Denied"}'))
        codes.append(cli.run(*credential_args(stub.endpoint, server_pki, cert), env=PIN, input=b"").code)
    assert codes == [0, 1] * 5


def test_an_sdk_sees_the_one_line_error(cli: Any, stub: IotStub, server_pki: Pki, cert: Path, tmp_path: Path,
                                        aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.session
    from botocore.credentials import ProcessProvider
    from botocore.exceptions import CredentialRetrievalError

    command = shlex.join([p11_executable(), *credential_args(stub.endpoint, server_pki, cert)])
    config = tmp_path / "aws-config"
    config.write_text(f"[profile device]\ncredential_process = {command}\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("SOFTHSM2_CONF", str(cli.conf))
    monkeypatch.setenv("P11_MODULE", cli.module)
    monkeypatch.setenv("P11_PIN", USER_PIN)
    stub.answers.append((200, credentials_body(expiration="2001-01-01T00:00:00Z")))
    core = botocore.session.Session(profile="device")
    with pytest.raises(CredentialRetrievalError) as info:
        ProcessProvider(profile_name="device", load_config=lambda: core.full_config).load()
    assert "p11: error: credentials expired already (2001-01-01T00:00:00+00:00)" in str(info.value)
    assert "queued-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, credentials_body(expiration="2001-01-01T00:00:00Z")), "credentials expired already"),
        ((200, b"<html>maintenance</html>"), "the credentials provider's answer is not JSON"),
        ((200, b'{"credentials": {"accessKeyId": "A"'), "not JSON"),
        ((200, credentials_body(sessionToken=None)), "credentials field 'sessionToken' is missing"),
        ((403, b'{"message": "Access Denied"}'), "answered HTTP 403: Access Denied"),
    ],
)
def test_expired_malformed_or_refused_answers_fail_with_exit_1(cli: Any, stub: IotStub, server_pki: Pki,
                                                               cert: Path, answer: tuple[int, bytes],
                                                               message: str) -> None:
    stub.answers.append(answer)
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert), env=PIN, input=b""), 1)
    assert message in line and "queued-secret" not in line


def test_an_endpoint_that_never_accepts_fails_within_the_timeout(cli: Any, server_pki: Pki, cert: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)  # one pending connection fills it: the next
    port = listener.getsockname()[1]                              # connects hang, as to a host that drops them
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        started = time.monotonic()
        result = cli.run(*credential_args(f"127.0.0.1:{port}", server_pki, cert), "--timeout", "1", env=PIN,
                         input=b"")
        elapsed = time.monotonic() - started
    finally:
        filler.close()
        listener.close()
    assert f"connection to 127.0.0.1:{port}: no answer within 1 s" in _failed(result, 1)
    assert elapsed < 20  # one second, plus start-up on a busy machine


@pytest.mark.parametrize("tls", [False, True], ids=["silent-before-tls", "silent-after-tls"])
def test_a_silent_endpoint_fails_within_the_timeout(cli: Any, pki: Pki, server_pki: Pki, cert: Path,
                                                    tls: bool) -> None:
    server = SilentServer(server_context(pki, server_pki) if tls else None)
    try:
        started = time.monotonic()
        result = cli.run(*credential_args(server.endpoint, server_pki, cert), "--timeout", "1", env=PIN, input=b"")
        elapsed = time.monotonic() - started
    finally:
        server.close()
    line = _failed(result, 1)
    step = "request to" if tls else "TLS handshake with"
    assert f"{step} {server.endpoint}: no answer within 1 s" in line
    assert server.connections >= 1 and elapsed < 20  # one second a step, plus start-up on a busy machine


def test_the_key_uri_names_no_key_or_two(cli: Any, token: str, stub: IotStub, server_pki: Pki, cert: Path) -> None:
    missing = f"pkcs11:token={token};object=no-such-key;type=private"
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert, missing), env=PIN, input=b""), 1)
    assert "no object with object=no-such-key;type=private" in line

    cli.ok("keygen", "ec", "--token", token, "--label", "twin", "--id", "0a01", env=PIN)
    cli.pkcs11_tool(token, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "twin", "--id", "0a02")
    twins = f"pkcs11:token={token};object=twin;type=private"
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert, twins), env=PIN, input=b""), 2)
    assert "ambiguous selection: 2 objects match" in line and "id=%0A%01" in line and "id=%0A%02" in line

    public = f"pkcs11:token={token};object=device;type=public"
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert, public), env=PIN, input=b""), 2)
    assert "not a private key" in line
    assert stub.requests == []


def test_wrong_pin(cli: Any, stub: IotStub, server_pki: Pki, cert: Path) -> None:
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert), env={"P11_PIN": "97531"},
                           input=b""), 1)
    assert "CKR_PIN_INCORRECT" in line and "97531" not in line and stub.requests == []


def test_no_pin_and_no_terminal_fails_at_once(cli: Any, stub: IotStub, server_pki: Pki, cert: Path) -> None:
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert), input=b""), 2)
    assert "no user PIN" in line and "set P11_PIN" in line and "never prompts" in line


def test_no_prompt_even_on_a_terminal(cli: Any, stub: IotStub, server_pki: Pki, cert: Path) -> None:
    """An SDK may hand its own terminal to the process (and read its standard error): a prompt there would hang
    the SDK with nothing on the screen."""
    child = pexpect.spawn(p11_executable(), credential_args(stub.endpoint, server_pki, cert), env=cli.env,
                          cwd=str(cli.directory), timeout=30)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2 and b"no user PIN" in child.before and b"User PIN for token" not in child.before


def test_pin_source_in_the_key_uri(cli: Any, stub: IotStub, server_pki: Pki, cert: Path, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(USER_PIN + "\n", encoding="utf-8")
    pin_file.chmod(0o600)
    key = f"{KEY}?pin-source=file:{pin_file}"
    result = cli.ok(*credential_args(stub.endpoint, server_pki, cert, key), input=b"")
    assert json.loads(result.stdout)["AccessKeyId"] == stub.issued[0]["accessKeyId"]


def test_a_pin_on_the_command_line_is_refused(cli: Any, stub: IotStub, server_pki: Pki, cert: Path) -> None:
    key = f"{KEY}?pin-value=86420"
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert, key), env=PIN, input=b""), 2)
    assert "must not hold the PIN (pin-value)" in line and "86420" not in line
    assert stub.requests == []


def test_the_module_is_the_callers_choice(cli: Any, stub: IotStub, server_pki: Pki, cert: Path) -> None:
    env = {k: v for k, v in cli.env.items() if k != "P11_MODULE"}
    args = [p11_executable(), *credential_args(stub.endpoint, server_pki, cert)]
    proc = subprocess.run(args, env={**env, **PIN}, input=b"", capture_output=True, timeout=120, check=False)
    assert proc.returncode == 2 and b"no PKCS#11 module to load" in proc.stderr and proc.stdout == b""
    proc = subprocess.run([*args, "--module", cli.module], env={**env, **PIN}, input=b"", capture_output=True,
                          timeout=120, check=False)
    assert proc.returncode == 0 and json.loads(proc.stdout)["Version"] == 1


def test_bad_arguments_are_usage_errors(cli: Any, stub: IotStub, server_pki: Pki, cert: Path) -> None:
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert, "pkcs11:token=x"), env=PIN,
                           input=b""), 2)
    assert "name the device key" in line
    args = credential_args(stub.endpoint, server_pki, cert)
    args[args.index("--endpoint") + 1] = "https://example.com"
    line = _failed(cli.run(*args, env=PIN, input=b""), 2)
    assert "endpoint must be 'host' or 'host:port'" in line
    args = credential_args(stub.endpoint, server_pki, Path("/nonexistent/cert.pem"))
    assert "cannot read the certificate file" in _failed(cli.run(*args, env=PIN, input=b""), 2)
    args = credential_args(stub.endpoint, server_pki, Path("/dev/stdin"))  # a pipe: refused, never read (it could
    line = _failed(cli.run(*args, env=PIN, input=b""), 2)                  # block for ever)
    assert "certificate file '/dev/stdin': a FIFO (named pipe), not a regular file" in line


# -- import-secret ---------------------------------------------------------------------------------------------


def _k_date(secret: str, date: str = "20150830") -> str:
    return hmac.new(b"AWS4" + secret.encode(), date.encode(), hashlib.sha256).hexdigest()


def _token_hmac(cli: Any, label: str, date: str = "20150830") -> str:
    """The first SigV4 derivation step, computed by the token key ``label`` (``p11 sign`` with SHA256_HMAC)."""
    out = cli.ok("sign", "--token", TOKEN, "--label", label, "--type", "secret-key", "-m", "SHA256_HMAC",
                 "--format", "hex", input=date.encode(), env=PIN).stdout
    return out.strip()


def test_import_secret_from_stdin_env_and_file(cli: Any, token: str, tmp_path: Path) -> None:
    result = cli.ok("aws", "import-secret", "--token", token, "--label", "aws-stdin", "--secret-source", "-",
                    "--json", input=f"{EXAMPLE_SECRET}\n".encode(), env=PIN)
    [row] = result.json()["objects"]
    assert row["type"] == "secret-key" and row["key_type"] == "GENERIC_SECRET" and row["label"] == "aws-stdin"
    assert row["sensitive"] is True and row["extractable"] is False and row["usages"] == ["sign", "verify"]
    assert _token_hmac(cli, "aws-stdin") == _k_date(EXAMPLE_SECRET)

    result = cli.ok("aws", "import-secret", "--token", token, "--label", "aws-env", "--id", "a1",
                    env={**PIN, "AWS_SECRET_ACCESS_KEY": EXAMPLE_SECRET}, input=b"")
    assert "from AWS_SECRET_ACCESS_KEY" in result.stdout and "aws-env" in result.stdout
    assert _token_hmac(cli, "aws-env") == _k_date(EXAMPLE_SECRET)

    secret_file = tmp_path / "secret"
    secret_file.write_text(f"{OTHER_SECRET}\r\n", encoding="ascii")
    cli.ok("aws", "import-secret", "--token", token, "--label", "aws-file", "--secret-source", str(secret_file),
           env=PIN, input=b"")
    assert _token_hmac(cli, "aws-file") == _k_date(OTHER_SECRET)
    for result in (cli.run("objects", "--token", token, "--json", env=PIN),):
        assert EXAMPLE_SECRET not in result.stdout


def test_import_secret_at_a_terminal_does_not_echo(cli: Any, token: str) -> None:
    child = pexpect.spawn(p11_executable(), ["aws", "import-secret", "--token", token, "--label", "aws-typed"],
                          env={**cli.env, **PIN}, cwd=str(cli.directory), timeout=30)
    child.expect_exact("AWS secret access key: ")
    child.sendline(EXAMPLE_SECRET)
    rest = child.read()
    child.close()
    assert child.exitstatus == 0 and EXAMPLE_SECRET.encode() not in rest and b"from the prompt" in rest
    assert _token_hmac(cli, "aws-typed") == _k_date(EXAMPLE_SECRET)


def test_import_secret_refusals_never_show_the_secret(cli: Any, token: str, tmp_path: Path) -> None:
    line = _failed(cli.run("aws", "import-secret", "--token", token, "--label", "aws-none", input=b"", env=PIN), 2)
    assert "no secret access key: give --secret-source FILE (- for standard input), set AWS_SECRET_ACCESS_KEY" in line

    cli.ok("aws", "import-secret", "--token", token, "--label", "aws-once", "--secret-source", "-",
           input=EXAMPLE_SECRET.encode(), env=PIN)
    line = _failed(cli.run("aws", "import-secret", "--token", token, "--label", "aws-once", "--secret-source", "-",
                           input=b"another-secret", env=PIN), 2)
    assert f"token '{token}' already holds a secret key labelled 'aws-once'" in line
    assert _token_hmac(cli, "aws-once") == _k_date(EXAMPLE_SECRET)  # the first one, alone and untouched

    bad = "wJalrXUtnFEMI K7MDENG"  # white space inside: not a secret access key
    result = cli.run("aws", "import-secret", "--token", token, "--label", "aws-bad", "--secret-source", "-",
                     "--debug", input=bad.encode(), env=PIN)
    assert result.code == 2 and "must not contain white space" in result.stderr
    assert "Traceback" in result.stderr and "wJalrXUtnFEMI" not in result.stderr + result.stdout
    line = _failed(cli.run("aws", "import-secret", "--token", token, "--label", "aws-bad", "--secret-source", "-",
                           input="s\u00e9cret-\u00e9".encode(), env=PIN), 2)
    assert line == "p11: error: the secret access key in standard input is not ASCII text"
    line = _failed(cli.run("aws", "import-secret", "--token", token, "--label", "aws-bad", "--secret-source",
                           "/dev/stdin", input=EXAMPLE_SECRET.encode(), env=PIN), 2)
    assert "is a FIFO (named pipe): give a regular file, or - for standard input" in line
    line = _failed(cli.run("aws", "import-secret", "--token", token, "--label", "aws-bad", "--secret-source",
                           str(tmp_path / "missing"), input=b"", env=PIN), 2)
    assert "does not exist" in line
    objects = cli.ok("objects", "--token", token, "--json", env=PIN).json()["objects"]
    assert not [o for o in objects if o["label"] == "aws-bad"]


def test_a_key_label_that_is_not_utf8_is_named_as_the_cause(cli: Any, token: str, stub: IotStub, server_pki: Pki,
                                                           pki: Pki) -> None:
    """awscrt finds the key by its label, as text: a label that is not UTF-8 (Latin-1 from another tool) failed as
    "UnicodeEncodeError: 'utf-8' codec can't encode character '\\udce9'"."""
    import os

    label = os.fsdecode(b"caf\xe9")
    cli.ok("keygen", "ec", "--token", token, "--label", label, env=PIN)
    public = cli.ok("export", "--token", token, "--label", label, "--type", "public", "--public").raw
    cert = pki.device(load_pem_public_key(public), "latin1-device")
    key = f"pkcs11:token={token};object=caf%E9;type=private"
    line = _failed(cli.run(*credential_args(stub.endpoint, server_pki, cert, key), env=PIN, input=b""), 2)
    assert "label b'caf\\xe9' is not UTF-8" in line and "UnicodeEncodeError" not in line
    assert stub.requests == []


def test_import_secret_from_a_terminal_standard_input_does_not_echo(cli: Any, token: str) -> None:
    """``--secret-source -`` with standard input a terminal read the secret as typed, echoed on the screen."""
    child = pexpect.spawn(p11_executable(), ["aws", "import-secret", "--token", token, "--label", "aws-typed-stdin",
                                             "--secret-source", "-"], env={**cli.env, **PIN}, cwd=str(cli.directory),
                          timeout=15)
    child.expect_exact("AWS secret access key: ")
    child.sendline(EXAMPLE_SECRET)
    rest = child.read()
    child.close()
    assert child.exitstatus == 0 and EXAMPLE_SECRET.encode() not in rest and b"from the prompt" in rest
    assert _token_hmac(cli, "aws-typed-stdin") == _k_date(EXAMPLE_SECRET)
