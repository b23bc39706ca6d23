"""``python -m benchmarks --json FILE`` keeps its contract: the JSON shape, the impl names, one child per cell.

A short run (``--quick``, two cheap ops) against a real throwaway SoftHSM token; speeds are not asserted here
(they live in docs/benchmarks.md), only that every cell is a measurement or an error string, and that p11's own
cells are measurements.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

IMPLS = {"c-floor", "p11", "p11-batch", "p11-batch-2", "python-pkcs11", "pykcs11"}


def test_quick_run_writes_the_documented_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out),
         "--op", "random_32", "--op", "hmac_sha256_sign"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert {"machine", "versions", "results"} <= set(data)
    results = data["results"]
    assert {r["impl"] for r in results} <= IMPLS
    assert {r["op"] for r in results} == {"random_32", "hmac_sha256_sign"}
    for r in results:
        assert ("ops_per_s" in r) != ("error" in r), r
        if "ops_per_s" in r:
            assert r["ops_per_s"] > 0
    measured = {(r["impl"], r["op"]) for r in results if "ops_per_s" in r}
    for impl in ("c-floor", "p11"):
        for op in ("random_32", "hmac_sha256_sign"):
            assert (impl, op) in measured, f"{impl}/{op} was not measured: {results}"
    assert ("p11-batch", "hmac_sha256_sign") in measured
    assert "random_32" in proc.stdout and "x" in proc.stdout  # the table with ratios to the C floor
