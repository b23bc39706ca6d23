"""Memcheck over a representative test run: the native ops, the pool, attribute reads and the injected faults
(dead sessions, corrupted replies) under valgrind, with the Python allocator switched to malloc so every object
is tracked. Fails on any invalid read or write, and on any definite leak with our native code in its stack
(p11._native, p11._cffi, libp11fault); SoftHSM/OpenSSL/interpreter noise is suppressed by tests/valgrind/soak.supp.

    python tests/soak/memcheck.py [PYTEST ARGS...]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, report

OURS = re.compile(r"_native\.|_cffi\.|libp11fault|p11/")
DEFAULT = ["tests/native/test_ops.py", "tests/native/test_attributes.py",
           "tests/faults/test_errors.py::test_persistent_error_raises_its_class",
           "tests/faults/test_errors.py::test_batch_returns_the_failed_items_and_keeps_the_rest",
           "tests/faults/test_errors.py::test_dead_session_is_replaced_and_the_call_retried"]


def main(args: list[str]) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        report("memcheck", False, error="valgrind is not installed (apt-get install valgrind)")
        return 1
    logs = Path(tempfile.mkdtemp(prefix="p11-memcheck-"))
    cmd = [valgrind, "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
           "--errors-for-leak-kinds=definite", f"--suppressions={ROOT / 'tests' / 'valgrind' / 'soak.supp'}",
           "--num-callers=40",
           f"--log-file={logs}/vg.%p.log", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-x", *(args or DEFAULT)]
    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=3600)
    invalid, leaks, errors_total = [], [], 0
    for log in logs.glob("vg.*.log"):
        text = log.read_text(errors="replace")
        for block in re.split(r"\n==\d+== \n", text):
            if re.search(r"Invalid (read|write|free)", block) and OURS.search(block):
                invalid.append(block[:1500])
            elif "definitely lost" in block and OURS.search(block):
                leaks.append(block[:1500])
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        errors_total += int(m.group(1)) if m else 0
    tests = (proc.stdout.strip().splitlines() or ["?"])[-1]
    ok = proc.returncode == 0 and not invalid and not leaks
    report("memcheck", ok, tests=tests, invalid_access_in_our_code=len(invalid),
           definite_leaks_in_our_code=len(leaks), valgrind_errors_all_libraries=errors_total, logs=str(logs),
           first=(invalid + leaks)[:1])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
