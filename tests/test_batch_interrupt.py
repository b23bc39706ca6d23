"""Ctrl-C interrupts a long batch (issue 10): a 1e6-item HMAC ``sign_many`` runs in chunks with the signal handlers
run between them, so SIGINT raises KeyboardInterrupt long before the batch would end; the exception says how many
items completed (``.completed`` and its message), ``on_error="return"`` keeps the finished results
(``.results``, None for the items that did not run), and the key is usable afterwards. On an explicit session, on
the pool, and on the pool with native worker threads. Each case runs in a child process that signals itself; the
assertions are on counts, never on time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import unique_label

from p11.testing import SoftHSM

CHILD = Path(__file__).parent / "children" / "batch_interrupt.py"
USER_PIN = "135790"
ITEMS = 1_000_000


@pytest.fixture(scope="module")
def label(softhsm: SoftHSM) -> str:
    return softhsm.add_token(unique_label("interrupt"), user_pin=USER_PIN).label


@pytest.mark.parametrize(
    ("on_error", "workers"), [("raise", "session"), ("return", "session"), ("raise", "1"), ("return", "2")]
)
def test_sigint_interrupts_a_large_batch_and_reports_progress(
    softhsm: SoftHSM, label: str, on_error: str, workers: str
) -> None:
    argv = [sys.executable, str(CHILD), softhsm.module_path, label, USER_PIN, on_error, workers, str(ITEMS)]
    proc = subprocess.run(argv, env=softhsm.env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["interrupted"] is True, report
    completed = report["completed"]
    assert isinstance(completed, int) and 0 < completed < ITEMS, report
    said = f"batch interrupted after {completed} of {ITEMS} items"
    assert said in report["message"]  # a plain KeyboardInterrupt: its message says it (else a note would)
    if on_error == "return":
        assert report["has_results"] is True
        assert report["results_len"] == ITEMS
        assert report["finished"] == completed
        assert report["finished_correct"] is True
    else:
        assert report["has_results"] is False
    assert report["after"] is True
