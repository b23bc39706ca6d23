"""One measurement in its own process: ``python -m benchmarks.child IMPL OP SECONDS ROUNDS``.

Prints one JSON line, ``{"ops_per_s": ..., "rounds": [...]}`` or ``{"error": "..."}``. A crash or hang of the
library under test kills only this process; the runner records it and moves on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from benchmarks import spec
from benchmarks.harness import Target, Workload, measure, median
from benchmarks.impls import binding_class


def _error_text(exc: BaseException) -> str:
    detail = str(exc).strip()
    if isinstance(exc, NotImplementedError):
        return f"not implemented: {detail}" if detail else "not implemented"
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def run(impl: str, op_name: str, seconds: float, rounds: int) -> dict[str, object]:
    op = spec.OPS_BY_NAME[op_name]
    cls = binding_class(impl)
    binding = cls(Target.from_env())
    works: list[Workload] = []
    try:
        if op.threads == 1 or op.name in cls.SELF_THREADED:
            works.append(binding.workload(op.name))
        else:
            works.extend(binding.workload(op.base) for _ in range(op.threads))
        per_round = measure(works, seconds, rounds)
    finally:
        for work in works:
            work.close()
        binding.close()
    return {"ops_per_s": median(per_round), "rounds": per_round}


def emit(measure_cell: Callable[[], dict[str, object]]) -> int:
    """Print ``measure_cell()``'s result, or the error it raised, as the one JSON line the runner reads."""
    try:
        result = measure_cell()
    except Exception as exc:
        result = {"error": _error_text(exc)}
    print(json.dumps(result), flush=True)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    impl, op_name, seconds, rounds = argv[0], argv[1], float(argv[2]), int(argv[3])
    return emit(lambda: run(impl, op_name, seconds, rounds))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
