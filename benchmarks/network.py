"""Remote tokens over a network, and a token group failing over: ``python -m benchmarks.network``.

Runs the network lab (:mod:`benchmarks.netlab`: 3 HSM hosts in network namespaces, ``p11-kit server`` over SoftHSM
on each, TCP between them and a client namespace, a delay proxy for the added round trip) and, in the client
namespace, :mod:`benchmarks.network_child`:

* the sweep: ECDSA P-256 signatures per second through a :class:`p11.TokenGroup` of 1, 2 and 3 members against
  the number of calling threads (1-64), at each added round trip (``--delays``, default 0 and 1.5 ms);
* the failover run: 3 members, 16 threads signing and verifying every signature; one member's server is killed,
  left down for ``--down`` seconds and started again: failed operations, signatures that do not verify, seconds
  until the member was taken out and until it served again.

    python -m benchmarks.network --json build/bench/network.json --png docs/network.png \
        --markdown build/bench/network.md

Needs root (network namespaces), socat, p11-kit, SoftHSM (``bash scripts/setup.sh``). Every process and namespace
it starts is stopped at the end, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.netlab import USER_PIN, Lab, leftovers, members_arg
from tests.interop.harness import LineChild

ROOT = Path(__file__).resolve().parent.parent


class Child(LineChild):
    """A client process (:mod:`benchmarks.network_child`) in the lab's client namespace, speaking its line
    protocol (reads time out)."""

    def __init__(self, lab: Lab, argv: list[str]) -> None:
        env = lab.client_env({"P11_NET_PIN": USER_PIN, "PYTHONFAULTHANDLER": "1"})
        super().__init__(lab.client_command([sys.executable, "-m", "benchmarks.network_child", *argv]), env=env,
                         cwd=ROOT, who="client")


def run_sweep(lab: Lab, counts: list[int], concurrency: list[int], seconds: float, rounds: int,
              log: Any = None) -> list[dict[str, Any]]:
    """The sweep's cells in the lab (see the module docstring), each with the lab's ``delay_ms``."""
    argv = ["sweep", members_arg(lab.members), "--counts", ",".join(map(str, counts)),
            "--concurrency", ",".join(map(str, concurrency)), "--seconds", f"{seconds:g}", "--rounds", str(rounds)]
    child = Child(lab, argv)
    cells = []
    try:
        per_cell = seconds * (rounds + 1) + 30
        for _ in range(len(counts) * len(concurrency)):
            cell = json.loads(child.expect("CELL ", 120 + per_cell)[len("CELL "):])
            cell["delay_ms"] = lab.delay_ms
            cells.append(cell)
            if log is not None:
                print(f"  {lab.delay_ms:g} ms  members={cell['members']}  n={cell['n']:>2}  "
                      f"{cell['ops_per_s']:>9,.0f} ops/s", file=log, flush=True)
        if child.proc.wait(60) != 0:
            raise AssertionError(f"the sweep client failed: {child.stderr_tail()}")
    finally:
        child.stop()
    return cells


def run_failover(lab: Lab, *, threads: int = 16, member: int = 2, before: float = 2.0, down: float = 1.0,
                 after: float = 2.0, cycles: int = 1, hang: bool = False,
                 call_timeout: float | None = None) -> dict[str, Any]:
    """The failover run: ``threads`` signing threads on a group of every host; host ``member``'s server killed
    (``hang``: stopped with SIGSTOP, a host that hangs instead of failing) ``before`` s in, started again (SIGCONT)
    ``down`` s later (``cycles`` times), the run ending ``after`` s after it serves again. The child's facts, with
    ``recovered`` (s from each restart until the member served again)."""
    argv = ["failover", members_arg(lab.members), "--threads", str(threads)]
    if call_timeout is not None:
        argv += ["--call-timeout", f"{call_timeout:g}"]
    child = Child(lab, argv)
    try:
        child.expect("READY", 120)
        for _ in range(cycles):
            time.sleep(before)
            child.send(f"KILL {member}")
            if hang:
                lab.pause_server(member)
            else:
                lab.kill_server(member)
            time.sleep(down)
            if hang:
                lab.resume_server(member)
            else:
                lab.start_server(member)
            child.send(f"RESTARTED {member}")
            child.expect("RECOVERED", 90)
        time.sleep(after)
        child.send("DONE")
        facts: dict[str, Any] = json.loads(child.expect("FACTS ", 60)[len("FACTS "):])
        if child.proc.wait(30) != 0:
            raise AssertionError(f"the failover client failed: {child.stderr_tail()}")
    finally:
        child.stop()
    facts.update(delay_ms=lab.delay_ms, threads=threads, member=member, down_s=down, cycles=cycles, hang=hang)
    return facts


def merge_passes(passes: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One cell per (members, n) of several sweeps: the median of their figures, each pass's figure kept."""
    merged = []
    for cells in zip(*passes, strict=True):
        figures = sorted(c["ops_per_s"] for c in cells)
        middle = len(figures) // 2
        median = figures[middle] if len(figures) % 2 else (figures[middle - 1] + figures[middle]) / 2
        merged.append({**cells[0], "ops_per_s": round(median, 1), "passes": [c["ops_per_s"] for c in cells],
                       "calls": None})
    return merged


# -- the report ---------------------------------------------------------------------------------------------------


def markdown(cells: list[dict[str, Any]], failovers: list[dict[str, Any]], command: str) -> str:
    """The figures as markdown tables (for docs/network.md)."""
    out = [f"Command: `{command}`", ""]
    ns = sorted({c["n"] for c in cells})
    out.append("| added round trip | members | " + " | ".join(f"n={n}" for n in ns) + " |")
    out.append("|---|---:|" + "---:|" * len(ns))
    for delay in sorted({c["delay_ms"] for c in cells}):
        for count in sorted({c["members"] for c in cells}):
            row = {c["n"]: c for c in cells if c["delay_ms"] == delay and c["members"] == count}
            shown = [f"{row[n]['ops_per_s']:,.0f}" if n in row else "" for n in ns]
            out.append(f"| {delay:g} ms | {count} | " + " | ".join(shown) + " |")
    if failovers:
        out += ["", "| added round trip | threads | server down (s) | signatures | failed | not verifying | "
                "out after kill (s) | serving again after restart (s) | slowest call (s) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for f in failovers:
            recovered = ", ".join(f"{r:.2f}" for r in f["recovered"])
            out_after = ", ".join("—" if o is None else f"{o:.3f}" for o in f["out_after_kill"])
            out.append(f"| {f['delay_ms']:g} ms | {f['threads']} | {f['down_s']:g} | {f['ok']:,} | {f['failed']} | "
                       f"{f['bad']} | {out_after} | {recovered} | {f['slowest']:.2f} |")
    return "\n".join(out) + "\n"


def draw(cells: list[dict[str, Any]], path: Path) -> None:
    """ops/s against threads, one line per (members, added round trip), log x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    colours = {1: "tab:blue", 2: "tab:orange", 3: "tab:green"}
    styles = ["-", "--", ":", "-."]
    delays = sorted({c["delay_ms"] for c in cells})
    for d_index, delay in enumerate(delays):
        for count in sorted({c["members"] for c in cells}):
            points = sorted((c["n"], c["ops_per_s"]) for c in cells if c["delay_ms"] == delay and c["members"] == count)
            if points:
                ax.plot(*zip(*points, strict=True), styles[d_index % len(styles)], marker="o",
                        color=colours.get(count, "black"), label=f"{count} member{'s' if count > 1 else ''}, "
                        f"+{delay:g} ms round trip")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("threads calling key.sign (concurrency)")
    ax.set_ylabel("ECDSA P-256 signatures per second")
    ax.set_title("p11.TokenGroup over p11-kit server on 3 network namespaces (TCP, socat)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="0,1.5", help="added round trips in ms (comma-separated)")
    parser.add_argument("--counts", default="1,2,3", help="member counts")
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64")
    parser.add_argument("--seconds", type=float, default=1.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--passes", type=int, default=3,
                        help="sweeps per added round trip; a cell's figure is the median of its passes (the "
                             "machine's other load comes and goes over minutes: passes spread a cell over them)")
    parser.add_argument("--failover-delays", default="0,1.5", help="added round trips of the failover runs")
    parser.add_argument("--down", type=float, default=2.0, help="seconds the killed server stays down")
    parser.add_argument("--cycles", type=int, default=3, help="kill/restart cycles per failover run")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    command = "python -m benchmarks.network " + " ".join(argv)
    cells: list[dict[str, Any]] = []
    failovers: list[dict[str, Any]] = []
    delays = [float(d) for d in args.delays.split(",") if d]
    failover_delays = [float(d) for d in args.failover_delays.split(",") if d]
    for delay in dict.fromkeys(delays + failover_delays):
        lab = Lab(3, delay_ms=delay)
        try:
            lab.start()
            print(f"lab {lab.tag}: 3 hosts, +{delay:g} ms round trip", file=sys.stderr, flush=True)
            if delay in delays:
                passes = [run_sweep(lab, [int(c) for c in args.counts.split(",")],
                                    [int(n) for n in args.concurrency.split(",")], args.seconds, args.rounds,
                                    log=sys.stderr) for _ in range(args.passes)]
                cells += merge_passes(passes)
            if delay in failover_delays:
                facts = run_failover(lab, threads=16, member=2, down=args.down, cycles=args.cycles)
                failovers.append(facts)
                print(f"  failover: {json.dumps(facts)}", file=sys.stderr, flush=True)
        finally:
            lab.stop()
            left = leftovers(lab.tag, lab.directory)
            if left:
                print(f"lab {lab.tag} left: {left}", file=sys.stderr)
    result = {"command": command, "cells": cells, "failover": failovers}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(cells, failovers, command)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    if args.png and cells:
        draw(cells, args.png)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
