"""What ``p11 bench`` runs: its operations, each in the ways a program can call p11, timed by
:mod:`p11.throughput` (the rule ``python -m benchmarks`` uses, so the two agree).

Operations and their inputs are those of ``python -m benchmarks`` (``benchmarks/spec.py``): ECDSA P-256 is
``CKM_ECDSA`` over a 32-byte digest, RSA-2048 ``CKM_SHA256_RSA_PKCS`` and HMAC ``CKM_SHA256_HMAC`` over 64 bytes,
AES-256-GCM encrypts 1 KiB. Their keys are token objects, as a program's keys are (SoftHSM checks its file store
on every use of a token object, which makes them several times slower than session objects), made for the run
under a label of their own (``p11-bench-<random>``) and destroyed afterwards; or an existing key
(``--key URI``). Every call goes through the token's session pool, as a program's ``token.get_key(...)`` keys do.

Modes (``n`` = ``--concurrency``):

* ``single``: ``key.sign(data)``, one call at a time, from ``n`` threads;
* ``many``: ``key.sign_many(64 messages)`` (one crossing into C per batch), from ``n`` threads;
* ``workers``: ``key.sign_many(840 messages, workers=n)``: p11's own native threads, called from one thread;
* ``async``: ``asyncio.gather`` of 840 ``await key.sign_async(data)``, the pool bounded to ``n`` sessions;
* ``processes``: ``single`` in ``n`` processes at once, each with its own login (a module that serialises the
  threads of one process, as SoftHSM does, runs processes side by side).

A group (``--group URI`` per member) is measured the same way on a :class:`p11.TokenGroup`: the run's key is made
once, here, and imported into every member (:func:`temporary_group_key`), so the members prove they hold the same
key; ``--key`` names a key they all hold. Digest and random have no group form, nor does mode ``processes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from p11 import Object, PrivateKey, PublicKey, SecretKey, Session, Token, load
from p11.constants import Attribute, KeyType, Mechanism
from p11.crypto import import_private_key, import_secret
from p11.errors import CryptokiError, P11Error
from p11.group import GroupKey, GroupSecretKey
from p11.mechanisms import DEFAULT_SIGN, GCM, Parameters, mechanism_by_name
from p11.opener import CLASS_FOR_TYPE, find_token, object_template, uri_for_object
from p11.throughput import Round, Workload, measure_rounds
from p11.uri import URI

__all__ = ["GROUP_MODES", "KEY_OPERATION", "MODES", "OPERATIONS", "BenchError", "Subject", "group_subject",
           "has_group_form", "has_mode", "measure_processes", "subject_for", "temporary_group_key", "temporary_key",
           "workloads"]

MODES: Final = ("single", "many", "workers", "async", "processes")
GROUP_MODES: Final = ("single", "many", "workers", "async")  # a group lives in one process
KEY_OPERATION: Final = "key"  # the operation of --key URI

_DIGEST_32: Final = bytes(range(32))  # stands in for a SHA-256 digest
_DATA_64: Final = bytes(range(64))
_PLAINTEXT_1K: Final = bytes(i & 0xFF for i in range(1024))
_RANDOM_LEN: Final = 32
_BATCH: Final = 64  # messages per sign_many call in mode many (python -m benchmarks' p11-batch column)
_SPREAD: Final = 840  # per call in modes workers and async: a multiple of every n up to 8, so no worker idles
_SETUP_TIMEOUT: Final = 120.0  # seconds for a process of mode processes to load the module and log in


class BenchError(Exception):
    """An operation cannot be measured as asked (a key that cannot do it, a mode it has no form for)."""


@dataclass
class Subject:
    """One operation, ready: ``single()`` is one thread's workload doing it once a call; ``many(count, workers)``
    makes a call doing it ``count`` times in one batch; ``one_async()`` awaits it once. ``None``: no such form (a
    digest has no batch)."""

    mechanism: str | None
    single: Callable[[], Workload]
    many: Callable[[int, int], Callable[[], object]] | None = None
    one_async: Callable[[], Awaitable[object]] | None = None


def _shared(call: Callable[[], object]) -> Callable[[], Workload]:
    """A key's operation: every thread calls the same pooled key."""
    return lambda: Workload(call)


def _on_session(token: Token, operation: Callable[[Session], Callable[[], object]]) -> Callable[[], Workload]:
    """A session operation (digest, random): each thread on a session of its own, as a program's thread would
    open one (and as ``python -m benchmarks`` measures it)."""

    def workload() -> Workload:
        session = token.open()
        return Workload(operation(session), close=session.close)

    return workload


def _mechanism_name(mechanism: Mechanism | Parameters | None) -> str | None:
    if mechanism is None:
        return None
    return f"CKM_{(mechanism.mechanism if isinstance(mechanism, Parameters) else mechanism).name}"


def _signing(key: PrivateKey | SecretKey, mechanism: Mechanism | Parameters | None, data: bytes) -> Subject:
    sign, sign_many, sign_async = key.sign, key.sign_many, key.sign_async

    def many(count: int, workers: int) -> Callable[[], object]:
        messages = [data] * count
        return lambda: sign_many(messages, mechanism, workers=workers)

    shown = _mechanism_name(mechanism if mechanism is not None else DEFAULT_SIGN.get(key.key_type))
    return Subject(shown, _shared(lambda: sign(data, mechanism)), many, lambda: sign_async(data, mechanism))


def _encrypting(key: SecretKey) -> Subject:
    params = GCM(bytes(12))  # one IV for every call: a benchmark, never do this with data that matters
    encrypt, encrypt_many, encrypt_async = key.encrypt, key.encrypt_many, key.encrypt_async

    def many(count: int, workers: int) -> Callable[[], object]:
        messages = [_PLAINTEXT_1K] * count  # encrypt_many draws a fresh IV per message from the token
        return lambda: encrypt_many(messages, workers=workers)

    return Subject("CKM_AES_GCM", _shared(lambda: encrypt(_PLAINTEXT_1K, params)), many,
                   lambda: encrypt_async(_PLAINTEXT_1K, params))


def _ec(session: Session, label: str) -> Object:
    return session.generate_keypair(KeyType.EC, curve="P-256", label=label)[1]


def _rsa(session: Session, label: str) -> Object:
    return session.generate_keypair(KeyType.RSA, 2048, label=label)[1]


# The secret keys are made as python -m benchmarks' token has them (pkcs11-tool's defaults), so the figures compare:
# not private, not sensitive. SoftHSM decrypts the value of a private token key on every operation, which costs a
# cheap one (HMAC, AES-GCM over 1 KiB) some 15 %: a key of yours made as p11 keygen makes it (private, sensitive)
# is measured as it is with --key.
def _hmac(session: Session, label: str) -> Object:
    return session.generate_key(KeyType.GENERIC_SECRET, 256, label=label, sign=True, verify=True, private=False,
                                sensitive=False)


def _aes(session: Session, label: str) -> Object:
    return session.generate_key(KeyType.AES, 256, label=label, encrypt=True, decrypt=True, private=False,
                                sensitive=False)


#: The built-in operations: name -> (what it is, the key it needs made on the token, or None).
OPERATIONS: Final[dict[str, tuple[str, Callable[[Session, str], Object] | None]]] = {
    "ecdsa-p256-sign": ("CKM_ECDSA over a 32-byte digest, P-256", _ec),
    "rsa2048-sign": ("CKM_SHA256_RSA_PKCS over 64 bytes, RSA-2048", _rsa),
    "hmac-sha256": ("CKM_SHA256_HMAC over 64 bytes, 256-bit key", _hmac),
    "aes256-gcm-encrypt": ("CKM_AES_GCM, 1 KiB, AES-256", _aes),
    "sha256-digest": ("CKM_SHA256 over 64 bytes", None),
    "random-32": ("C_GenerateRandom of 32 bytes", None),
}


def has_mode(operation: str, mode: str) -> bool:
    """Whether an operation has a form for ``mode`` (digest and random have no batch or asyncio form)."""
    return mode in ("single", "processes") or operation in (KEY_OPERATION, *(n for n, (_, k) in OPERATIONS.items()
                                                                            if k is not None))


@contextlib.contextmanager
def temporary_key(token: Token, operation: str) -> Iterator[URI | None]:
    """The URI of a key made on the token for a built-in operation (``None`` when it needs none), destroyed with
    its other half when the block ends however it ends. A read-only token gets a ``BenchError`` that says to
    measure an existing key instead."""
    make = OPERATIONS[operation][1]
    if make is None:
        yield None
        return
    label = f"p11-bench-{os.urandom(6).hex()}"
    with token.open(rw=True) as session:
        try:
            made = make(session, label)
        except CryptokiError as exc:
            raise BenchError(f"{operation}: cannot make its key on the token ({exc.name}); measure a key that is "
                             "there with --key URI") from None
        try:
            # The label is the one just given: not read back (another process logging in rewrites SoftHSM's
            # files, and an attribute read at that moment can miss it: a URI of the type alone then matched
            # every secret key on the token).
            yield uri_for_object(made).replace(object=label)
        except BaseException:
            _remove(session, label, operation, quiet=True)
            raise
        _remove(session, label, operation, quiet=False)


def _remove(session: Session, label: str, operation: str, *, quiet: bool) -> None:
    """Destroy the run's key(s) labelled ``label``; a failure says how to remove them by hand (unless
    ``quiet``: an error is already on its way)."""
    try:
        for obj in list(session.find(label=label)):
            obj.destroy()
    except P11Error as exc:
        if not quiet:
            raise BenchError(f"{operation}: measured, but its key could not be removed ({exc}): remove it with "
                             f"p11 delete --label {label} --all --yes") from None


#: Pauses before looking again for a key a search did not find (under a second in all).
_LOOK_AGAIN: Final = (0.05, 0.1, 0.2, 0.4)


def _pooled_key(token: Token, uri: URI) -> Object:
    """The one key ``uri`` names, found through the token's pool. A search that finds none is made again a few
    times: SoftHSM re-reads a token's files when another process has rewritten them (each login does: ``p11
    objects`` run beside the measurement, or the processes of ``--mode processes`` logging in), and a search at
    that moment can miss a key that is there (the run's own key, made a moment ago)."""
    template = object_template(uri)
    found: list[Object] = list(token.find(template=template))
    for pause in _LOOK_AGAIN:
        if found:
            break
        time.sleep(pause)
        found = list(token.find(template=template))
    if len(found) != 1:
        raise BenchError(f"{uri} matches {len(found)} objects through the token's pool, expected one")
    return found[0]


def subject_for(token: Token, operation: str, key_uri: URI | None, mechanism: str | None) -> Subject:
    """The operation on ``token``'s pool: the key ``key_uri`` names (made by :func:`temporary_key`, or the
    user's ``--key``; ``mechanism`` for the latter), or no key. ``BenchError`` says why a key cannot be used."""
    if operation == "sha256-digest":
        return Subject("CKM_SHA256", _on_session(token, lambda s: partial(s.digest, _DATA_64, Mechanism.SHA256)))
    if operation == "random-32":
        return Subject(None, _on_session(token, lambda s: partial(s.generate_random, _RANDOM_LEN)))
    assert key_uri is not None
    key = _pooled_key(token, key_uri)
    if operation == KEY_OPERATION:
        return _key_subject(key, mechanism)
    if not isinstance(key, PrivateKey | SecretKey):
        raise BenchError(f"{operation}: {key_uri} is not a private or secret key")
    if operation == "ecdsa-p256-sign":
        return _signing(key, Mechanism.ECDSA, _DIGEST_32)
    if operation == "rsa2048-sign":
        return _signing(key, Mechanism.SHA256_RSA_PKCS, _DATA_64)
    if operation == "hmac-sha256":
        return _signing(key, Mechanism.SHA256_HMAC, _DATA_64)
    if operation == "aes256-gcm-encrypt" and isinstance(key, SecretKey):
        return _encrypting(key)
    raise BenchError(f"unknown operation {operation!r}")


def _key_subject(key: Object, mechanism: str | None) -> Subject:
    """An existing key: signing for a private or HMAC key, AES-GCM encryption for an AES key (without
    ``mechanism``)."""
    described = str(uri_for_object(key))
    if isinstance(key, PublicKey):
        raise BenchError(f"--key {described} is a public key: the benchmark signs, so name the private key "
                         "(type=private)")
    if not isinstance(key, PrivateKey | SecretKey):
        raise BenchError(f"--key {described} is a {key.object_class.name.lower()} object, not a key")
    mech = mechanism_by_name(mechanism) if mechanism else None
    if isinstance(key, SecretKey) and key.key_type == KeyType.AES and mech is None:
        return _encrypting(key)
    if key.get_attributes([Attribute.SIGN])[Attribute.SIGN] is False:
        raise BenchError(f"--key {described} may not sign (CKA_SIGN is false): widen its usages with "
                         "p11 set-attr sign=true, or name a key that signs")
    return _signing(key, mech, _DATA_64)


def workloads(subject: Subject, mode: str, concurrency: int, operation: str) -> list[Workload]:
    """The workloads that run ``subject`` in ``mode`` with ``concurrency`` (one per measuring thread)."""
    if mode in ("single", "processes"):
        return [subject.single() for _ in range(1 if mode == "processes" else concurrency)]
    if mode == "async":
        if subject.one_async is None:
            raise BenchError(f"{operation} has no asyncio form: measure it with --mode single or processes")
        one_async = subject.one_async
        loop = asyncio.new_event_loop()

        async def gather() -> list[object]:
            return await asyncio.gather(*(one_async() for _ in range(_SPREAD)))

        return [Workload(lambda: loop.run_until_complete(gather()), ops_per_call=_SPREAD, close=loop.close)]
    if subject.many is None:
        raise BenchError(f"{operation} has no batch form: measure it with --mode single or processes")
    if mode == "many":
        return [Workload(subject.many(_BATCH, 1), ops_per_call=_BATCH) for _ in range(concurrency)]
    if mode == "workers":
        return [Workload(subject.many(_SPREAD, concurrency), ops_per_call=_SPREAD)]
    raise ValueError(f"unknown mode {mode!r}; use {', '.join(MODES)}")


# -- mode processes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What a process of mode processes needs; sent through a pipe (never argv or the environment: the PIN)."""

    module: str
    token_uri: str
    pin: str | bytes
    operation: str
    key_uri: str | None
    mechanism: str | None
    seconds: float
    rounds: int


def _process(conn: Any, plan: _Plan) -> None:
    """One process of mode processes: set up, say ready, wait for go, measure, send the rounds back. Ctrl-C is
    the parent's to handle (it ends the processes); a parent gone is no error to report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        token = find_token(URI.parse(plan.token_uri), load(plan.module))
        token.login(plan.pin, max_size=1)
        key_uri = URI.parse(plan.key_uri) if plan.key_uri else None
        work = subject_for(token, plan.operation, key_uri, plan.mechanism).single()
        try:
            work.call()  # fails here, before the others start, if it fails at all
            conn.send("ready")
            if conn.recv() != "go":
                return
            rounds = measure_rounds([work], plan.seconds, plan.rounds)
        finally:
            work.close()
        conn.send([(r.ops, r.seconds) for r in rounds])
    except BaseException as exc:
        detail = str(exc).strip()
        with contextlib.suppress(OSError):
            conn.send({"error": f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__})
    finally:
        conn.close()


def measure_processes(token: Token, pin: str | bytes, operation: str, key_uri: URI | None, mechanism: str | None,
                      count: int, seconds: float, rounds: int) -> list[Round]:
    """``operation`` in ``count`` processes at once, each measuring ``single`` on its own login. They start one
    after the other (SoftHSM's file store can fail two that initialise at the same instant) and measure
    together; a round's figure is the sum of theirs."""
    context = multiprocessing.get_context("spawn")
    plan = _Plan(token.library.path, str(token.uri), pin, operation,
                 None if key_uri is None else str(key_uri), mechanism, seconds, rounds)
    children: list[tuple[Any, Any]] = []
    finished = False
    try:
        for _ in range(count):
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_process, args=(child_end, plan), daemon=True)
            process.start()
            child_end.close()
            children.append((process, parent_end))
            _expect(parent_end, "ready", _SETUP_TIMEOUT)
        for _, conn in children:
            conn.send("go")
        results = [_expect(conn, None, seconds * 2 + 60) for _, conn in children]
        finished = True
    finally:
        for process, conn in children:
            conn.close()
            if not finished:  # an error or Ctrl-C here: the others stop now, not when their measurement ends
                process.terminate()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
    per_process = [[Round(ops, secs) for ops, secs in result] for result in results]
    return [_together([p[i] for p in per_process]) for i in range(rounds)]


def _together(rounds: list[Round]) -> Round:
    """The same round of processes that ran at once: their operations, at the sum of their rates."""
    ops, rate = sum(r.ops for r in rounds), sum(r.rate for r in rounds)
    return Round(ops, ops / rate if rate else 0.0)


def _expect(conn: Any, wanted: str | None, timeout: float) -> Any:
    if not conn.poll(timeout):
        raise BenchError(f"a benchmark process did not answer within {timeout:g} s")
    try:
        message = conn.recv()
    except EOFError:
        raise BenchError("a benchmark process ended without a result (crashed?)") from None
    if isinstance(message, dict) and "error" in message:
        raise BenchError(f"a benchmark process failed: {message['error']}")
    if wanted is not None and message != wanted:
        raise BenchError(f"a benchmark process answered {message!r}, expected {wanted!r}")
    return message


# -- a token group ------------------------------------------------------------------------------------------------


def has_group_form(operation: str, mode: str | None = None) -> bool:
    """Whether an operation can be measured on a group (it needs a key the members share), in ``mode`` if given
    (AES-GCM on a group has no batch: a group key has no ``encrypt_many``, whose IVs the token draws)."""
    if operation != KEY_OPERATION and OPERATIONS[operation][1] is None:
        return False
    if mode is None:
        return True
    return mode in GROUP_MODES and not (operation == "aes256-gcm-encrypt" and mode in ("many", "workers"))


def _material(operation: str) -> Callable[[Session, str], object]:
    """How to put the run's key for ``operation`` on a member: the same key material for every member."""
    if operation == "ecdsa-p256-sign":
        private: Any = ec.generate_private_key(ec.SECP256R1())
    elif operation == "rsa2048-sign":
        private = rsa.generate_private_key(65537, 2048)
    else:
        value = os.urandom(32)
        kind = KeyType.AES if operation == "aes256-gcm-encrypt" else KeyType.GENERIC_SECRET
        usage: dict[str, Any] = (
            {"encrypt": True, "decrypt": True} if kind == KeyType.AES else {"sign": True, "verify": True}
        )
        # As the single-token run makes them (see _hmac): not private, not sensitive.
        return lambda session, label: import_secret(session, value, kind, label=label, private=False,
                                                    sensitive=False, **usage)
    return lambda session, label: import_private_key(session, private, label=label)


@contextlib.contextmanager
def temporary_group_key(tokens: list[Token], operation: str, pin: str | bytes) -> Iterator[dict[str, Any]]:
    """The same new key for a built-in operation on every member (made here, imported into each), labelled
    ``p11-bench-<random>``; yields what ``group.get_key`` takes to find it. Removed from every member when the
    block ends however it ends."""
    label = f"p11-bench-{os.urandom(6).hex()}"
    make = _material(operation)
    done: list[Token] = []
    try:
        for token in tokens:
            with token.open(user_pin=pin, rw=True) as session:
                try:
                    make(session, label)
                except CryptokiError as exc:
                    raise BenchError(f"{operation}: cannot put its key on {token.label!r} ({exc.name}); measure a "
                                     "key they all hold with --key URI") from None
            done.append(token)
        pair = operation in ("ecdsa-p256-sign", "rsa2048-sign")
        yield {"label": label, "object_class": CLASS_FOR_TYPE["private" if pair else "secret-key"]}
    finally:
        for token in done:
            with contextlib.suppress(P11Error), token.open(user_pin=pin, rw=True) as session:
                _remove(session, label, operation, quiet=True)


def group_subject(key: GroupKey, operation: str, mechanism: str | None) -> Subject:
    """An operation on a group's key (the run's, or ``--key``'s with ``mechanism``)."""
    if operation == KEY_OPERATION:
        if isinstance(key, GroupSecretKey) and key.key_type == KeyType.AES and not mechanism:
            return _group_encrypting(key)
        if not hasattr(key, "sign"):
            raise BenchError("--key names a public key: the benchmark signs, so name the private key (type=private)")
        return _signing(key, mechanism_by_name(mechanism) if mechanism else None, _DATA_64)  # type: ignore[arg-type]
    if operation == "ecdsa-p256-sign":
        return _signing(key, Mechanism.ECDSA, _DIGEST_32)  # type: ignore[arg-type]
    if operation == "rsa2048-sign":
        return _signing(key, Mechanism.SHA256_RSA_PKCS, _DATA_64)  # type: ignore[arg-type]
    if operation == "hmac-sha256":
        return _signing(key, Mechanism.SHA256_HMAC, _DATA_64)  # type: ignore[arg-type]
    if operation == "aes256-gcm-encrypt":
        return _group_encrypting(key)
    raise BenchError(f"{operation} has no group form (it uses no key)")


def _group_encrypting(key: Any) -> Subject:
    """AES-GCM on a group key: single calls and asyncio (a group has no encrypt_many: its IVs come from the token)."""
    params = GCM(bytes(12))  # one IV for every call: a benchmark, never do this with data that matters
    encrypt, encrypt_async = key.encrypt, key.encrypt_async
    return Subject("CKM_AES_GCM", _shared(lambda: encrypt(_PLAINTEXT_1K, params)), None,
                   lambda: encrypt_async(_PLAINTEXT_1K, params))
