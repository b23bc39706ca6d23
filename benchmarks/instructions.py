"""python -m benchmarks.instructions PYTHON [PYTHON ...] [--op NAME ...]: instructions per op, counted by callgrind.

Wall-clock figures on a shared machine move by tens of percent with the neighbours' load (the C floor's own figure
with them); an instruction count does not. For each op, the p11 workload of ``python -m benchmarks`` runs N1 and N2
times in a child under ``valgrind --tool=callgrind``, for each interpreter given (a venv with one p11 build each,
e.g. the abi3 build and a version-specific one, ``pip install -C wheel.py-api= .``);
(Ir(N2) - Ir(N1)) / (N2 - N1) is one op, set-up and start-up cancelled out. SoftHSM's own work counts too (a
signature's cryptography), so a difference is what the builds change per op. Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import spec
from benchmarks.harness import Target
from benchmarks.setup_token import bench_token

ROOT = Path(__file__).resolve().parent.parent
N1, N2 = 50, 550
BATCH = "@batch"  # suffix: the op through sign_many (per message)
DEFAULT_OPS = ("hmac_sha256_sign", "ecdsa_p256_sign", "hmac_sha256_sign" + BATCH, "aes_gcm_encrypt_1k",
               "get_attributes", "find_by_label", "random_32", "open_close_session")

CHILD = """
import sys
sys.path.insert(0, sys.argv[3])
from benchmarks.harness import Target
from benchmarks.impl_p11 import P11, P11Batch
op, n = sys.argv[1], int(sys.argv[2])
binding = (P11Batch if op.endswith("@batch") else P11)(Target.from_env())
work = binding.workload(op.removesuffix("@batch"))
for _ in range(3 + n):
    work.call()
work.close()
binding.close()
"""


def instructions(python: str, op: str, n: int, env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", python, "-c", CHILD, op,
                        str(n), str(ROOT)], env=env, check=True, capture_output=True, timeout=1800)
        found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
        if found is None:
            raise RuntimeError(f"no instruction total in callgrind's output for {op}")
        return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("pythons", nargs="+", metavar="PYTHON", help="interpreters, each with a p11 build installed")
    parser.add_argument("--op", action="append", metavar="NAME",
                        help=f"only these ops (repeatable; {BATCH}: through sign_many): {', '.join(DEFAULT_OPS)}")
    args = parser.parse_args(argv)
    with bench_token() as store:
        # A fixed hash seed: string hashing (and so dict probing) is otherwise different in every process.
        env = {**store.env, **Target(store.module_path, store.label, store.user_pin).as_env(), "PYTHONHASHSEED": "0"}
        print(f"{'op':28s} " + " ".join(f"{Path(p).parent.parent.name:>16s}" for p in args.pythons))
        for op in args.op or DEFAULT_OPS:
            per_op = []
            for python in args.pythons:
                count = (instructions(python, op, N2, env) - instructions(python, op, N1, env)) / (N2 - N1)
                per_op.append(count / spec.BATCH_SIZE if op.endswith(BATCH) else count)
            print(f"{op:28s} " + " ".join(f"{c:16,.0f}" for c in per_op), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
