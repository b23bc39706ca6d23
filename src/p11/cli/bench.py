"""``bench``: how many operations per second the selected token does, for the common operations, measured with
session keys (``CKA_TOKEN`` false: nothing is left on the token)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress

from p11.api.session import Session
from p11.cli.app import cli
from p11.cli.command import p11_command
from p11.cli.errors import USAGE, CliError
from p11.cli.output import emit, table
from p11.cli.select import Selection
from p11.constants import KeyType, Mechanism
from p11.mechanisms import GCM

__all__: list[str] = []

_MESSAGE = b"p11 bench " * 10  # 100 bytes


def _ecdsa(session: Session) -> Callable[[], Any]:
    _, private = session.generate_keypair(KeyType.EC, curve="P-256", token=False)
    return lambda: private.sign(_MESSAGE, Mechanism.ECDSA_SHA256)


def _rsa(session: Session) -> Callable[[], Any]:
    _, private = session.generate_keypair(KeyType.RSA, 2048, token=False)
    return lambda: private.sign(_MESSAGE, Mechanism.SHA256_RSA_PKCS)


def _hmac(session: Session) -> Callable[[], Any]:
    key = session.generate_key(KeyType.GENERIC_SECRET, 256, token=False)
    return lambda: key.sign(_MESSAGE, Mechanism.SHA256_HMAC)


def _aes_gcm(session: Session) -> Callable[[], Any]:
    key = session.generate_key(KeyType.AES, 256, token=False)
    params = GCM(os.urandom(12))  # one IV for every call: a benchmark, never do this with data that matters
    return lambda: key.encrypt(_MESSAGE, params)


def _digest(session: Session) -> Callable[[], Any]:
    return lambda: session.digest(_MESSAGE, Mechanism.SHA256)


def _random(session: Session) -> Callable[[], Any]:
    return lambda: session.generate_random(32)


OPERATIONS: dict[str, Callable[[Session], Callable[[], Any]]] = {
    "ecdsa-p256-sign": _ecdsa,
    "rsa2048-sign": _rsa,
    "hmac-sha256": _hmac,
    "aes256-gcm-encrypt": _aes_gcm,
    "sha256-digest": _digest,
    "random-32": _random,
}


@p11_command(cli, "bench", example="P11_PIN=1234 p11 bench --token my-token --iterations 500 --json")
@click.option("--iterations", "-n", type=click.IntRange(1, 10_000_000), default=200, show_default=True,
              help="Operations per measurement.")
@click.option("--only", metavar="LIST", help=f"Some of: {', '.join(OPERATIONS)}.")
def bench(selection: Selection, iterations: int, only: str | None) -> None:
    """Operations per second on the selected token (100-byte messages; session keys, removed afterwards)."""
    names = [n.strip() for n in only.split(",")] if only else list(OPERATIONS)
    unknown = [n for n in names if n not in OPERATIONS]
    if unknown:
        raise CliError(f"--only: unknown operation {unknown[0]!r}; use {', '.join(OPERATIONS)}", USAGE)
    results: list[dict[str, Any]] = []
    progress_bar = Progress(console=Console(stderr=True), transient=True, disable=selection.json)
    with selection.session() as session, progress_bar as progress:
        task = progress.add_task("benchmarking", total=len(names) * iterations)
        for name in names:
            progress.update(task, description=name)
            operation = OPERATIONS[name](session)
            operation()  # warm-up: the key's plan is made and cached here
            start = time.perf_counter()
            for _ in range(iterations):
                operation()
                progress.advance(task)
            seconds = time.perf_counter() - start
            results.append({"operation": name, "iterations": iterations, "seconds": round(seconds, 6),
                            "ops_per_second": round(iterations / seconds, 1) if seconds else None})
        token_uri = str(session.token.uri)

    def show(console: Console) -> None:
        console.print(table(f"p11 bench on {token_uri}", ("operation", "ops/s", "iterations", "seconds"),
                            ((r["operation"], f"{r['ops_per_second']:,.1f}", r["iterations"], f"{r['seconds']:.3f}")
                             for r in results)))

    emit(selection.json, {"token": token_uri, "results": results}, show)
