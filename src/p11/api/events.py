"""Tokens that come and go (USB keys, smart cards): slot events, behind :meth:`p11.Library.wait_for_slot_event` and
:meth:`p11.Library.slot_events`.

An event is a difference between two readings of the module's slots: the slot list (``C_GetSlotList``, every slot),
each slot's ``CKF_TOKEN_PRESENT`` and its token's identity (label, serial, manufacturer, model, initialised or
not). A token that appears is :attr:`SlotEventKind.INSERTED`, one that goes :attr:`~SlotEventKind.REMOVED`, one
whose identity changed in place (initialised, re-initialised, another card in the same reader)
:attr:`~SlotEventKind.CHANGED`. Where the module reports events (``C_WaitForSlotEvent``), they are drained at each
reading too, and a slot it names that looks the same as before is CHANGED (a card pulled and put back).

Why polling, never a blocking ``C_WaitForSlotEvent``: only ``C_Finalize`` can interrupt a blocking wait, so
``lib.close()`` would wait its whole bound for it, and Ctrl-C could not stop it. Each reading here is a few short
calls through the call gate (the GIL released in each), and the wait between readings is an event that
``lib.close()`` sets (the waiter then raises at once) and that a signal interrupts (Ctrl-C raises
``KeyboardInterrupt`` in the waiting thread). ``C_WaitForSlotEvent`` is only ever called with ``CKF_DONT_BLOCK``,
and not at all once the module says it does not have it.

A module that reads its slots only in ``C_Initialize`` (SoftHSM: the quirk ``slots_fixed_at_initialize``,
:mod:`p11.quirks`) never shows a token another process adds, and initialising it again in this process would end
every session on it and race every thread using it. For such a module the slots are read by a child process
(:mod:`p11.api.slot_probe`, started on the first wait, stopped by ``lib.close()``) that initialises an instance of
its own for each reading, and so sees the token store as it is now; the store's file locks keep it apart from the
other processes, as they keep ``softhsm2-util --show-slots``. (A second instance inside this process would not be
kept apart: file locks do not separate two instances in one process, and SoftHSM then reads token files
half-written, and was seen to leave one empty.) The child's readings are compared token by token (manufacturer,
model, serial number), since a fresh initialisation numbers the slots anew; SoftHSM's spare slot (an
uninitialised token with no serial number, moved whenever a token is added) is left out. A token counts as
REMOVED once every reading has missed it for 5 seconds (three readings at least): SoftHSM rewrites a token's file
at every login, and a reading made meanwhile misses the token (a third of them, with logins all the time).

This process's own module shows a token another process added after its next initialisation (``lib.close()`` and
``p11.load()``; a lookup on a module nothing uses yet does that by itself: :meth:`p11.Library.until_found`). When
the child cannot be started or stops answering (an embedded interpreter whose ``sys.executable`` is not Python),
the slots are read through the module itself.

Events are queued between calls: each is handed out once, to whichever thread asks next (per reading: removals,
then changes, then insertions, each by slot id); the first call takes the reading that later ones compare with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import IO, Any, Final

from p11._cffi import lib
from p11.constants import SlotFlag, TokenFlag
from p11.errors import CryptokiError, LibraryStateError, error_class
from p11.lowlevel.types import TokenInfo, Version

__all__ = ["DEFAULT_INTERVAL", "SlotEvent", "SlotEventKind", "SlotWatch", "read_slots"]

DEFAULT_INTERVAL: Final = 0.25
"""Seconds between two readings of the slots while waiting."""

_MIN_INTERVAL: Final = 0.01
_MAX_INTERVAL: Final = 3600.0
_DRAIN: Final = 64  # module events taken per reading at most (a module repeating one forever must not hold us)
_DONT_BLOCK: Final = int(lib.CKF_DONT_BLOCK)
_CKR_NOT_INITIALIZED: Final = int(lib.CKR_CRYPTOKI_NOT_INITIALIZED)
_CKR_SLOT_ID_INVALID: Final = int(lib.CKR_SLOT_ID_INVALID)
_PROBE_STARTS: Final = 3  # a probe that keeps failing is not started for ever: the module is read itself then
_PROBE_TIMEOUT: Final = 30.0  # seconds a probe's reading may take (SoftHSM: milliseconds)
_MISSING_READINGS: Final = 3  # probe readings in a row a token must be missing from to count as REMOVED ...
_MISSING_SECONDS: Final = 5.0  # ... over at least this long
# A slot or token that went away between the slot list and the question about it: not there (any other error is
# the module's to report).
_GONE: Final = frozenset(
    int(getattr(lib, name))
    for name in (
        "CKR_SLOT_ID_INVALID",
        "CKR_TOKEN_NOT_PRESENT",
        "CKR_TOKEN_NOT_RECOGNIZED",
        "CKR_DEVICE_REMOVED",
    )
)


class SlotEventKind(enum.Enum):
    """What happened in a slot."""

    INSERTED = "inserted"
    """A token is present now that was not (in a new slot, or in an empty one)."""
    REMOVED = "removed"
    """The token that was there is gone (or its slot is)."""
    CHANGED = "changed"
    """A token was there before and is now, but not the same one, or not in the same state (initialised,
    re-initialised, relabelled), or the module reported an event for it."""


@dataclasses.dataclass(frozen=True)
class SlotEvent:
    """One slot event: ``kind``, ``slot_id``, the token's ``CK_TOKEN_INFO`` now (``token``, ``None`` after REMOVED)
    and before (``before``, ``None`` after INSERTED). ``lib.get_token(serial=event.serial)`` gives the
    :class:`p11.Token` of an inserted or changed token (a serial number stays with its token; slot ids need not:
    SoftHSM numbers a token's slot afresh when it is initialised, and a private copy's reading numbers them as a
    fresh initialisation does)."""

    kind: SlotEventKind
    slot_id: int
    token: TokenInfo | None = dataclasses.field(repr=False)
    before: TokenInfo | None = dataclasses.field(repr=False)

    @property
    def label(self) -> str | None:
        """The label of the token the event is about (the new one; the old one after REMOVED)."""
        info = self.token if self.token is not None else self.before
        return info.label if info is not None else None

    @property
    def serial(self) -> str | None:
        """The serial number of the token the event is about (the new one; the old one after REMOVED)."""
        info = self.token if self.token is not None else self.before
        return info.serial_number if info is not None else None

    def __str__(self) -> str:
        return f"token {self.label!r} {self.kind.value} in slot {self.slot_id}"


# Within one reading: what went before what changed before what came (a token moved to another slot is gone from
# the old one first), each by slot id.
_ORDER: Final = {SlotEventKind.REMOVED: 0, SlotEventKind.CHANGED: 1, SlotEventKind.INSERTED: 2}


def _identity(info: TokenInfo) -> tuple[Any, ...]:
    """What makes a token the same token, in the same state, between two readings (counters change all the time)."""
    initialised = bool(info.flags & TokenFlag.TOKEN_INITIALIZED)
    return (info.label, info.serial_number, info.manufacturer_id, info.model, initialised)


def read_slots(module: Any) -> dict[int, TokenInfo | None]:
    """Every slot of ``module`` (a :class:`p11.lowlevel.Module`), with its token's ``CK_TOKEN_INFO`` or ``None``
    when it holds none."""
    slots: dict[int, TokenInfo | None] = {}
    for slot_id in module.C_GetSlotList(False):
        try:
            if not module.C_GetSlotInfo(slot_id).flags & SlotFlag.TOKEN_PRESENT:
                slots[slot_id] = None
                continue
            slots[slot_id] = module.C_GetTokenInfo(slot_id)
        except CryptokiError as exc:
            if exc.rv not in _GONE:
                raise
            if exc.rv != _CKR_SLOT_ID_INVALID:  # the slot itself is gone: absent from this reading
                slots[slot_id] = None
    return slots


class _ProbeFailed(Exception):
    """The child reading the slots afresh did not answer: read the module itself."""


class _ProbeSkipped(Exception):
    """The child answered that its module could not be read this time (its C_Initialize failed)."""


def _token_info(fields: dict[str, Any]) -> TokenInfo:
    fields = dict(fields)
    fields["flags"] = TokenFlag(fields["flags"])
    fields["hardware_version"] = Version(*fields["hardware_version"])
    fields["firmware_version"] = Version(*fields["firmware_version"])
    return TokenInfo(**fields)


def _stop(process: subprocess.Popen[bytes], owner: int) -> None:
    """End the probe (its reader thread then sees the end of its output and ends too)."""
    if os.getpid() != owner:  # a fork child: the probe is its parent's
        return
    process.kill()
    process.wait()
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()


def _lines(stream: IO[bytes], into: queue.Queue[bytes]) -> None:
    """The probe's answers, line by line, then b"" at its end (a thread: waiting for them stays interruptible)."""
    for line in stream:
        into.put(line)
    into.put(b"")


class _Probe:
    """The child process that reads the module's slots as a fresh initialisation sees them (p11.api.slot_probe)."""

    def __init__(self, path: str) -> None:
        package_root = str(Path(__file__).resolve().parents[2])  # so the child imports this very p11
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "p11.api.slot_probe", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._answers: queue.Queue[bytes] = queue.Queue()
        assert self._process.stdout is not None
        threading.Thread(target=_lines, args=(self._process.stdout, self._answers), daemon=True).start()
        self.close = weakref.finalize(self, _stop, self._process, os.getpid())

    def read(self, timeout: float) -> dict[int, TokenInfo | None]:
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(b"read\n")
            self._process.stdin.flush()
            line = self._answers.get(timeout=timeout)
        except (OSError, queue.Empty):
            raise _ProbeFailed() from None
        if not line:
            raise _ProbeFailed()
        answer = json.loads(line)
        if "error" in answer:
            raise _ProbeSkipped()
        return {int(slot_id): None if info is None else _token_info(info) for slot_id, info in answer["slots"]}


# A reading: what is seen, by slot id (the module's own reading) or by token (the probe's: its slot numbers change
# with each initialisation, a token's serial number does not) -> (slot id, CK_TOKEN_INFO or None).
_Reading = dict[Any, tuple[int, TokenInfo | None]]


def _by_token(slots: dict[int, TokenInfo | None]) -> _Reading:
    """The probe's reading by token: manufacturer, model and serial number. Tokens without a serial number
    (SoftHSM's spare, uninitialised slot, which moves to a new slot whenever a token is added) are left out."""
    return {
        (info.manufacturer_id, info.model, info.serial_number): (slot_id, info)
        for slot_id, info in slots.items()
        if info is not None and info.serial_number.strip()
    }


def _differences(before: _Reading, now: _Reading, reported: set[int]) -> list[SlotEvent]:
    """The events between two readings; a slot the module reported an event for that looks the same is CHANGED."""
    events = []
    for key in before.keys() | now.keys() | reported:
        slot_id, old = before.get(key, (key, None))
        slot_id, new = now.get(key, (slot_id, None))
        if old is None and new is None:
            continue
        if old is None:
            kind = SlotEventKind.INSERTED
        elif new is None:
            kind = SlotEventKind.REMOVED
        elif _identity(old) != _identity(new) or key in reported:
            kind = SlotEventKind.CHANGED
        else:
            continue
        events.append(SlotEvent(kind, slot_id, new, old))
    events.sort(key=lambda event: (_ORDER[event.kind], event.slot_id))
    return events


def _seconds(value: float | None, what: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds or None, not {type(value).__name__}")
    if math.isnan(value) or not low <= value <= high:
        raise ValueError(f"{what} must be between {low:g} and {high:g} seconds, not {value!r}")
    return float(value)


class SlotWatch:
    """The slots of one module as last read, and the events not handed out yet (one per :class:`p11.Library`).

    ``fresh_path``: the module's file, for a module whose slots are fixed at ``C_Initialize`` (read by a child
    process, :class:`_Probe`), else ``None``."""

    def __init__(self, module: Any, fresh_path: str | None) -> None:
        self._module = module
        self._fresh_path = fresh_path
        self._closed = threading.Event()
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._seen: _Reading | None = None
        self._seen_by_token = False  # whether _seen came from the probe (by token) or the module (by slot)
        self._missing: dict[Any, tuple[int, float]] = {}  # probe readings: tokens missing lately (how often, since)
        self._pending: deque[SlotEvent] = deque()
        self._module_events = True  # C_WaitForSlotEvent(CKF_DONT_BLOCK), until the module says it has none
        self._probe: _Probe | None = None
        self._probe_starts = 0
        self._probe_errors = 0  # answers in a row that its module could not be read

    def close(self) -> None:
        """The library is closing: every waiter raises now, and every later call (a probe's reading in progress
        ends with its process)."""
        self._closed.set()
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set() or bool(self._module.closed)

    def wait(self, timeout: float | None, interval: float = DEFAULT_INTERVAL) -> SlotEvent | None:
        """The next event, or ``None`` when ``timeout`` seconds pass without one (``None``: wait for ever)."""
        limit = _seconds(timeout, "timeout", 0.0, math.inf)
        pause = _seconds(interval, "interval", _MIN_INTERVAL, _MAX_INTERVAL)
        assert pause is not None
        deadline = None if limit is None else time.monotonic() + limit
        if os.getpid() != self._pid:  # a fork child: the parent's reading (and maybe its held lock) is not ours
            self._reset()
        while True:
            self._check_open()
            with self._lock:
                if not self._pending:
                    self._read()
                if self._pending:
                    return self._pending.popleft()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            if self._closed.wait(pause if left is None else min(pause, left)):
                self._check_open()

    def _check_open(self) -> None:
        if self.closed:
            raise error_class(_CKR_NOT_INITIALIZED)(
                _CKR_NOT_INITIALIZED, None, "the library was closed while waiting for a slot event"
            )

    def _read(self) -> None:
        """Read the slots, and queue what changed since the last reading (nothing on the first: the baseline)."""
        try:
            reported = self._reported()
            try:
                slots = self._read_probe()
            except _ProbeSkipped:  # no reading this time: compare the next one with the last
                return
            if slots is None:
                now = {slot_id: (slot_id, info) for slot_id, info in read_slots(self._module).items()}
            else:
                now = _by_token(slots)
                reported = set()  # the module's own slot numbers: nothing to do with the probe's
        except LibraryStateError:
            self._check_open()  # closed meanwhile: say so
            raise
        by_token = slots is not None
        before = self._seen if by_token == self._seen_by_token else None  # a probe that failed: a new baseline
        self._seen_by_token = by_token
        if by_token and before is not None:
            # A token missing from a reading of the store may be a file being rewritten as it was read (SoftHSM
            # rewrites a token's file at each login, even a per-use one: with logins all the time, a third of the
            # readings miss it). It counts as gone once every reading has missed it for a while.
            moment = time.monotonic()
            self._missing = {
                key: (self._missing.get(key, (0, moment))[0] + 1, self._missing.get(key, (0, moment))[1])
                for key in before
                if key not in now
            }
            now.update({key: before[key] for key, (count, since) in self._missing.items()
                        if count < _MISSING_READINGS or moment - since < _MISSING_SECONDS})  # fmt: skip
        self._seen = now
        if before is not None:
            self._pending.extend(_differences(before, now, reported))

    def _read_probe(self) -> dict[int, TokenInfo | None] | None:
        """A reading by the probe (started when needed), or ``None``: read the module itself."""
        if self._fresh_path is None:
            return None
        probe = self._probe
        if probe is None:
            if self._probe_starts >= _PROBE_STARTS:
                return None
            self._probe_starts += 1
            try:
                probe = self._probe = _Probe(self._fresh_path)
            except OSError:
                return None
            if self._closed.is_set():  # closed while it was starting
                probe.close()
                self._probe = None
                return None
        try:
            slots = probe.read(_PROBE_TIMEOUT)
        except _ProbeSkipped:
            self._probe_errors += 1
            if self._probe_errors >= _PROBE_STARTS:  # its module never reads: read this process's own
                self._probe_starts = _PROBE_STARTS
                self._drop(probe)
                return None
            raise
        except _ProbeFailed:
            self._drop(probe)
            self._check_open()  # it ended because the library closed: say so
            return None
        except BaseException:  # Ctrl-C mid-reading: its answer would come to the next question; start anew
            self._drop(probe)
            raise
        self._probe_errors = 0
        return slots

    def _drop(self, probe: _Probe) -> None:
        probe.close()
        if self._probe is probe:
            self._probe = None

    def _reported(self) -> set[int]:
        """The slots the module reports events for, drained without blocking."""
        slots: set[int] = set()
        while self._module_events and len(slots) < _DRAIN:
            try:
                slot = self._module.C_WaitForSlotEvent(_DONT_BLOCK)
            except LibraryStateError:
                raise
            except CryptokiError:  # CKR_FUNCTION_NOT_SUPPORTED (p11-kit's proxy), or a module that errs here
                self._module_events = False
                break
            if slot is None:
                break
            slots.add(slot)
        return slots
