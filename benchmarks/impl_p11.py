"""p11 itself, in three columns: one call per op (``p11``), ``sign_many`` batches (``p11-batch``) and
``sign_many(..., workers=2)`` (``p11-batch-2``).

What a user writes, and so what is measured:

* ``token = p11.load(path).get_token(label=...)``; ``token.login(pin)``: the token's session pool logs in once.
* Keys come from ``token.get_key(label=..., object_class=...)``: they are bound to the pool, so
  ``key.sign(data, Mechanism.ECDSA)`` needs no session and works from any thread (each call borrows a pooled
  session for its one crossing). The ``_2thr`` ops are two Python threads calling ``key.sign`` on the same key.
* ``get_attributes``: ``public_key.get_attributes([5 attributes])`` on the pooled RSA public key.
* ``find_by_label``: ``session.get_key(label=..., object_class=ObjectClass.PRIVATE_KEY)`` on an explicit session
  (a search is a per-session operation, so a user searching in a loop opens a session for it).
* ``random_32``: ``session.generate_random(32)`` on an explicit session; ``open_close_session``:
  ``with token.open(): pass``.
* Batches: ``key.sign_many(messages, mechanism)`` with ``spec.BATCH_SIZE`` messages a call (``workers=2``: p11
  runs the two threads itself).

Each ``workload(op)`` runs once per measuring thread and gets whatever its thread needs (a session of its own for
the session ops).
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
        import p11
        from p11.constants import Attribute, Mechanism, ObjectClass
        from p11.mechanisms import GCM

        self._p11 = p11
        self._lib = p11.load(target.module_path)
        self._token = self._lib.get_token(label=target.token_label)
        self._token.login(target.user_pin)  # the pool's first session logs in, for the whole application
        self._sessions: list[Any] = []
        self.Attribute, self.Mechanism, self.ObjectClass = Attribute, Mechanism, ObjectClass
        self._gcm = GCM(spec.GCM_IV_12, tag_length=spec.GCM_TAG_BITS // 8)  # built once, reused: a benchmark

    def _session(self) -> Any:
        session = self._token.open()
        self._sessions.append(session)
        return session

    def _key(self, op: str) -> tuple[Any, Any, bytes]:
        """The pooled key, the mechanism and the input of a sign op (``_2thr`` ops included)."""
        token, Mechanism, ObjectClass = self._token, self.Mechanism, self.ObjectClass
        base = op.removesuffix("_2thr")
        if base == "ecdsa_p256_sign":
            key = token.get_key(label=spec.EC_KEY.label, object_class=ObjectClass.PRIVATE_KEY)
            return key, Mechanism.ECDSA, spec.DIGEST_32
        if base == "rsa2048_sign":
            key = token.get_key(label=spec.RSA_KEY.label, object_class=ObjectClass.PRIVATE_KEY)
            return key, Mechanism.SHA256_RSA_PKCS, spec.DATA_64
        if base == "hmac_sha256_sign":
            key = token.get_key(label=spec.HMAC_KEY.label, object_class=ObjectClass.SECRET_KEY)
            return key, Mechanism.SHA256_HMAC, spec.DATA_64
        raise ValueError(f"p11 binding has no sign op {op!r}")

    def workload(self, op: str) -> Workload:
        if op in SIGN_OPS:
            key, mechanism, data = self._key(op)
            sign = key.sign
            return Workload(lambda: sign(data, mechanism))
        token, Attribute, ObjectClass = self._token, self.Attribute, self.ObjectClass
        if op == "aes_gcm_encrypt_1k":
            aes = token.get_key(label=spec.AES_KEY.label, object_class=ObjectClass.SECRET_KEY)
            encrypt, gcm, plaintext = aes.encrypt, self._gcm, spec.PLAINTEXT_1K
            return Workload(lambda: encrypt(plaintext, gcm))
        if op == "get_attributes":
            pub = token.get_key(label=spec.RSA_KEY.label, object_class=ObjectClass.PUBLIC_KEY)
            wanted = [Attribute.LABEL, Attribute.ID, Attribute.KEY_TYPE, Attribute.MODULUS, Attribute.VERIFY]
            get_attributes = pub.get_attributes
            return Workload(lambda: get_attributes(wanted))
        if op == "find_by_label":
            get_key, label, private = self._session().get_key, spec.FIND_LABEL, ObjectClass.PRIVATE_KEY
            return Workload(lambda: get_key(label=label, object_class=private))
        if op == "random_32":
            generate_random, n = self._session().generate_random, spec.RANDOM_LEN
            return Workload(lambda: generate_random(n))
        if op == "open_close_session":
            return Workload(_open_close(token))
        raise ValueError(f"p11 binding has no op {op!r}")

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self._lib.close()


def _open_close(token: Any) -> Any:
    def open_close() -> None:
        with token.open():
            pass

    return open_close


class P11Batch(P11):
    """``key.sign_many(msgs, mechanism)``, ``spec.BATCH_SIZE`` messages a call (ops_per_call=BATCH_SIZE)."""

    OPS = SIGN_OPS | SIGN_2THR_OPS
    WORKERS = 1

    def workload(self, op: str) -> Workload:
        key, mechanism, data = self._key(op)
        messages = [data] * spec.BATCH_SIZE
        sign_many, workers = key.sign_many, self.WORKERS
        return Workload(lambda: sign_many(messages, mechanism, workers=workers), ops_per_call=spec.BATCH_SIZE)


class P11Batch2(P11Batch):
    """``key.sign_many(msgs, mechanism, workers=2)``: p11 runs two threads itself; the harness uses one."""

    OPS = SIGN_2THR_OPS
    SELF_THREADED = SIGN_2THR_OPS
    WORKERS = 2
