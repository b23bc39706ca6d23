"""The table as a grouped bar chart PNG (matplotlib, an optional part of the ``bench`` extra).

One group of horizontal bars per op, one bar per implementation, ops/s on a log axis (the ops span four
orders of magnitude), each bar labelled with its ratio to the C floor. A failed cell has no bar, only
its reason in grey.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks import spec
from benchmarks.report import Table


class ChartUnavailable(RuntimeError):
    """matplotlib is not installed; the message says how to get it."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartUnavailable(
            "matplotlib is not installed, so no PNG was drawn: pip install 'p11[bench]' (or matplotlib)"
        ) from exc
    return plt


def draw_latency(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """ops/s against n concurrent calls, one line per (impl, mode), with the target line 0.8 * n / latency."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    colours = plt.get_cmap("tab10")
    series = dict.fromkeys((r["impl"], r["mode"]) for r in rows)
    styles = {"sign_many": "-", "threads": "--", "gather": ":"}
    for impl, mode in series:
        points = sorted((r["n"], r["ops_per_s"]) for r in rows
                        if r["impl"] == impl and r["mode"] == mode and "ops_per_s" in r)
        if points:
            ax.plot(*zip(*points, strict=True), styles.get(mode, "-"), marker="o", label=f"{impl} {mode}",
                    color=colours(spec.IMPLS.index(impl) % 10))
    ns = sorted({r["n"] for r in rows})
    latency = rows[0]["latency_ms"]
    ax.plot(ns, [0.8 * n * 1000 / latency for n in ns], color="black", linewidth=0.8, label="target 0.8 n / latency")
    ax.set_xlabel("concurrent calls n")
    ax.set_ylabel("operations per second")
    ax.set_title(f"{title}\n{latency:g} ms injected per C_Sign", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(table: Table, results: list[dict[str, Any]], path: Path, title: str) -> None:
    """Draw the cells of ``table`` (figures from ``results``) to ``path``; failed cells say why in grey."""
    plt = _pyplot()
    by_key = {(r["op"], r["impl"]): r for r in results}
    figures = [float(r["ops_per_s"]) for r in results if "ops_per_s" in r]
    # Bars on a log axis need a common base: the decade below the smallest figure.
    left = 10 ** math.floor(math.log10(min(figures))) if figures else 1.0
    ops, impls = table.ops, table.impls
    bar = 0.8 / max(1, len(impls))
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.2 * len(ops) * len(impls) + 0.3 * len(ops)))
    colours = plt.get_cmap("tab10")
    for j, impl in enumerate(impls):
        ys, xs, labels = [], [], []
        for i, op in enumerate(ops):
            r = by_key.get((op, impl))
            if r is None:
                continue
            y = i + (j - (len(impls) - 1) / 2) * bar
            if "error" in r:
                note = table.cell(op, impl)
                ax.annotate(
                    f"{impl}: {note}",
                    (left, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=7,
                    color="grey",
                )
                continue
            value = float(r["ops_per_s"])
            ys.append(y)
            xs.append(value)
            floor = table.floor(op)
            labels.append("" if impl == spec.C_FLOOR or not floor else f"{value / floor:.2f}x")
        if not xs:
            continue
        colour = colours(spec.IMPLS.index(impl) % 10)  # the same colour for an impl in every chart
        ax.barh(ys, [x - left for x in xs], left=left, height=bar * 0.9, label=impl, color=colour)
        for y, x, text in zip(ys, xs, labels, strict=True):
            if text:
                ax.annotate(text, (x, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(left=left)
    ax.set_yticks(range(len(ops)))
    ax.set_yticklabels(ops)
    ax.invert_yaxis()
    ax.set_xlabel("operations per second (log scale); label = ratio to c-floor")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
