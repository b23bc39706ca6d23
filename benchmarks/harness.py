"""Timing inside a child process: the rule is p11's own (:mod:`p11.throughput`, which ``p11 bench`` uses too):
warm up, then count calls for a fixed wall time per round, in 1-2 threads, the median round is the figure.

An implementation hands the harness a :class:`Workload` per thread: a zero-argument callable doing one
call (``ops_per_call`` ops, more than one for batch APIs) on a session of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol

from p11.throughput import Workload, measure, median

__all__ = ["Binding", "Target", "Workload", "measure", "median"]


@dataclass(frozen=True)
class Target:
    """Which module and token to use; children get it from the environment the runner sets."""

    module_path: str
    token_label: str
    user_pin: str = field(repr=False)

    ENV_MODULE = "P11_BENCH_MODULE"
    ENV_TOKEN = "P11_BENCH_TOKEN"
    ENV_PIN = "P11_BENCH_PIN"  # in the environment, not argv: argv shows in `ps`

    def as_env(self) -> dict[str, str]:
        return {
            self.ENV_MODULE: self.module_path,
            self.ENV_TOKEN: self.token_label,
            self.ENV_PIN: self.user_pin,
        }

    @classmethod
    def from_env(cls) -> Target:
        try:
            return cls(os.environ[cls.ENV_MODULE], os.environ[cls.ENV_TOKEN], os.environ[cls.ENV_PIN])
        except KeyError as exc:
            raise RuntimeError(f"{exc.args[0]} is not set: run measurements through `python -m benchmarks`") from None


class Binding(Protocol):
    """One implementation, set up (library loaded, user logged in) against the target token.

    ``workload(op)`` opens whatever session the op needs and returns the callable; it is called once per
    thread, so each thread gets its own session. An op listed in ``SELF_THREADED`` runs its own threads
    inside one call (e.g. ``sign_many(..., workers=2)``); the harness then drives it from one thread.
    """

    OPS: frozenset[str]
    SELF_THREADED: frozenset[str]

    def __init__(self, target: Target) -> None: ...

    def workload(self, op: str) -> Workload: ...

    def close(self) -> None: ...
