"""Tokens that come and go (issue 21 item 4): ``lib.wait_for_slot_event(timeout=...)`` and ``lib.slot_events()``.

SoftHSM stands in for USB keys and smart cards: a token initialised by ``softhsm2-util`` in another process while a
p11 process waits, a token initialised in this process while a thread waits, the module's own
``C_WaitForSlotEvent`` taken away by the fault shim. The waits that must end (``lib.close()`` from another thread,
Ctrl-C) run in child processes with time limits (tests/children/slot_events.py).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import p11
from p11.api.events import SlotEvent, SlotEventKind
from p11.constants import TokenFlag
from p11.testing import SoftHSM
from tests.support import ROOT, SO_PIN, USER_PIN, Faulty

CHILD = ROOT / "tests" / "children" / "slot_events.py"
SOFTHSM2_UTIL = shutil.which("softhsm2-util")


@pytest.fixture
def store(tmp_path: Path) -> SoftHSM:
    """A SoftHSM store of its own on disk (one token, ``first``), for child processes; this process's environment
    is left as it was."""
    hsm = SoftHSM(tmp_path, label="first")
    hsm.start()
    hsm.close()  # restores SOFTHSM2_CONF; the files stay (the directory is the test's)
    return hsm


def child(store: SoftHSM, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), store.module_path, *args],
        env=store.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", (line, proc.stderr.read() if proc.stderr else "")


def drained(lib: p11.Library) -> p11.Library:
    """``lib`` with the events of earlier tests in this process handed out, and a reading taken."""
    while lib.wait_for_slot_event(0) is not None:
        pass
    return lib


def events_until(lib: p11.Library, wanted: Any, timeout: float) -> list[SlotEvent]:
    """Events from ``lib`` until one satisfies ``wanted`` (included) or ``timeout`` passes (then fails)."""
    seen: list[SlotEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = lib.wait_for_slot_event(deadline - time.monotonic(), interval=0.05)
        if event is None:
            break
        seen.append(event)
        if wanted(event):
            return seen
    pytest.fail(f"no such event within {timeout} s; saw {seen}")


# -- another process ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(SOFTHSM2_UTIL is None, reason="softhsm2-util is not installed")
def test_a_token_initialised_by_another_process_is_seen_while_waiting(store: SoftHSM) -> None:
    proc = child(store, "arrive", "arrived")
    try:
        wait_ready(proc)
        assert SOFTHSM2_UTIL is not None
        made = subprocess.run(
            [SOFTHSM2_UTIL, "--init-token", "--free", "--label", "arrived", "--pin", USER_PIN, "--so-pin", SO_PIN],
            env=store.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        initialised_at = time.time()
        assert made.returncode == 0, made.stderr
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, (out, err)
    records = [json.loads(line) for line in out.splitlines()]
    inserted = [r for r in records if r.get("kind") == "inserted" and r.get("label") == "arrived"]
    assert len(inserted) == 1 and inserted[0]["initialised"] is True
    assert inserted[0]["at"] - initialised_at < 5  # seen within a few readings, not at some later reload
    assert records[-1]["opened"] == "arrived"  # the event's slot gives the Token, usable at once


@pytest.mark.skipif(SOFTHSM2_UTIL is None, reason="softhsm2-util is not installed")
def test_tokens_another_process_adds_and_deletes_are_seen_while_this_one_uses_the_module(softhsm: SoftHSM) -> None:
    # The session's SoftHSM is in use here (sessions, pools): never initialised again; its slots are read through
    # a private copy of the module (the quirk slots_fixed_at_initialize), which sees the store as it is now.
    lib = drained(p11.load(softhsm.module_path))
    assert SOFTHSM2_UTIL is not None
    util = [SOFTHSM2_UTIL]
    added = subprocess.run(
        [*util, "--init-token", "--free", "--label", "other-process", "--pin", USER_PIN, "--so-pin", SO_PIN],
        env=softhsm.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    try:
        assert added.returncode == 0, added.stderr
        inserted = events_until(lib, lambda e: e.label == "other-process", timeout=15)[-1]
        assert inserted.kind is SlotEventKind.INSERTED and inserted.token is not None
        assert inserted.token.flags & TokenFlag.TOKEN_INITIALIZED
    finally:
        deleted = subprocess.run(
            [*util, "--delete-token", "--token", "other-process"],
            env=softhsm.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert deleted.returncode == 0, deleted.stderr
    removed = events_until(lib, lambda e: e.label == "other-process", timeout=15)[-1]
    assert removed.kind is SlotEventKind.REMOVED and removed.token is None
    assert removed.serial == inserted.serial


# -- this process ------------------------------------------------------------------------------------------------


def test_a_token_initialised_in_this_process_is_seen_by_a_waiting_thread(softhsm: SoftHSM) -> None:
    lib = drained(p11.load(softhsm.module_path))  # in use by the whole test run: read as it is, never re-initialised
    found: list[Any] = []
    waiter = threading.Thread(
        target=lambda: found.append(events_until(lib, lambda e: e.label == "came-in-thread", timeout=30))
    )
    waiter.start()
    time.sleep(0.2)
    softhsm.add_token("came-in-thread")  # C_InitToken on the spare slot, from another thread
    waiter.join(60)
    assert not waiter.is_alive()
    event = found[0][-1]
    assert event.kind in (SlotEventKind.INSERTED, SlotEventKind.CHANGED)
    assert event.token is not None and event.token.flags & TokenFlag.TOKEN_INITIALIZED
    assert lib.get_token(serial=event.serial).label == "came-in-thread"
    assert "came-in-thread" in str(event)


def test_a_timeout_returns_none_promptly(softhsm: SoftHSM) -> None:
    lib = drained(p11.load(softhsm.module_path))
    started = time.monotonic()
    assert lib.wait_for_slot_event(0.3) is None
    took = time.monotonic() - started
    assert 0.3 <= took < 1.5
    started = time.monotonic()
    assert lib.wait_for_slot_event(0) is None
    assert time.monotonic() - started < 0.5


def test_wait_arguments_are_checked(softhsm: SoftHSM) -> None:
    lib = p11.load(softhsm.module_path)
    with pytest.raises(ValueError, match="timeout"):
        lib.wait_for_slot_event(-1)
    with pytest.raises(ValueError, match="interval"):
        lib.wait_for_slot_event(0, interval=0)
    with pytest.raises(TypeError, match="timeout"):
        lib.wait_for_slot_event("1")  # type: ignore[arg-type]


def test_softhsm_is_known_to_fix_its_slots_at_initialize(softhsm: SoftHSM) -> None:
    assert p11.load(softhsm.module_path).quirks.slots_fixed_at_initialize is True


def test_a_module_without_slot_events_is_polled_through_its_slot_list(faulty: Faulty, softhsm: SoftHSM) -> None:
    lib = faulty.token.library
    assert isinstance(lib, p11.Library)
    with faulty.shim.faults("C_WaitForSlotEvent error=0x54"):  # CKR_FUNCTION_NOT_SUPPORTED
        drained(lib)
        lib.wait_for_slot_event(0.2, interval=0.05)
        assert faulty.shim.calls("C_WaitForSlotEvent") == 1  # asked once: the module has none
        found: list[Any] = []
        waiter = threading.Thread(
            target=lambda: found.append(events_until(lib, lambda e: e.label == "polled-in", timeout=30))
        )
        waiter.start()
        time.sleep(0.1)
        softhsm.add_token("polled-in")
        waiter.join(60)
        assert not waiter.is_alive() and found
        assert faulty.shim.calls("C_WaitForSlotEvent") == 1


# -- waits that must end -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("run", range(3))
def test_close_while_a_thread_waits_ends_the_wait_at_once(store: SoftHSM, run: int) -> None:
    # 3 processes x 20 closes, the waiter's interval 30 s: it must be woken by close(), not by its next reading.
    proc = child(store, "close", "20")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert out.strip().endswith("ok")
    slowest = float(out.split()[2])
    assert slowest < 2


def test_without_a_working_probe_the_module_itself_is_read(store: SoftHSM) -> None:
    proc = child(store, "fallback")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    assert out.strip() == "ok"


@pytest.mark.parametrize("how", ["wait", "iterate"] * 3)
def test_ctrl_c_interrupts_a_wait(store: SoftHSM, how: str) -> None:
    proc = child(store, "interrupt", how)
    try:
        wait_ready(proc)
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 0, (out, err)
    assert out.strip() == "interrupted"
    assert took < 5
