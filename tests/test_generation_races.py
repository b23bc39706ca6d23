"""A module starting a new generation (``Module.renew()``: a lost device, a failover group) while threads use it:
the interleavings that broke the rules of docs/lifetime.md, each forced in a child process
(tests/children/generation_races.py, with a time limit) on a private SoftHSM store.

* A key read in the moment the renewal had made its new gate but not yet counted the generation up sent its old
  handle through the new gate: with the new generation's objects numbered so, it signed with another key.
* A first signature that returned just before a renewal cached its one-crossing call after the renewal had dropped
  the cached ones: that key was refused ("call again") on every later call, for good.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHILD = Path(__file__).parent / "children" / "generation_races.py"


def run(*args: str, timeout: float = 300) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(CHILD), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONFAULTHANDLER": "1"}, check=False)  # fmt: skip
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    facts: dict[str, Any] = json.loads(line)
    return facts


@pytest.mark.parametrize("run_", range(3))
def test_a_key_read_while_the_new_gate_is_made_never_signs_with_another_key(run_: int) -> None:
    facts = run("window")
    assert facts["old_handle_names"] == "mac-b", facts  # the scenario happened: the old handle names the other key
    assert facts["reader"] in ("mac-a", "typed CryptokiNotInitialized", "typed StaleObject"), facts
    assert facts["stuck_threads"] == 0 and facts["signs_after"] is True, facts


@pytest.mark.parametrize("run_", range(3))
def test_a_call_cached_across_a_renewal_does_not_refuse_the_key_for_good(run_: int) -> None:
    facts = run("install")
    assert facts["held"] is True and facts["first"] is True, facts
    assert facts["later"] == ["ok", "ok", "ok"], facts

