"""python -m benchmarks --json FILE [--quick] [--impl NAME ...] [--op NAME ...] [--png FILE] [--markdown FILE]
[--processes] [--latency-ms N]

Sets up one throwaway SoftHSM token, then measures every selected (impl, op) pair in its own child process
with a timeout, so a binding that crashes or hangs costs one cell (``"error": "crashed: SIGSEGV"``,
``"timeout after 60 s"``), not the run. Writes ``{"machine", "versions", "settings", "results"}`` as JSON,
prints the table with each figure's ratio to the C floor, and optionally draws it as a PNG and writes the
Markdown page.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import chart, floor, latency, machine, report, spec
from benchmarks.harness import Target
from benchmarks.impls import binding_class
from benchmarks.setup_token import SetupError, bench_token

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Measuring time per cell: ``seconds`` of wall time split into ``rounds``; the figure is the median."""

    seconds: float
    rounds: int
    timeout: float


# Ops measured again in two processes at once with --processes (the single-thread op in each process).
PROCESS_OPS = ("ecdsa_p256_sign", "hmac_sha256_sign")
PROCESS_IMPLS = (spec.C_FLOOR, "p11")

QUICK = Settings(seconds=0.3, rounds=3, timeout=60)
NORMAL = Settings(seconds=2.0, rounds=5, timeout=60)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument("--json", required=True, type=Path, metavar="FILE", help="where to write the results")
    parser.add_argument("--quick", action="store_true", help="~0.3 s per cell instead of ~2 s")
    parser.add_argument(
        "--impl",
        action="append",
        choices=spec.IMPLS,
        metavar="NAME",
        help=f"only these implementations (repeatable): {', '.join(spec.IMPLS)}",
    )
    parser.add_argument(
        "--op",
        action="append",
        choices=list(spec.OPS_BY_NAME),
        metavar="NAME",
        help=f"only these ops (repeatable): {', '.join(spec.OPS_BY_NAME)}",
    )
    parser.add_argument("--png", type=Path, metavar="FILE", help="draw the table as a bar chart (needs matplotlib)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the results page (docs/benchmarks.md)")
    parser.add_argument("--timeout", type=float, metavar="S", help="per-cell time limit in seconds (default 60)")
    parser.add_argument(
        "--processes",
        action="store_true",
        help=f"also run {', '.join(PROCESS_OPS)} in two processes at once (c-floor and p11): SoftHSM serialises "
        "the threads of one process, not separate processes",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        metavar="N",
        help="also measure 1..8 concurrent signers with N ms injected into every C_Sign by the fault shim "
        "(sign_many workers, threads, asyncio.gather; python-pkcs11 and PyKCS11 with threads): see "
        "benchmarks/latency.py",
    )
    return parser.parse_args(argv)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


def _floor_rounds(stderr: str) -> dict[str, list[float]]:
    """The per-round figures the C floor prints on stderr as ``rounds: a b c``."""
    for line in stderr.splitlines():
        if line.startswith("rounds:"):
            try:
                return {"rounds": [float(x) for x in line.split()[1:]]}
            except ValueError:
                break
    return {}


def run_cell(
    argv: list[str], env: dict[str, str], timeout: float, secrets: tuple[str, ...], parse: str
) -> dict[str, Any]:
    """Run one measurement process; its figure, or an error saying how it failed.

    ``parse`` is "json" for the Python child (one JSON line) or "number" for the C floor (ops/s alone).
    """
    try:
        proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:g} s"}
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return {"error": f"crashed: {name}"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        try:
            if parse == "number":
                return {"ops_per_s": float(lines[-1]), **_floor_rounds(proc.stderr)}
            result: dict[str, Any] = json.loads(lines[-1])
            if "error" in result:
                result["error"] = _redact(str(result["error"]), secrets)
            return result
        except ValueError:
            pass
    last = (proc.stderr.strip().splitlines() or lines or ["no output"])[-1]
    return {"error": _redact(f"exit status {proc.returncode}: {last}", secrets)}


def plan(ops: list[str], impls: list[str]) -> list[tuple[str, str]]:
    """The (op, impl) cells to measure, in table order; an impl that does not offer an op is skipped."""
    offered = {impl: binding_class(impl).OPS for impl in impls if impl != spec.C_FLOOR}
    return [(op, impl) for op in ops for impl in impls if impl == spec.C_FLOOR or op in offered[impl]]


def run_together(
    argvs: list[list[str]], env: dict[str, str], timeout: float, secrets: tuple[str, ...], parse: str
) -> dict[str, Any]:
    """Run the same measurement in several processes at the same time; their total, or the first error."""
    procs = [
        subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    figures: list[float] = []
    error: str | None = None
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            error = error or f"timeout after {timeout:g} s"
            continue
        lines = out.strip().splitlines()
        try:
            if proc.returncode != 0 or not lines:
                raise ValueError
            if parse == "number":
                figures.append(float(lines[-1]))
            else:
                result = json.loads(lines[-1])
                if "error" in result:
                    error = error or _redact(str(result["error"]), secrets)
                    continue
                figures.append(float(result["ops_per_s"]))
        except ValueError:
            last = (err.strip().splitlines() or lines or ["no output"])[-1]
            error = error or _redact(f"exit status {proc.returncode}: {last}", secrets)
    if error is not None:
        return {"error": error}
    return {"ops_per_s": sum(figures), "per_process": figures}


def measure_processes(ops: list[str], impls: list[str], settings: Settings, log: Any) -> list[dict[str, Any]]:
    """The PROCESS_OPS in two processes at once, for the C floor and p11 (on a token of their own, set up as the
    main run's is)."""
    wanted = [(op, impl) for op in PROCESS_OPS if op in ops for impl in PROCESS_IMPLS if impl in impls]
    if not wanted:
        return []
    floor_binary: Path | None = None
    if any(impl == spec.C_FLOOR for _, impl in wanted):
        try:
            floor_binary = floor.build()
        except floor.FloorBuildError:
            wanted = [(op, impl) for op, impl in wanted if impl != spec.C_FLOOR]
    out: list[dict[str, Any]] = []
    with bench_token() as store:
        target = Target(store.module_path, store.label, store.user_pin)
        env = {**store.env, **target.as_env()}
        secrets = (store.user_pin, store.so_pin)
        for op, impl in wanted:
            assert impl != spec.C_FLOOR or floor_binary is not None
            argv, parse = cell_command(impl, op, settings, target, floor_binary)
            outcome = run_together([argv, argv], env, settings.timeout, secrets, parse=parse)
            if "error" in outcome:
                # SoftHSM's file store now and then fails one of two processes that start at the same instant
                # (CKR_GENERAL_ERROR from C_GetTokenInfo): one more try before recording the error.
                outcome = run_together([argv, argv], env, settings.timeout, secrets, parse=parse)
            out.append({"op": op, "impl": impl, "processes": 2, **outcome})
            shown = f"{outcome['ops_per_s']:>12,.0f} ops/s" if "ops_per_s" in outcome else outcome["error"]
            print(f"  {op:<22} {impl:<14} 2 processes {shown}", file=log, flush=True)
    return out


def cell_command(
    impl: str, op: str, settings: Settings, target: Target, floor_binary: Path | None
) -> tuple[list[str], str]:
    """The command that measures one (impl, op) cell, and how to read its output ("number" or "json")."""
    if impl == spec.C_FLOOR:
        assert floor_binary is not None
        return floor.command(floor_binary, target, op, settings.seconds, settings.rounds), "number"
    child = [sys.executable, "-m", "benchmarks.child", impl, op, f"{settings.seconds:g}", str(settings.rounds)]
    return child, "json"


def measure_all(cells: list[tuple[str, str]], settings: Settings, log: Any) -> list[dict[str, Any]]:
    floor_binary: Path | None = None
    floor_error: str | None = None
    if any(impl == spec.C_FLOOR for _, impl in cells):
        try:
            floor_binary = floor.build()
        except floor.FloorBuildError as exc:
            floor_error = str(exc)
            print(f"c-floor: {floor_error}", file=log)

    results: list[dict[str, Any]] = []
    with bench_token() as store:
        target = Target(store.module_path, store.label, store.user_pin)
        env = {
            **store.env,
            **target.as_env(),
        }  # children run with cwd=ROOT, so `-m benchmarks.child` resolves
        secrets = (store.user_pin, store.so_pin)
        for op, impl in cells:
            started = time.monotonic()
            if impl == spec.C_FLOOR and floor_binary is None:
                outcome: dict[str, Any] = {"error": f"not built: {floor_error}"}
            else:
                argv, parse = cell_command(impl, op, settings, target, floor_binary)
                outcome = run_cell(argv, env, settings.timeout, secrets, parse=parse)
            results.append({"op": op, "impl": impl, **outcome})
            shown = f"{outcome['ops_per_s']:>12,.0f} ops/s" if "ops_per_s" in outcome else outcome["error"]
            print(f"  {op:<22} {impl:<14} {shown}  [{time.monotonic() - started:.1f} s]", file=log, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    base = QUICK if args.quick else NORMAL
    settings = Settings(base.seconds, base.rounds, args.timeout or base.timeout)
    impls = [i for i in spec.IMPLS if args.impl is None or i in args.impl]
    ops = [op.name for op in spec.OPS if args.op is None or op.name in args.op]
    log = sys.stderr

    try:
        cc = floor.compiler()
    except floor.FloorBuildError:
        cc = "cc"
    data: dict[str, Any] = {
        "machine": machine.machine_info(),
        "versions": machine.versions(cc),
        "settings": {
            "seconds": settings.seconds,
            "rounds": settings.rounds,
            "timeout": settings.timeout,
            "quick": args.quick,
            "batch_size": spec.BATCH_SIZE,
        },
    }
    cells = plan(ops, impls)
    print(f"measuring {len(cells)} cells, {settings.seconds:g} s each ({settings.rounds} rounds)", file=log)
    started = time.monotonic()
    try:
        data["results"] = measure_all(cells, settings, log)
        if args.processes:
            data["processes"] = measure_processes(ops, impls, settings, log)
        if args.latency_ms:
            data["latency"] = latency.measure_latency(
                impls, args.latency_ms, settings.seconds, min(settings.timeout, 30.0), log
            )
    except SetupError as exc:
        print(f"error: could not set up the benchmark token: {exc}", file=sys.stderr)
        return 1
    print(f"done in {time.monotonic() - started:.0f} s", file=log)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    table = report.Table(data["results"], ops, impls)
    print()
    print(table.text())
    if data.get("processes"):
        print()
        print(report.scaling_text(data))
    if data.get("latency"):
        print()
        print(latency.text(data["latency"]))

    if args.png:
        m, v = data["machine"], data["versions"]
        title = f"p11 benchmarks: {m['cpu']}, {m['cores']} cores, SoftHSM {v['SoftHSM']}, {m['python']}"
        try:
            chart.draw(table, data["results"], args.png, title)
            print(f"\nchart: {args.png}")
            if data.get("latency"):
                latency_png = args.png.with_name(args.png.stem + "-latency" + args.png.suffix)
                chart.draw_latency(data["latency"], latency_png, title)
                print(f"chart: {latency_png}")
        except chart.ChartUnavailable as exc:
            print(f"\n{exc}", file=sys.stderr)
            args.png = None
    if args.markdown:
        png_name = os.path.relpath(args.png, args.markdown.parent) if args.png else None
        command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report.markdown_page(data, table, png_name, command), encoding="utf-8")
        print(f"markdown: {args.markdown}")
    return 0
