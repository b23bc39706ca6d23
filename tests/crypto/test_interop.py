"""What p11.crypto imports, other tools read and use (pkcs11-tool), and what softhsm2-util imports, p11.crypto uses."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from p11.api.library import load
from p11.constants import ObjectClass
from p11.crypto import export_public_key, import_pem, key_id, token_key
from tests.support import self_signed

PKCS11_TOOL = shutil.which("pkcs11-tool")
SOFTHSM2_UTIL = shutil.which("softhsm2-util")


def run(softhsm: Any, *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(args), env=softhsm.env, cwd=cwd, capture_output=True, check=False, timeout=60)


@pytest.mark.skipif(PKCS11_TOOL is None, reason="pkcs11-tool (OpenSC) is not installed")
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_pkcs11_tool_reads_and_signs_with_what_p11_imported(
    softhsm: Any, make_token: Callable[..., Any], tmp_path: Path, kind: str
) -> None:
    key: Any = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    cert = self_signed(key, "interop")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)
    fresh = make_token()
    with load(softhsm.module_path).get_token(label=fresh.label).open(user_pin=fresh.user_pin, rw=True) as session:
        import_pem(session, pem, label="interop")
    hex_id = key_id(key).hex()
    assert PKCS11_TOOL is not None
    tool = [PKCS11_TOOL, "--module", softhsm.module_path, "--token-label", fresh.label]
    read = run(softhsm, *tool, "--read-object", "--type", "cert", "--id", hex_id, "-o", "cert.der", cwd=tmp_path)
    assert read.returncode == 0, read.stderr.decode()
    assert x509.load_der_x509_certificate((tmp_path / "cert.der").read_bytes()) == cert
    (tmp_path / "data").write_bytes(b"signed by pkcs11-tool")
    mechanism = "SHA256-RSA-PKCS" if kind == "rsa" else "ECDSA"
    data = "data"
    if kind == "ec":  # SoftHSM has no ECDSA-SHA256: pkcs11-tool signs the digest with plain ECDSA
        (tmp_path / "digest").write_bytes(hashlib.sha256(b"signed by pkcs11-tool").digest())
        data = "digest"
    sign = run(
        softhsm, *tool, "--login", "--pin", fresh.user_pin, "--sign", "-m", mechanism, "--id", hex_id,
        "-i", data, "-o", "sig", "--signature-format", "openssl", cwd=tmp_path,
    )  # fmt: skip
    assert sign.returncode == 0, sign.stderr.decode()
    signature = (tmp_path / "sig").read_bytes()
    if kind == "rsa":
        key.public_key().verify(signature, b"signed by pkcs11-tool", padding.PKCS1v15(), hashes.SHA256())
    else:
        key.public_key().verify(signature, b"signed by pkcs11-tool", ec.ECDSA(hashes.SHA256()))


@pytest.mark.skipif(SOFTHSM2_UTIL is None, reason="softhsm2-util is not installed")
def test_key_imported_by_softhsm2_util_works_as_a_cryptography_key(
    softhsm: Any, make_token: Callable[..., Any], tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    fresh = make_token()
    assert SOFTHSM2_UTIL is not None
    result = run(
        softhsm, SOFTHSM2_UTIL, "--import", "key.pem", "--token", fresh.label, "--label", "util", "--id", "a1b2",
        "--pin", fresh.user_pin, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    with load(softhsm.module_path).get_token(label=fresh.label).open(user_pin=fresh.user_pin) as session:
        private = session.get_key(label="util", object_class=ObjectClass.PRIVATE_KEY)
        adapter = token_key(private)
        assert adapter.public_key() == key.public_key() == export_public_key(private)
        key.public_key().verify(adapter.sign(b"util", ec.ECDSA(hashes.SHA256())), b"util", ec.ECDSA(hashes.SHA256()))
