"""examples/ca.py --out DIR on a throwaway SoftHSM token: the files it promises, checked with openssl and p11."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import p11
from p11.testing import SoftHSM
from tests.support import EXAMPLES, USER_PIN, WRONG_PIN, openssl, unique_label

EXAMPLE = EXAMPLES / "ca.py"
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
FILES = {"root.pem", "intermediate.pem", "server.pem", "server-key.pem", "intermediate-key.uri"}


def run_example(softhsm: SoftHSM, label: str, out: Path, pin: str = USER_PIN) -> subprocess.CompletedProcess[str]:
    env = {**softhsm.env, "P11_MODULE": softhsm.module_path, "P11_TOKEN": label, "P11_PIN": pin}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_example_ca_writes_a_chain_openssl_verifies(softhsm: SoftHSM, tmp_path: Path) -> None:
    label = softhsm.add_token(unique_label("example-ca")).label
    out = tmp_path / "out"
    result = run_example(softhsm, label, out)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} >= FILES

    verified = openssl(
        "verify", "-CAfile", out / "root.pem", "-untrusted", out / "intermediate.pem", out / "server.pem"
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip() == f"{out / 'server.pem'}: OK"

    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    server_key = serialization.load_pem_private_key((out / "server-key.pem").read_bytes(), password=None)
    assert server_key.public_key().public_bytes(*SPKI) == server.public_key().public_bytes(*SPKI)
    assert (out / "server-key.pem").stat().st_mode & 0o777 == 0o600
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]

    uri = (out / "intermediate-key.uri").read_text().strip()
    assert uri.startswith("pkcs11:") and "pin" not in uri and f"token={label}" in uri
    intermediate = x509.load_pem_x509_certificate((out / "intermediate.pem").read_bytes())
    key = p11.open(f"{uri}?module-path={softhsm.module_path}", pin=USER_PIN)  # the URI names the token key
    assert key.public_key().public_bytes(*SPKI) == intermediate.public_key().public_bytes(*SPKI)
    assert key.token_object.extractable is False

    # a second run reuses the CAs and issues a new server certificate
    again = run_example(softhsm, label, out)
    assert again.returncode == 0, again.stderr
    assert x509.load_pem_x509_certificate((out / "intermediate.pem").read_bytes()) == intermediate
    assert x509.load_pem_x509_certificate((out / "server.pem").read_bytes()).serial_number != server.serial_number
    assert len((out / "ca" / "intermediate" / "index.txt").read_text().splitlines()) == 2


def test_example_ca_explains_a_wrong_pin_and_missing_settings(softhsm: SoftHSM, tmp_path: Path) -> None:
    label = softhsm.add_token(unique_label("example-pin")).label
    wrong = run_example(softhsm, label, tmp_path / "out", pin=WRONG_PIN)
    assert wrong.returncode == 1
    assert "PinIncorrect" in wrong.stderr and WRONG_PIN not in wrong.stderr
    unset = subprocess.run(
        [sys.executable, str(EXAMPLE), "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env={k: v for k, v in softhsm.env.items() if not k.startswith("P11_")},
        timeout=60,
        check=False,
    )
    assert unset.returncode == 2 and "set P11_MODULE, P11_TOKEN, P11_PIN" in unset.stderr
