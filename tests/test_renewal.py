"""A module that lost its device, or whose token store was replaced, comes back (issue 21 item 2): p11 notices (the
health check of p11.lowlevel.health), starts a new generation of the module (finalise, initialise again, with
backoff while it does not answer), the pool logs in again with its kept PIN and pooled keys find themselves again by
identity. No call hangs meanwhile, failures are typed, no signature is made with another key, and a handle of an
ended generation never reaches the next one.

Every scenario runs in a child process (tests/children/renewal.py) with a time limit, over several rounds, and one
under valgrind. The remote-token case (p11-kit server killed and restarted) is in tests/interop.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fault_support import FAULT_PIN, build_shim
from support import unique_label

from p11.testing import SoftHSM

CHILD = Path(__file__).parent / "children" / "renewal.py"
SUPPRESSIONS = Path(__file__).parent / "valgrind" / "python.supp"


@pytest.fixture(scope="module")
def shim_token(softhsm: SoftHSM) -> tuple[str, str]:
    """The fault shim's path and a token of its own (children reach it through the shim)."""
    spec = softhsm.add_token(unique_label("renewal"), user_pin=FAULT_PIN)
    return str(build_shim()), spec.label


def run(softhsm: SoftHSM, *args: str, prefix: list[str] | None = None, timeout: float = 240,
        extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    env = {**softhsm.env, "P11_FAULT_MODULE": softhsm.module_path, "P11_TEST_PIN": FAULT_PIN,
           "PYTHONFAULTHANDLER": "1", **(extra or {})}
    proc = subprocess.run([*(prefix or []), sys.executable, str(CHILD), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-3000:], proc.stderr[-6000:])
    assert FAULT_PIN not in proc.stdout + proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("run_", range(2))
def test_a_lost_device_comes_back_and_the_same_keys_sign_again(
    softhsm: SoftHSM, shim_token: tuple[str, str], run_: int
) -> None:
    """Every call answers CKR_DEVICE_ERROR (C_Initialize too) for 0.8 s under 4 signing threads (one in batches),
    then the module answers again: 3 rounds per child, 2 children."""
    shim, label = shim_token
    rounds = run(softhsm, "outage", shim, label, "3")
    assert len(rounds) == 3
    for facts in rounds:
        assert facts["wrong"] == 0 and facts["untyped"] == [] and facts["stuck_threads"] == 0, facts
        assert facts["recovered_in"] is not None and facts["recovered_in"] < 5.0, facts  # backoff is at most 2 s
        assert facts["slowest_call"] < 5.0, facts  # no call waits for the device: typed errors meanwhile
        assert set(facts["typed"]) <= {"DeviceError", "CryptokiNotInitialized", "SlotIdInvalid", "StaleObject",
                                       "SessionHandleInvalid", "ObjectHandleInvalid", "KeyHandleInvalid"}, facts
        assert facts["typed"], facts  # the outage was seen
        assert facts["state_during"] == "down" and facts["state_after"] == "ok", facts
        assert facts["generations"] >= 1 and facts["renewals"] >= 1, facts
        assert facts["explicit_session"] == "SessionClosed", facts  # explicit sessions end with the generation
        assert facts["fresh_load_same"] is True, facts
    assert rounds[0]["deleted_key"] == "StaleObject", rounds[0]  # a key gone from the token says so


@pytest.mark.parametrize("run_", range(2))
def test_a_softhsm_token_reloaded_under_load_is_found_again(softhsm: SoftHSM, run_: int) -> None:
    """SoftHSM reads its store once: a token directory that goes away and comes back answers CKR_GENERAL_ERROR /
    CKR_OBJECT_HANDLE_INVALID for ever until the module is initialised again. 2 rounds per child, 2 children."""
    rounds = run(softhsm, "reload", "2")
    assert len(rounds) == 2
    for facts in rounds:
        assert facts["wrong"] == 0 and facts["untyped"] == [] and facts["stuck_threads"] == 0, facts
        assert facts["recovered_in"] is not None and facts["recovered_in"] < 8.0, facts
        assert facts["renewals"] >= 1 and facts["state_after"] == "ok", facts


def _stale_facts(facts: dict[str, Any]) -> None:
    for fact in ("cached_call", "pool_with_old_gate"):
        assert facts[fact].startswith("CryptokiNotInitialized: C_SignInit"), facts
        assert "the module started a new generation" in facts[fact] and "nothing was done" in facts[fact], facts
    assert facts["old_generation_functions"].startswith("CryptokiNotInitialized"), facts
    assert facts["sign_calls_after_refusals"] == 0, facts  # nothing of the old generation reached the module
    assert facts["explicit_session"].startswith("SessionClosed"), facts
    assert facts["old_session_forgotten"] is True, facts
    assert facts["later_search_result"].startswith("StaleObject") and "never used" in facts["later_search_result"]
    assert facts["key_signs_again"] is True and facts["first_result_signs"] == "ok", facts


@pytest.mark.parametrize("run_", range(3))
def test_handles_of_an_ended_generation_never_reach_the_next(
    softhsm: SoftHSM, shim_token: tuple[str, str], run_: int
) -> None:
    shim, label = shim_token
    (facts,) = run(softhsm, "stale", shim, label)
    _stale_facts(facts)


@pytest.mark.parametrize("run_", range(4))
def test_exit_while_threads_report_a_lost_device_is_clean(
    softhsm: SoftHSM, shim_token: tuple[str, str], run_: int
) -> None:
    """The interpreter exits while 3 daemon threads sign against a module that lost its device (so renewals are
    under way): every exit is clean, no renewal starts the module again after the exit handler. 4 x 5 children."""
    shim, label = shim_token
    env = {**softhsm.env, "P11_FAULT_MODULE": softhsm.module_path, "P11_TEST_PIN": FAULT_PIN, "PYTHONFAULTHANDLER": "1"}
    for _ in range(5):
        proc = subprocess.run([sys.executable, str(CHILD), "exit", shim, label], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
        assert "exiting" in proc.stdout and "Fatal" not in proc.stderr and "Traceback" not in proc.stderr
        (facts,) = [json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines() if line.startswith("exit")]
        assert facts["untyped"] == [], facts
        assert "after-exit initialized=False in_service=False" in proc.stdout, proc.stdout


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (scripts/setup.sh installs it)")
def test_renewal_is_clean_under_valgrind(softhsm: SoftHSM, shim_token: tuple[str, str]) -> None:
    """The stale-handle scenario and one outage round (pool generation swap, gate pairing, waiters, a renewal)
    under memcheck: no invalid read or write (uninitialised values are CPython's own: see the suppressions)."""
    shim, label = shim_token
    valgrind = ["valgrind", "--error-exitcode=99", "--undef-value-errors=no", f"--suppressions={SUPPRESSIONS}",
                "--quiet"]
    (facts,) = run(softhsm, "stale", shim, label, prefix=valgrind, timeout=900, extra={"PYTHONMALLOC": "malloc"})
    _stale_facts(facts)
    (outage,) = run(softhsm, "outage", shim, label, "1", prefix=valgrind, timeout=900,
                    extra={"PYTHONMALLOC": "malloc"})
    assert outage["wrong"] == 0 and outage["untyped"] == [] and outage["recovered_in"] is not None, outage
