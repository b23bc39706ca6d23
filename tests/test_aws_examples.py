"""examples/aws_sigv4.py and examples/iot_credentials.py run end to end, in their own processes, against the local
STS stub (which verifies every signature) and the local mTLS credentials provider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_support import EXAMPLE_SECRET as SECRET
from aws_support import IotStub, Pki, StsStub
from support import unique_label

from p11.api.library import Library
from p11.crypto import token_key
from p11.testing import SoftHSM

pytest_plugins = ["highlevel_fixtures", "aws_fixtures"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, args: list[str], softhsm: SoftHSM, **env: str) -> str:
    environ = {**os.environ, **softhsm.env, **env}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=environ, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_aws_sigv4_example(softhsm: SoftHSM, sts_stub: StsStub) -> None:
    spec = softhsm.add_token(unique_label("aws-example"), user_pin="1111", so_pin="22222222")
    key = f"pkcs11:token={spec.label};object=aws-root?module-path={softhsm.module_path}&pin-value=1111"
    common = ["--key", key, "--access-key-id", "AKIDEXAMPLE", "--region", "eu-west-1"]
    out = run("aws_sigv4.py", [*common, "--import-secret"], softhsm, AWS_SECRET_ACCESS_KEY=SECRET)
    assert "stored the secret in the token as 'aws-root'" in out
    assert "Credential=AKIDEXAMPLE/" in out and "/eu-west-1/sts/aws4_request" in out
    issued = sts_stub.issued[0]
    assert f"temporary access key {issued}; caller arn:aws:iam::123456789012:user/{issued}" in out
    # A second run finds the key in the token: no secret in its environment at all.
    out = run("aws_sigv4.py", common, softhsm)
    assert "stored the secret" not in out and f"temporary access key {sts_stub.issued[1]}" in out
    assert [a for a, _ in sts_stub.calls] == ["GetSessionToken", "GetCallerIdentity"] * 2 and not sts_stub.rejected
    assert SECRET not in out and "1111" not in out


def test_iot_credentials_example(softhsm: SoftHSM, hl_library: Library, tmp_path: Path, aws_env: None,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    spec = softhsm.add_token(unique_label("iot-example"), user_pin="3333", so_pin="44444444")
    with hl_library.get_token(label=spec.label).open(user_pin="3333", rw=True) as session:
        _, private = session.generate_keypair("ec", curve="P-256", label="device")
        public = token_key(private).public_key()
    device_ca, server_ca = Pki(tmp_path, "device CA"), Pki(tmp_path, "server CA")
    certificate = device_ca.device(public, "example-device")
    provider = IotStub(device_ca, server_ca)
    credentials = {"accessKeyId": "ASIAEXAMPLE", "secretAccessKey": "example-secret", "sessionToken": "tok",
                   "expiration": "2099-01-01T00:00:00Z"}
    provider.answers.append((200, json.dumps({"credentials": credentials}).encode()))
    sts = StsStub({"ASIAEXAMPLE": ("example-secret", "tok")})
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    try:
        key = f"pkcs11:token={spec.label};object=device;type=private?module-path={softhsm.module_path}&pin-value=3333"
        out = run("iot_credentials.py", ["--endpoint", provider.endpoint, "--role-alias", "example-role",
                                         "--thing-name", "example-thing", "--certificate", str(certificate),
                                         "--key", key, "--ca-file", str(server_ca.ca_file), "--region", "eu-west-1"],
                  softhsm)
    finally:
        provider.close()
        sts.close()
    assert "access key ASIAEXAMPLE, refreshed before it expires" in out
    assert "caller arn:aws:iam::123456789012:user/ASIAEXAMPLE" in out
    assert provider.requests == [{"path": "/role-aliases/example-role/credentials", "thing": "example-thing",
                                  "client": "example-device"}]
    assert sts.calls == [("GetCallerIdentity", "ASIAEXAMPLE")] and not sts.rejected
    assert "example-secret" not in out and "3333" not in out


