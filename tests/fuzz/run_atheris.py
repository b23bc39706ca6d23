"""Coverage-guided fuzzing of one target with atheris (the ``fuzz`` extra): the long run of ``scripts/soak``.

    python tests/fuzz/run_atheris.py TARGET [SECONDS] [--save-new]

Runs ``tests/fuzz/targets.py``'s TARGET for SECONDS (default 60) on a copy of ``tests/fuzz/corpus/TARGET``;
``--save-new`` keeps the inputs that reached new coverage (merged back into the committed corpus by hand review).
Prints one JSON line: inputs tried, corpus size, findings. A finding (an undocumented exception) stops the run with
a non-zero exit and the input written to ``crash-*`` in the working directory, as libFuzzer does.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the checkout: tests.fuzz.targets

import atheris  # noqa: E402

# Coverage from the code under test only (instrumenting cryptography and the rest of p11 costs seconds a run).
_INSTRUMENTED = ["p11.uri", "p11.encodings.der", "p11.crypto", "p11.mechanisms", "p11.encodings.curves"]
with atheris.instrument_imports(include=_INSTRUMENTED):
    from tests.fuzz import targets

COUNT = [0]


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args or args[0] not in targets.TARGETS:
        print(__doc__, file=sys.stderr)
        return 2
    name, seconds = args[0], int(args[1]) if len(args) > 1 else 60
    target = targets.TARGETS[name]
    corpus = HERE / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"p11-fuzz-{name}-"))
    for f in corpus.iterdir():
        shutil.copy(f, work / f.name)
    before = {f.name for f in work.iterdir()}

    deadline = time.monotonic() + seconds

    def one(data: bytes) -> None:
        COUNT[0] += 1
        if COUNT[0] % 256 == 0 and time.monotonic() > deadline:
            report()
            os._exit(0)  # libFuzzer ends the process with C exit(): no Python atexit, so stop here ourselves
        target(data)

    def report() -> None:
        new = [f for f in work.iterdir() if f.name not in before]
        if "--save-new" in sys.argv:
            for f in new:
                shutil.copy(f, corpus / f.name)
        print(json.dumps({"target": name, "inputs": COUNT[0], "corpus": len(before) + len(new), "new": len(new)}),
              flush=True)
        shutil.rmtree(work, ignore_errors=True)

    atheris.Setup(
        [sys.argv[0], str(work), f"-max_total_time={seconds + 60}", "-max_len=4096", "-rss_limit_mb=2048",
         "-print_final_stats=0"],
        one,
    )
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
