"""``python -m p11.api.slot_probe MODULE_PATH``: the slots of a module as a fresh initialisation sees them, on request.

The child process behind the slot events of a module that reads its slots only in ``C_Initialize`` (SoftHSM:
see :mod:`p11.api.events`). Each line on stdin asks for one reading: the module is initialised, its slots read
(:func:`p11.api.events.read_slots`) and finalised again, and one JSON line answers on stdout: ``{"slots": [[slot
id, CK_TOKEN_INFO as a dict or null], ...]}``, or ``{"error": rv}``. Nothing else uses the module in this
process, so initialising and finalising it harms nobody, and the store's file locks keep its readings apart from
the writes of every other process (as ``softhsm2-util --show-slots`` is). Whatever the module itself prints goes
to stderr, never into the answers. It ends when stdin closes (its parent closed it, or died).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any

from p11 import lowlevel
from p11.api.events import read_slots
from p11.errors import CryptokiError

__all__ = ["answer", "main"]


def answer(module: lowlevel.Module) -> dict[str, Any]:
    try:
        module.C_Initialize()
        try:
            slots = read_slots(module)
        finally:
            module.C_Finalize()
    except CryptokiError as exc:
        return {"error": exc.rv}
    return {"slots": [[slot_id, None if info is None else dataclasses.asdict(info)] for slot_id, info in slots.items()]}


def main(path: str) -> int:
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the module's own prints must not reach the answers
    module = lowlevel.Module(path, initialize=False)
    for _ in sys.stdin:
        channel.write(json.dumps(answer(module)) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
