"""Latency and concurrency: ``python -m benchmarks --json FILE --latency-ms N`` adds these rows.

A network HSM answers in milliseconds, not microseconds: then one call at a time gets 1/latency ops/s whatever the
binding, and only concurrency helps. The fault shim (``native/faultmod``, built here) sleeps ``N`` ms before
forwarding every ``C_Sign`` to SoftHSM, outside SoftHSM's locks, so concurrent calls overlap their waits as they
would on a network HSM. Measured for n = 1..8 concurrent calls (HMAC-SHA256 over 64 bytes):

* ``p11 sign_many``: ``key.sign_many(messages, mechanism, workers=n)`` (p11's own native threads);
* ``p11 threads``: ``n`` Python threads calling ``key.sign`` on one pooled key;
* ``p11 gather``: ``asyncio.gather`` of ``key.sign_async`` with the pool bounded to ``n`` sessions;
* ``python-pkcs11 threads`` and ``pykcs11 threads``: ``n`` Python threads, a session each (they have no pool,
  batches or asyncio).

The target is ``0.8 * n / latency``: what overlapping ``n`` waits can give at most, less 20%.
Each cell runs in its own process (``python -m benchmarks.latency IMPL MODE N SECONDS``), as the main cells do.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from benchmarks.harness import Target, Workload, measure, median
from benchmarks.impls import binding_class

OP = "hmac_sha256_sign"
MAX_N = 8
# (impl column, mode): the rows of the latency table, in order.
MODES: tuple[tuple[str, str], ...] = (
    ("p11", "sign_many"),
    ("p11", "threads"),
    ("p11", "gather"),
    ("python-pkcs11", "threads"),
    ("pykcs11", "threads"),
)
PER_CALL = 840  # messages per sign_many call, awaits per gather: a multiple of every n (1..8), so no call ends
# with a partial round that leaves workers idle (64 over 7 workers took 10 rounds, not 9.1)


def shim_env(module_path: str, latency_ms: float) -> dict[str, str]:
    """The environment that puts the shim, with ``latency_ms`` per C_Sign, in front of ``module_path``; and the
    shim's path under ``P11_BENCH_SHIM``."""
    from tests.faults.faultmod import build

    shim = build()  # tests/faults/faultmod.py: the checkout's native/faultmod, built under build/faultmod
    return {
        "P11_BENCH_SHIM": str(shim),
        "P11_FAULT_MODULE": module_path,
        "P11_FAULT_CONFIG": f"C_Sign latency_us={round(latency_ms * 1000)}",
    }


def workloads(impl: str, mode: str, n: int, t: Target) -> tuple[Any, list[Workload]]:
    """The binding and the workloads (one per measuring thread) of one cell."""
    binding = binding_class(impl)(t)
    if impl != "p11" or mode == "threads":
        return binding, [binding.workload(OP) for _ in range(n)]
    key, mechanism, data = binding._key(OP)  # type: ignore[attr-defined]
    messages = [data] * PER_CALL
    if mode == "sign_many":
        sign_many = key.sign_many
        return binding, [Workload(lambda: sign_many(messages, mechanism, workers=n), ops_per_call=PER_CALL)]
    # gather: at most n calls in flight, because the pool (which runs sign_async) holds n sessions
    binding._token.login(t.user_pin, max_size=n)  # type: ignore[attr-defined]
    key, mechanism, data = binding._key(OP)  # type: ignore[attr-defined]
    sign_async = key.sign_async
    loop = asyncio.new_event_loop()

    async def batch() -> list[bytes]:
        return await asyncio.gather(*(sign_async(data, mechanism) for _ in range(PER_CALL)))

    return binding, [Workload(lambda: loop.run_until_complete(batch()), ops_per_call=PER_CALL, close=loop.close)]


def run(impl: str, mode: str, n: int, seconds: float) -> dict[str, object]:
    import os

    base = Target.from_env()
    shim = os.environ.get("P11_BENCH_SHIM")
    if shim is None:
        raise RuntimeError("P11_BENCH_SHIM is not set: run latency cells through `python -m benchmarks --latency-ms N`")
    t = Target(shim, base.token_label, base.user_pin)
    binding, works = workloads(impl, mode, n, t)
    try:
        per_round = measure(works, seconds, 3)
    finally:
        for work in works:
            work.close()
        binding.close()
    return {"ops_per_s": median(per_round), "rounds": per_round}


def cells(impls: list[str]) -> list[tuple[str, str, int]]:
    return [(impl, mode, n) for impl, mode in MODES if impl in impls for n in range(1, MAX_N + 1)]


def measure_latency(
    impls: list[str], latency_ms: float, seconds: float, timeout: float, log: Any
) -> list[dict[str, Any]]:
    """Every latency cell, each in a child process on the benchmark token behind the shim."""
    from benchmarks.runner import run_cell
    from benchmarks.setup_token import bench_token

    rows: list[dict[str, Any]] = []
    with bench_token() as store:
        env = {**store.env, **Target(store.module_path, store.label, store.user_pin).as_env(),
               **shim_env(store.module_path, latency_ms)}
        secrets = (store.user_pin, store.so_pin)
        for impl, mode, n in cells(impls):
            argv = [sys.executable, "-m", "benchmarks.latency", impl, mode, str(n), f"{seconds:g}"]
            outcome = run_cell(argv, env, timeout, secrets, parse="json")
            row = {"impl": impl, "mode": mode, "n": n, "latency_ms": latency_ms,
                   "target_ops_per_s": 0.8 * n * 1000.0 / latency_ms, **outcome}
            rows.append(row)
            shown = f"{outcome['ops_per_s']:>9,.0f} ops/s" if "ops_per_s" in outcome else outcome["error"]
            print(f"  latency {latency_ms:g} ms  {impl:<14} {mode:<10} n={n}  {shown}", file=log, flush=True)
    return rows


def text(rows: list[dict[str, Any]]) -> str:
    """The latency rows as a plain table: ops/s per n, and whether each reaches the target."""
    ns = sorted({r["n"] for r in rows})
    lines = ["impl / mode".ljust(26) + "".join(f"n={n}".rjust(9) for n in ns)]
    for impl, mode in dict.fromkeys((r["impl"], r["mode"]) for r in rows):
        cells_ = {r["n"]: r for r in rows if r["impl"] == impl and r["mode"] == mode}
        line = f"{impl} {mode}".ljust(26)
        for n in ns:
            r = cells_.get(n)
            if r is None or "ops_per_s" not in r:
                line += "error".rjust(9)
            else:
                mark = "" if r["ops_per_s"] >= r["target_ops_per_s"] else "*"
                line += f"{r['ops_per_s']:,.0f}{mark}".rjust(9)
        lines.append(line)
    latency = rows[0]["latency_ms"] if rows else 0
    lines.append(f"target 0.8 * n / {latency:g} ms; * = below target")
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], png_name: str | None) -> str:
    """The latency section of docs/benchmarks.md."""
    if not rows:
        return ""
    latency = rows[0]["latency_ms"]
    ns = sorted({r["n"] for r in rows})
    out = [
        f"## Latency and concurrency ({latency:g} ms per C_Sign)",
        "",
        f"The fault shim (`native/faultmod`) sleeps {latency:g} ms before forwarding each `C_Sign` to SoftHSM, "
        "outside SoftHSM's locks, as a network HSM would keep a call waiting. One call at a time gets "
        f"{1000 / latency:,.0f} ops/s whatever the binding; n concurrent calls can get n times that. Target: "
        "0.8 * n / latency. HMAC-SHA256 over 64 bytes; `python -m benchmarks --latency-ms "
        f"{latency:g}`.",
        "",
    ]
    if png_name:
        out += [f"![ops/s against concurrency]({png_name})", ""]
    out.append("| impl / mode | " + " | ".join(f"n={n}" for n in ns) + " |")
    out.append("|---|" + "---:|" * len(ns))
    for impl, mode in dict.fromkeys((r["impl"], r["mode"]) for r in rows):
        cells_ = {r["n"]: r for r in rows if r["impl"] == impl and r["mode"] == mode}
        shown = []
        for n in ns:
            r = cells_.get(n)
            if r is None:
                shown.append("")
            elif "ops_per_s" not in r:
                shown.append(str(r.get("error", "error")))
            else:
                ok = r["ops_per_s"] >= r["target_ops_per_s"]
                shown.append(f"{r['ops_per_s']:,.0f}" + ("" if ok else " (below)"))
        out.append(f"| {impl} {mode} | " + " | ".join(shown) + " |")
    out.append("| target | " + " | ".join(f"{0.8 * n * 1000 / latency:,.0f}" for n in ns) + " |")
    out += [
        "",
        "python-pkcs11 and PyKCS11 ask for the signature's size first (`C_Sign` with a NULL buffer, counted by "
        "the shim: two `C_Sign` per signature), so each of their signatures waits twice; p11 passes a buffer "
        "large enough at once. python-pkcs11 initialises the module without `CKF_OS_LOCKING_OK`, so its threads "
        "can crash SoftHSM; a cell that crashed or hung says so.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    from benchmarks.child import emit

    return emit(lambda: run(argv[0], argv[1], int(argv[2]), float(argv[3])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
