"""``python -m benchmarks.instructions`` counts the instructions of one op, start-up and set-up cancelled out.

One cheap op under callgrind against a real throwaway SoftHSM token; the count is not asserted beyond being that of
one op (not of a whole process, nor zero), which is what the tool's subtraction promises.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (scripts/setup.sh installs it)")
def test_counts_the_instructions_of_one_op() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", sys.executable, "--op", "random_32"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = re.search(r"^random_32\s+([\d,]+)$", proc.stdout, re.M)
    assert row is not None, proc.stdout
    count = int(row.group(1).replace(",", ""))
    # C_GenerateRandom of 32 bytes through p11 is thousands of instructions; a process start is hundreds of millions.
    assert 1_000 < count < 1_000_000, count
