"""p11 itself, in three columns: one call per op (``p11``), ``sign_many`` batches (``p11-batch``) and
``sign_many(..., workers=2)`` (``p11-batch-2``).

Same shape as ``impl_python_pkcs11.py`` / ``impl_pykcs11.py``: the constructor loads the module and logs in,
``workload(op)`` opens a session per call (one per thread) and returns the callable.

TODO(lead): the op bodies are not written yet: they raise NotImplementedError, which the runner records as
"not implemented" for every p11 cell. Fill them in once the high-level API exists; ``_open_session`` below
shows the intended calls (``p11.load``, ``lib.get_token(label=)``, ``token.open(user_pin=)``).
"""

from __future__ import annotations

from typing import Any

from benchmarks import spec
from benchmarks.harness import Target, Workload

SIGN_OPS = frozenset({"ecdsa_p256_sign", "rsa2048_sign", "hmac_sha256_sign"})
SIGN_2THR_OPS = frozenset({"ecdsa_p256_sign_2thr", "hmac_sha256_sign_2thr"})


class P11:
    """One ``key.sign(data, mechanism)`` (etc.) per op: the figure to compare with the peers."""

    OPS = frozenset(op.name for op in spec.OPS)
    SELF_THREADED: frozenset[str] = frozenset()

    def __init__(self, target: Target) -> None:
        self._target = target
        self._lib: Any = None
        self._token: Any = None
        self._login: Any = None
        self._sessions: list[Any] = []

    def _open_session(self) -> Any:
        """A new session on the target token; the first one logs in and stays open for the whole run."""
        if self._lib is None:
            import p11

            self._lib = p11.load(self._target.module_path)
            self._token = self._lib.get_token(label=self._target.token_label)
            self._login = self._token.open(user_pin=self._target.user_pin)
        session = self._token.open()
        self._sessions.append(session)
        return session

    def workload(self, op: str) -> Workload:
        raise NotImplementedError(f"{op} is not wired to the p11 API yet")

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        if self._login is not None:
            self._login.close()


class P11Batch(P11):
    """``key.sign_many(msgs, mechanism)``, ``spec.BATCH_SIZE`` messages a call (ops_per_call=BATCH_SIZE)."""

    OPS = SIGN_OPS | SIGN_2THR_OPS

    def workload(self, op: str) -> Workload:
        raise NotImplementedError(f"{op} with sign_many is not wired to the p11 API yet")


class P11Batch2(P11):
    """``key.sign_many(msgs, mechanism, workers=2)``: p11 runs two threads itself; the harness uses one."""

    OPS = SIGN_2THR_OPS
    SELF_THREADED = SIGN_2THR_OPS

    def workload(self, op: str) -> Workload:
        raise NotImplementedError(f"{op} with sign_many(workers=2) is not wired to the p11 API yet")
