"""Waiting for slot events in a process of its own (issue 21 item 4), run by tests/api/test_slot_events.py.

Usage: ``python slot_events.py MODULE_PATH MODE [ARG]``, with the module's store in ``SOFTHSM2_CONF``:

* ``arrive LABEL``: take the first reading, print ``ready``, then print every event as a JSON line until a token
  labelled LABEL is inserted (exit 0) or 60 s pass (exit 1). Another process initialises that token meanwhile.
* ``close REPS``: REPS times: load the library, start a thread waiting for an event (half of them through the
  ``slot_events()`` iterator) with a long interval, close the library after a random pause; the waiter must end at
  once (a ``CryptokiNotInitialized``, or the iterator's end), and ``close()`` must not wait for it. Prints the
  slowest close and ``ok`` (exit 0), or what went wrong (exit 1).
* ``interrupt``: print ``ready``, then wait for ever in the main thread (``slot_events()`` when ARG is ``iterate``);
  a SIGINT must end it with KeyboardInterrupt: print ``interrupted`` and exit 0.
* ``fallback``: with ``sys.executable`` a program that is not Python (``/bin/false``, as in an embedded
  interpreter), the probe cannot answer: the slots are read through the module itself, so a token this process
  initialises is still seen. Prints ``ok``.

After ``close`` and ``fallback`` no child process may be left (the probe ends with the library).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from typing import Any

import p11
from p11 import errors
from p11.constants import TokenFlag


def arrive(module_path: str, label: str) -> int:
    lib = p11.load(module_path)
    lib.wait_for_slot_event(0)  # the first reading: what later ones are compared with
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        event = lib.wait_for_slot_event(deadline - time.monotonic())
        if event is None:
            break
        token = event.token
        initialised = bool(token is not None and token.flags & TokenFlag.TOKEN_INITIALIZED)
        record = {"kind": event.kind.value, "slot": event.slot_id, "label": event.label, "initialised": initialised,
                  "at": time.time()}  # fmt: skip
        print(json.dumps(record), flush=True)
        if event.kind is p11.SlotEventKind.INSERTED and event.label == label:
            # This process has opened nothing: the lookup initialises the module again and finds the token.
            found = lib.get_token(label=label)
            print(json.dumps({"opened": found.label, "serial": found.serial}), flush=True)
            return 0
    return 1


def children() -> list[int]:
    """This process's children still running (Linux: from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                found.append(int(entry))
    return found


def close(module_path: str, reps: int) -> int:
    slowest = 0.0
    for rep in range(reps):
        lib = p11.load(module_path)
        outcome: list[Any] = []
        iterate = rep % 2 == 1

        def wait(lib: Any = lib, outcome: list[Any] = outcome, iterate: bool = iterate) -> None:
            try:
                if iterate:
                    outcome.append(list(lib.slot_events(interval=30)))
                else:
                    outcome.append(lib.wait_for_slot_event(None, interval=30))
            except BaseException as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(random.uniform(0, 0.2))
        started = time.monotonic()
        lib.close()
        took = time.monotonic() - started
        waiter.join(5)
        ended = time.monotonic() - started
        slowest = max(slowest, ended)
        if waiter.is_alive():
            print(f"rep {rep}: the waiter did not end after close()")
            return 1
        if took > 2:
            print(f"rep {rep}: close() took {took:.2f} s")
            return 1
        result = outcome[0]
        if iterate and result != []:
            print(f"rep {rep}: the iterator gave {result!r} instead of ending")
            return 1
        if not iterate and not (
            isinstance(result, errors.CryptokiNotInitialized) and "closed while waiting" in str(result)
        ):
            print(f"rep {rep}: the waiter ended with {result!r}")
            return 1
        try:
            lib.wait_for_slot_event(0)
        except errors.CryptokiNotInitialized:
            pass
        else:
            print(f"rep {rep}: a closed library waited again")
            return 1
    time.sleep(0.2)
    if children():
        print(f"child processes left after close(): {children()}")
        return 1
    print(f"slowest end {slowest:.3f} s")
    print("ok")
    return 0


def fallback(module_path: str) -> int:
    sys.executable = "/bin/false"
    lib = p11.load(module_path)
    started = time.monotonic()
    if lib.wait_for_slot_event(1.0, interval=0.05) is not None:
        print("an event from nowhere")
        return 1
    if time.monotonic() - started > 5:
        print("the failing probe held the wait")
        return 1
    lib.free_token().init_token("12345678", "made-here")
    event = lib.wait_for_slot_event(10, interval=0.05)
    while event is not None and event.label != "made-here":
        event = lib.wait_for_slot_event(10, interval=0.05)
    if event is None:
        print("the token initialised here was not seen")
        return 1
    lib.close()
    if children():
        print(f"child processes left: {children()}")
        return 1
    print("ok")
    return 0


def interrupt(module_path: str, how: str) -> int:
    lib = p11.load(module_path)
    lib.wait_for_slot_event(0)
    print("ready", flush=True)
    try:
        if how == "iterate":
            for _ in lib.slot_events():
                pass
        else:
            lib.wait_for_slot_event(None)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 0
    return 1


if __name__ == "__main__":
    path, mode = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    if mode == "arrive":
        sys.exit(arrive(path, arg))
    if mode == "close":
        sys.exit(close(path, int(arg)))
    if mode == "fallback":
        sys.exit(fallback(path))
    sys.exit(interrupt(path, arg))
