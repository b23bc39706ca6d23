"""The main job's demo (examples/demo.py, run by scripts/demo) works end to end on a throwaway token."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import EXAMPLES

DEMO = EXAMPLES / "demo.py"


def test_demo_runs_and_shows_each_step() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    proc = subprocess.run([sys.executable, str(DEMO)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for expected in (
        "throwaway SoftHSM token 'p11-demo'",
        "== slots and tokens",
        "mechanisms;",
        "ECDSA signature",
        "verified",
        "signed on the token, verified in software",
        "pkcs11:token=p11-demo;",
        "its signature verifies against the CA certificate",
    ):
        assert expected in out, f"{expected!r} missing from the demo's output:\n{out}"
    assert "pin-value" not in out  # the URI printed by default carries no PIN
