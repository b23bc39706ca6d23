"""Every ```python block of README.md runs, in order, against a fresh SoftHSM token, as a user would paste them.

The blocks run in a child process: SoftHSM reads SOFTHSM2_CONF once per process, and the README's token is
labelled ``my-token`` with user PIN ``1234``. A ``server.pem`` and a ``device.pem`` (key + certificate each) are
made for the import examples.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support import ROOT, self_signed

README = ROOT / "README.md"

RUNNER = r"""
import re, sys
from p11.testing import SoftHSM

text = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"```python\n(.*?)```", text, re.S)
assert blocks, "README has no python blocks"
with SoftHSM(label="my-token", user_pin="1234", so_pin="12345678"):
    namespace = {"__name__": "__readme__"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
print(f"ran {len(blocks)} blocks")
"""


def _key_and_certificate_pem(path: Path, common_name: str) -> None:
    """A new P-256 key (PKCS#8) and its self-signed certificate, PEM, in one file."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed(key, common_name)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(pem)


def test_readme_python_blocks_run_against_a_real_token(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 6  # the five common tasks and the low-level tour at least
    _key_and_certificate_pem(tmp_path / "server.pem", "server.example")  # the import task's
    _key_and_certificate_pem(tmp_path / "device.pem", "iot-device")  # the device set-up task's
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(README)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ran {len(blocks)} blocks" in proc.stdout
    assert "-----BEGIN CERTIFICATE-----" in proc.stdout  # the import example printed the exported certificate
    assert "\npkcs11:object=iotkey;type=private\n" in proc.stdout  # the device set-up printed its configuration URI
