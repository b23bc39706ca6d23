"""``bench``: how many operations per second the selected token does, and in which way of calling p11 it does the
most, so a user with a real HSM learns which mode to use (see :mod:`p11.cli.benchwork` for the operations and
modes). Time-based: a budget per operation, a warm-up, rounds, the median (:mod:`p11.throughput`, the rule
``python -m benchmarks`` uses)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress

from p11 import Token
from p11.cli.app import cli
from p11.cli.benchwork import (
    KEY_OPERATION,
    MODES,
    OPERATIONS,
    BenchError,
    Subject,
    group_subject,
    has_group_form,
    has_mode,
    measure_processes,
    subject_for,
    temporary_group_key,
    temporary_key,
    workloads,
)
from p11.cli.command import Seconds, p11_command
from p11.cli.errors import USAGE, CliError, describe
from p11.cli.output import emit, is_terminal, print_line, print_table
from p11.cli.select import Selection
from p11.errors import P11Error
from p11.group import TokenGroup
from p11.opener import object_template, uri_for_object
from p11.throughput import Round, measure_rounds, median
from p11.uri import URI

__all__: list[str] = []

_MAX_CONCURRENCY = 128


def _split(text: str | None, known: tuple[str, ...] | list[str], option: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip())) if text else []
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CliError(f"{option}: unknown {unknown[0]!r}; use {', '.join(known)}", USAGE)
    return names


def _iterations_gone(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    if value is not None:
        raise click.UsageError("--iterations is gone: p11 bench measures for a time per operation (--seconds, "
                               "default 1), after a warm-up, and reports the median of --rounds; -n is now "
                               "--concurrency", ctx)


@p11_command(cli, "bench",
             example="P11_PIN=1234 p11 bench --token my-token\n"
                     "P11_PIN=1234 p11 bench --group 'pkcs11:token=hsm-a' --group 'pkcs11:token=hsm-b' -n 16\n"
                     "P11_PIN=1234 p11 bench --token my-token --only ecdsa-p256-sign --mode single,workers,async -n 4\n"
                     "P11_PIN=1234 p11 bench --key 'pkcs11:token=my-token;object=device-key;type=private' --json")
@click.option("--only", metavar="LIST", help=f"Some of: {', '.join(OPERATIONS)}.")
@click.option("--mode", "modes", default="single", show_default=True, metavar="LIST",
              help=f"How p11 is called, one or more of: {', '.join(MODES)} (docs/cli.md says what each is).")
@click.option("--concurrency", "-n", type=click.IntRange(1, _MAX_CONCURRENCY), default=1, show_default=True,
              help="Threads (single, many), native workers (workers), sessions in flight (async) or processes.")
@click.option("--key", "key_uri", metavar="URI",
              help="Measure an existing key (its default mechanism, or --mechanism) instead of the built-in keys.")
@click.option("--mechanism", "-m", metavar="NAME", help="Mechanism for --key (ECDSA, SHA256_RSA_PKCS, pss …).")
@click.option("--seconds", type=Seconds(0.05, 600), default=1.0, show_default=True,
              help="Measuring time per operation and mode (after a warm-up of an eighth of it).")
@click.option("--rounds", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Rounds the time is split into; the figure is the median round.")
@click.option("--group", "group_uris", multiple=True, metavar="URI",
              help="Measure a p11.TokenGroup instead of one token: one --group URI per member token (its module "
                   "from the URI's module-path or --module); the run's keys are made on every member, or --key "
                   "names a key they all hold.")
@click.option("--iterations", type=int, hidden=True, expose_value=False, callback=_iterations_gone)
def bench(selection: Selection, only: str | None, modes: str, concurrency: int, key_uri: str | None,
          mechanism: str | None, seconds: float, rounds: int, group_uris: tuple[str, ...]) -> None:
    """Operations per second on the selected token, in the ways a program calls p11 (single calls from N threads,
    sign_many batches, native workers, asyncio, N processes). Built-in operations use keys made on the token for
    the run (labelled p11-bench-…) and removed afterwards; --key measures a key already there."""
    mode_names = _split(modes, MODES, "--mode") or ["single"]
    if key_uri is not None:
        if only:
            raise CliError("--only is for the built-in operations; --key measures that key", USAGE)
        operations = [KEY_OPERATION]
    else:
        if mechanism:
            raise CliError("--mechanism is for --key (the built-in operations have theirs)", USAGE)
        operations = _split(only, list(OPERATIONS), "--only") or list(OPERATIONS)
    if group_uris:
        if selection.uri_text or selection.token_label or selection.serial or selection.slot is not None:
            raise CliError("--group names the member tokens: leave out --uri, --token, --serial and --slot", USAGE)
        if "processes" in mode_names:
            raise CliError("a group is measured in one process: use --mode single, many, workers or async", USAGE)
        for op in [op for op in operations if not has_group_form(op)]:
            click.echo(f"p11: {op} uses no key, so it has no group form: not measured", err=True)
        operations = [op for op in operations if has_group_form(op)]
    plan = [(op, mode) for op in operations for mode in mode_names
            if (op == KEY_OPERATION or has_mode(op, mode)) and (not group_uris or has_group_form(op, mode))]
    skipped = [(op, mode) for op in operations for mode in mode_names if (op, mode) not in plan]
    if not plan:
        raise CliError(f"{', '.join(operations)} has no form for --mode {modes} (no batch or asyncio form): use "
                       "--mode single or processes", USAGE)
    for op, mode in skipped:
        click.echo(f"p11: {op} has no {mode} form (no batch or asyncio call): not measured in that mode", err=True)
    extra: dict[str, Any] = {}
    if group_uris:
        members, results = _run_group(selection, list(group_uris), plan, concurrency, key_uri, mechanism, seconds,
                                      rounds)
        token_uri = f"a group of {len(members)}: " + ", ".join(m["token"] for m in members)
        extra = {"group": members}
    else:
        token_uri, results = _run(selection, plan, concurrency, key_uri, mechanism, seconds, rounds)

    def show(console: Console) -> None:
        title = (f"p11 bench on {token_uri}: {seconds:g} s per measurement after a warm-up, median of {rounds} "
                 f"round{'s' if rounds > 1 else ''}")
        grouped = ",.1f" if is_terminal(console.file) else ".1f"  # thousands separators for people, not for awk
        print_table(console, title, ("operation", "mode", "n", "ops/s", "iterations", "seconds", "mechanism"),
                    ((r["operation"], r["mode"], r["concurrency"], format(r["ops_per_second"], grouped),
                      r["iterations"], f"{r['seconds']:.3f}", r["mechanism"] or "") for r in results))
        for line in _fastest(results):
            print_line(console, line)

        for member in extra.get("group", []):
            print_line(console, f"{member['token']}: {member['calls']} calls, {member['outages']} outages, "
                                f"{member['state']}")

    emit(selection.json, {"token": token_uri, "results": results, **extra}, show)


def _run(selection: Selection, plan: list[tuple[str, str]], concurrency: int, key_uri: str | None,
         mechanism: str | None, seconds: float, rounds: int) -> tuple[str, list[dict[str, Any]]]:
    """Measure each (operation, mode) of ``plan``: the token's URI and a result row each."""
    if key_uri is not None:
        selection.uri_text = key_uri
        if not selection.has_object():
            raise CliError(f"--key {key_uri!r} names no object: add object=, id= or type= to the URI", USAGE)
    token, pin = selection.token_and_pin()
    assert pin is not None
    chosen: URI | None = None
    if key_uri is not None:
        with token.open(user_pin=pin) as session:
            obj = selection.object(session, prefer=("private", "secret-key"))
            chosen = uri_for_object(obj)
    token.login(pin, max_size=concurrency)  # the pool every mode runs on: at most n sessions (async's bound)
    results: list[dict[str, Any]] = []
    progress_bar = Progress(console=Console(stderr=True), transient=True,
                            disable=selection.json or not is_terminal(sys.stderr))
    with progress_bar as progress:
        task = progress.add_task("benchmarking", total=len(plan))
        for op in dict.fromkeys(op for op, _ in plan):
            with contextlib.ExitStack() as stack:
                try:
                    uri = chosen if op == KEY_OPERATION else stack.enter_context(temporary_key(token, op))
                    subject = subject_for(token, op, uri, mechanism)
                except BenchError as exc:
                    raise CliError(str(exc)) from None
                for mode in (mode for each, mode in plan if each == op):
                    progress.update(task, description=f"{op} ({mode}, n={concurrency})")
                    measured = _measure(token, pin, op, uri, mechanism, subject, mode, concurrency, seconds, rounds)
                    results.append(_result(op, mode, concurrency, subject.mechanism, measured,
                                           str(chosen) if chosen is not None else None))
                    progress.advance(task)
    return str(token.uri), results


def _run_group(selection: Selection, uris: list[str], plan: list[tuple[str, str]], concurrency: int,
               key_uri: str | None, mechanism: str | None, seconds: float,
               rounds: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Measure each (operation, mode) of ``plan`` on a group of the tokens ``uris`` name: each member's state and
    calls, and a result row each."""
    tokens = []
    for text in uris:
        member = Selection(uri_text=text, module=selection.module, module_name=selection.module_name)
        tokens.append(member.token())
    pin = selection.pin()
    results: list[dict[str, Any]] = []
    with TokenGroup(tokens) as group:
        try:
            group.login(pin, keep_pin=True, max_size=concurrency)
            for op in dict.fromkeys(op for op, _ in plan):
                with contextlib.ExitStack() as stack:
                    if op == KEY_OPERATION:
                        assert key_uri is not None
                        key = group.get_key(template=object_template(URI.parse(key_uri)))
                    else:
                        key = group.get_key(**stack.enter_context(temporary_group_key(tokens, op, pin)))
                    subject = group_subject(key, op, mechanism)
                    for mode in (mode for each, mode in plan if each == op):
                        works = workloads(subject, mode, concurrency, op)
                        try:
                            measured = measure_rounds(works, seconds, rounds)
                        finally:
                            for work in works:
                                work.close()
                        row = _result(op, mode, concurrency, subject.mechanism, measured, key_uri)
                        row["members"] = len(tokens)
                        results.append(row)
        except BenchError as exc:
            raise CliError(str(exc)) from None
        except P11Error as exc:
            raise CliError(f"the group cannot be measured: {describe(exc)[0]}") from exc
        members = [{"token": str(m.token.uri), "calls": m.calls, "outages": m.outages, "state": m.state}
                   for m in group.members]
    return members, results


def _measure(token: Token, pin: str | bytes, op: str, uri: URI | None, mechanism: str | None, subject: Subject,
             mode: str, concurrency: int, seconds: float, rounds: int) -> list[Round]:
    try:
        if mode == "processes":
            return measure_processes(token, pin, op, uri, mechanism, concurrency, seconds, rounds)
        works = workloads(subject, mode, concurrency, op)
        try:
            return measure_rounds(works, seconds, rounds)
        finally:
            for work in works:
                work.close()
    except BenchError as exc:
        raise CliError(str(exc)) from None
    except P11Error as exc:
        what = f"--key {uri}" if op == KEY_OPERATION else op
        raise CliError(f"{what} cannot be measured in mode {mode}: {describe(exc)[0]}") from exc


def _result(op: str, mode: str, concurrency: int, mechanism: str | None, measured: list[Round],
            key: str | None) -> dict[str, Any]:
    """One row: the documented keys (operation, iterations, seconds, ops_per_second) and what was measured."""
    out: dict[str, Any] = {
        "operation": op,
        "iterations": sum(r.ops for r in measured),
        "seconds": round(sum(r.seconds for r in measured), 6),
        "ops_per_second": round(median([r.rate for r in measured]), 1),
        "mode": mode,
        "concurrency": concurrency,
        "mechanism": mechanism,
        "rounds": [round(r.rate, 1) for r in measured],
    }
    if key is not None:
        out["key"] = key
    return out


def _fastest(results: list[dict[str, Any]]) -> list[str]:
    """For each operation measured in several modes, the mode that did the most."""
    lines = []
    for op in dict.fromkeys(r["operation"] for r in results):
        rows = [r for r in results if r["operation"] == op]
        if len(rows) > 1:
            best = max(rows, key=lambda r: r["ops_per_second"])
            lines.append(f"{op}: most operations per second with --mode {best['mode']} "
                         f"(n={best['concurrency']}: {best['ops_per_second']:,.0f} ops/s)")
    return lines
