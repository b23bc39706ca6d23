"""The results as a table (rows = ops, columns = impls, each figure with its ratio to the C floor): plain text
for the terminal and Markdown for ``docs/benchmarks.md``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks import spec

Result = dict[str, Any]
NOT_MEASURED = "—"
# Errors short enough to be the cell itself; anything else becomes "error [n]" with a footnote.
SHORT_ERRORS = ("not implemented", "crashed: ", "timeout after ")


def _ops_per_s(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


class Table:
    """The cells of one run, addressed by (op, impl), and the footnotes its errors need."""

    def __init__(self, results: Sequence[Result], ops: Sequence[str], impls: Sequence[str]) -> None:
        self.ops = [op for op in ops if any(r["op"] == op for r in results)]
        self.impls = [impl for impl in impls if any(r["impl"] == impl for r in results)]
        self._by_key = {(r["op"], r["impl"]): r for r in results}
        self.footnotes: list[str] = []
        self._cells: dict[tuple[str, str], str] = {}
        for op in self.ops:
            for impl in self.impls:
                self._cells[op, impl] = self._cell(op, impl)

    def floor(self, op: str) -> float | None:
        r = self._by_key.get((op, spec.C_FLOOR))
        return r.get("ops_per_s") if r else None

    def _cell(self, op: str, impl: str) -> str:
        r = self._by_key.get((op, impl))
        if r is None:
            return NOT_MEASURED
        if "error" in r:
            error = str(r["error"])
            short = next((e for e in SHORT_ERRORS if error.startswith(e)), None)
            if short == "not implemented":
                return "not implemented"
            if short is not None and len(error) <= 28:
                return error
            self.footnotes.append(f"{impl} / {op}: {error}")
            return f"error [{len(self.footnotes)}]"
        value = float(r["ops_per_s"])
        floor = self.floor(op)
        if impl == spec.C_FLOOR or not floor:
            return _ops_per_s(value)
        return f"{_ops_per_s(value)} ({value / floor:.2f}x)"

    def cell(self, op: str, impl: str) -> str:
        return self._cells[op, impl]

    def text(self) -> str:
        header = ["op (ops/s)", *self.impls]
        rows = [[op, *(self.cell(op, impl) for impl in self.impls)] for op in self.ops]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

        def line(row: list[str]) -> str:
            first = row[0].ljust(widths[0])
            return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

        out = [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
        out.append("")
        out.append("(x) = ratio to c-floor for the same op; — = not measured for that implementation")
        out.extend(f"[{i}] {note}" for i, note in enumerate(self.footnotes, 1))
        return "\n".join(out)

    def markdown(self) -> str:
        out = ["| op (ops/s) | " + " | ".join(self.impls) + " |", "|---|" + "---:|" * len(self.impls)]
        for op in self.ops:
            out.append(f"| `{op}` | " + " | ".join(self.cell(op, impl) for impl in self.impls) + " |")
        if self.footnotes:
            out.append("")
            out.extend(f"{i}. {note}" for i, note in enumerate(self.footnotes, 1))
        return "\n".join(out)


def _figure(data: dict[str, Any], op: str, impl: str) -> float | None:
    for r in data.get("results", []):
        if r["op"] == op and r["impl"] == impl and "ops_per_s" in r:
            return float(r["ops_per_s"])
    return None


def scaling_rows(data: dict[str, Any]) -> list[tuple[str, str, float | None, float | None, float | None]]:
    """(op, impl, one thread, two threads, two processes) for every op measured in two processes."""
    rows = []
    for r in data.get("processes", []):
        op, impl = r["op"], r["impl"]
        rows.append((op, impl, _figure(data, op, impl), _figure(data, f"{op}_2thr", impl), r.get("ops_per_s")))
    return rows


def _scaled(value: float | None, base: float | None) -> str:
    if value is None:
        return NOT_MEASURED
    return f"{_ops_per_s(value)} ({value / base:.2f}x)" if base else _ops_per_s(value)


def scaling_text(data: dict[str, Any]) -> str:
    """The threads-versus-processes table for the terminal (ratios to the one-thread figure)."""
    out = ["op / impl (ops/s)                 1 thread           2 threads         2 processes"]
    for op, impl, one, two_threads, two_processes in scaling_rows(data):
        out.append(
            f"{op + ' / ' + impl:<28} {_scaled(one, None):>12} {_scaled(two_threads, one):>19} "
            f"{_scaled(two_processes, one):>19}"
        )
    return "\n".join(out)


def _scaling_markdown(data: dict[str, Any]) -> list[str]:
    rows = scaling_rows(data)
    lines = [
        "## Threads and processes",
        "",
        "SoftHSM serialises the work of one process: its sessions, objects and crypto calls go through locks",
        "held for most of each call, so a second thread in the same process adds little or nothing (here the C",
        "floor itself gets no faster with two threads, and can get slower as the threads contend). Two",
        "*processes* each load their own copy of the module, with their own locks, and do run in parallel.",
    ]
    if not rows:
        lines += ["", "(Run with `--processes` to measure two processes side by side.)", ""]
        return lines
    lines += [
        "",
        "The same op in one thread, in two threads of one process (the `_2thr` rows above) and in two processes",
        "at once (their total), with the ratio to one thread:",
        "",
        "| op | impl | 1 thread | 2 threads | 2 processes |",
        "|---|---|---:|---:|---:|",
    ]
    for op, impl, one, two_threads, two_processes in rows:
        lines.append(
            f"| `{op}` | {impl} | {_scaled(one, None)} | {_scaled(two_threads, one)} | {_scaled(two_processes, one)} |"
        )
    lines += [
        "",
        "What this means for users who need more throughput from a SoftHSM token: threads, `workers=N` and",
        "asyncio keep p11 from blocking the rest of the program (the GIL is released during every call) but do",
        "not make SoftHSM compute faster; batches (`sign_many`) trim the per-call overhead; and the way to more",
        "signatures per second is more processes (a pre-forking server, `multiprocessing`, several workers), each",
        "loading the module and keeping its own session pool, up to the number of cores. Tokens that do work on",
        "sessions in parallel (network HSMs, cards with several engines) are where `workers=N` and threads pay.",
        "",
    ]
    return lines


def _latency_markdown(data: dict[str, Any], png_name: str | None) -> list[str]:
    """The latency section (``--latency-ms``), its chart beside the main one (``NAME-latency.png``)."""
    from benchmarks import latency

    rows = data.get("latency")
    if not rows:
        return []
    chart_name = None
    if png_name:
        stem, dot, suffix = png_name.rpartition(".")
        chart_name = f"{stem}-latency.{suffix}" if dot else f"{png_name}-latency"
    return latency.markdown(rows, chart_name).splitlines()


def markdown_page(data: dict[str, Any], table: Table, png_name: str | None, command: str) -> str:
    """The whole ``docs/benchmarks.md``: how to run, what each op is, machine, versions, the figures."""
    machine, versions = data["machine"], data["versions"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks` (see `benchmarks/`). Every figure is operations per second",
        "against one throwaway SoftHSM2 token, and in brackets its ratio to the C floor: a C program calling",
        "the module's function list directly in a tight loop, the fastest any binding could be. Each",
        "(implementation, op) pair runs in its own process, warms up, then counts calls for a fixed wall",
        "time in several rounds; the figure is the median round. SoftHSM does the cryptography in every",
        "column, so a ratio near 1 means the binding adds little on top of it.",
        "",
        f"Command: `{command}`",
        "",
        "## Results",
        "",
        table.markdown(),
        "",
    ]
    if png_name:
        lines += [f"![ops/s per implementation, log scale]({png_name})", ""]
    lines += [
        "## Implementations",
        "",
        "- `c-floor`: `benchmarks/floor.c`, direct calls through `CK_FUNCTION_LIST`, one call per op.",
        "- `p11`: this project, one call per op, as a user writes it: `token.login(pin)`, keys from",
        "  `token.get_key(...)` (bound to the token's session pool, usable from any thread),",
        "  `key.sign(data, mechanism)`, `key.encrypt(data, GCM(...))`, `key.get_attributes([...])`; on an",
        "  explicit session: `session.get_key(label=...)` (find_by_label), `session.generate_random(32)`; and",
        "  `with token.open(): pass`. The `_2thr` rows are two Python threads calling `key.sign` on one key.",
        f"- `p11-batch`: `key.sign_many(msgs, mechanism)`, {spec.BATCH_SIZE} messages a call.",
        "- `p11-batch-2`: `key.sign_many(msgs, mechanism, workers=2)` (p11 runs the two threads).",
        "- `python-pkcs11`: PyPI `python-pkcs11`, idiomatic API (`get_token`, `open`, `get_key`, `sign`).",
        "- `pykcs11`: PyPI `PyKCS11`, idiomatic API (`openSession`, `login`, `findObjects`, `sign`); "
        "outputs converted with `bytes()` as its docs advise.",
        "",
        "## Ops",
        "",
        *(f"- `{op.name}`: {op.what}" for op in spec.OPS),
        "",
        "`_2thr` ops run two threads, each with its own session; the figure is both threads together. "
        "SoftHSM serialises much of its work internally, so two threads do not double the rate (see below).",
        "",
        *_scaling_markdown(data),
        *_latency_markdown(data, png_name),
        "## Notes",
        "",
        "- python-pkcs11 calls `C_Initialize(NULL)`, which tells SoftHSM the application does not use",
        "  threads, so SoftHSM runs without locks and two threads crash it (`crashed: SIGSEGV` or a",
        "  `GeneralError`, varying from run to run). The C floor crashes the same way when built to pass",
        "  NULL; it passes `CKF_OS_LOCKING_OK`, as any multi-threaded caller must.",
        "- PyKCS11 returns `ckbytelist` (a SWIG vector); its documented conversion, `bytes(...)`, walks the",
        "  vector one element at a time, which is most of its cost for the 1 KiB GCM ciphertext.",
        "- Figures from a shared or virtual machine move by a few percent between runs; compare ratios",
        "  within one run rather than figures across runs.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine.items()),
        "",
        "## Versions",
        "",
        *(f"- {k}: {v}" for k, v in versions.items()),
        "",
    ]
    return "\n".join(lines)
