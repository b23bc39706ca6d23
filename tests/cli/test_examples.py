"""The shell examples the README links (examples/device-setup.sh, examples/hsm-ca.sh) run as written and end in
their check: OpenSSL verifies the engine's signature; openssl verify accepts the chain."""

from __future__ import annotations

import os
import subprocess

import pytest

from p11.testing.softhsm import find_softhsm_module
from tests.support import EXAMPLES
from tests.support.cli import p11_executable


@pytest.mark.parametrize(("script", "last_line"), [("device-setup.sh", "Verified OK"), ("hsm-ca.sh", "server.pem: OK")])
def test_example_script(script, last_line, tmp_path):
    env = {**os.environ, "P11": p11_executable(), "P11_MODULE": find_softhsm_module()}
    env.pop("SOFTHSM2_CONF", None)
    proc = subprocess.run(["bash", str(EXAMPLES / script), str(tmp_path / "work")], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == last_line
