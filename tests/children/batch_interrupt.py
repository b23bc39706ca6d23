"""A 1e6-item HMAC batch interrupted by SIGINT, as a child process (run by tests/native/test_batch_interrupt.py).

Usage: ``python batch_interrupt.py MODULE_PATH TOKEN_LABEL USER_PIN ON_ERROR WORKERS ITEMS``; WORKERS is a number
(pooled batch) or ``session`` (an explicit session's batch, no pool involved). A thread sends
SIGINT to this process once the batch is under way; the script prints one JSON line describing the
KeyboardInterrupt it caught (or that none came) and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import p11
from p11.constants import Mechanism

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout: tests.support
from tests.support import HMAC_VALUE, add_hmac_key, mac


def main(argv: list[str]) -> int:
    module_path, label, pin, on_error, workers, items = argv[1:7]
    token = p11.load(module_path).get_token(label=label)
    token.login(pin, max_size=4)
    owner = token.open() if workers == "session" else token
    key = add_hmac_key(owner, HMAC_VALUE, token=False)
    n = int(items)
    messages = [b"request %d" % i for i in range(n)]
    started = threading.Event()

    def interrupt() -> None:
        started.wait()
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    report: dict[str, object] = {"n": n}
    try:
        started.set()
        results = key.sign_many(
            messages, Mechanism.SHA256_HMAC, workers=1 if workers == "session" else int(workers), on_error=on_error
        )
    except KeyboardInterrupt as exc:
        report["interrupted"] = True
        report["completed"] = getattr(exc, "completed", None)
        report["message"] = str(exc)
        report["notes"] = getattr(exc, "__notes__", [])
        partial = getattr(exc, "results", None)
        report["has_results"] = partial is not None
        if partial is not None:
            report["results_len"] = len(partial)
            report["finished"] = sum(1 for r in partial if r is not None)
            report["finished_correct"] = all(
                r == mac(m)
                for r, m in zip(partial, messages, strict=True)
                if r is not None
            )
    else:
        report["interrupted"] = False
        report["results_len"] = len(results)
    # The pool and the session are usable after the interruption: nothing was left half-done.
    expected = mac(b"after")
    report["after"] = key.sign(b"after", Mechanism.SHA256_HMAC) == expected
    token.close_pool()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
