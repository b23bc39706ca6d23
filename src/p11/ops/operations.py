"""Key operations on data, single-shot and streaming: sign/verify (MACs too), encrypt/decrypt, digest.

Data is single-shot when it is bytes-like, streamed (``C_*Update`` per chunk) when it is an iterable of chunks or
a binary file object. Mechanisms that cannot run in parts (raw RSA, ECDSA, EdDSA, key wrap) get the chunks joined;
a hash-then-sign mechanism the token lacks is hashed in software chunk by chunk (see :mod:`p11.ops.plans`). If anything
fails after an operation began, including the caller's iterable raising, the operation is ended on the token before
the exception propagates, so the session stays usable.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from p11._cffi import lib
from p11._native import MAX_IV_LENGTH
from p11.constants import Mechanism, UserType
from p11.errors import CryptokiError, SignatureError, error_class
from p11.lowlevel.marshal import size_arg
from p11.mechanisms import DEFAULT_SIGN, digest_info
from p11.ops.context_login import ContextPin, context_pin
from p11.ops.plans import (
    DECRYPT,
    DIGEST,
    ENCRYPT,
    SIGN,
    VERIFY,
    Operation,
    Plan,
    checked,
    default_mechanism,
    explain,
    plan,
    run_init,
)

if TYPE_CHECKING:
    from p11.interfaces import KeyLike, SessionLike

from p11.interfaces import KeyCache

__all__ = [
    "CHUNK_SIZE",
    "as_block",
    "crypt_stream",
    "decrypt",
    "decrypt_many",
    "digest",
    "encrypt",
    "encrypt_many",
    "invalid_signature",
    "sign",
    "sign_many",
    "verify",
    "verify_many",
    "verify_ok",
]

CHUNK_SIZE = 1 << 16
"""Bytes read per ``read()`` from a file object being streamed."""

_T = TypeVar("_T")
_CKR_SIGNATURE_INVALID = int(lib.CKR_SIGNATURE_INVALID)
_FIRST_EXTRA = 64  # first encryption with a mechanism: room for a tag or padding (a wrong guess only costs a query)
_MIN_EXTRA = 16


# -- input ------------------------------------------------------------------------------------------------------


def as_block(data: Any) -> Any:
    """``data`` itself when it is one bytes-like block, ``None`` when it is a stream (iterable or file)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    if isinstance(data, str):
        raise TypeError("data must be bytes, not str: encode it first")
    if hasattr(data, "read"):
        return None
    try:
        memoryview(data)
    except TypeError:
        pass
    else:
        return data
    if isinstance(data, Iterable):
        return None
    raise TypeError(f"data must be bytes-like, an iterable of bytes or a binary file, not {type(data).__name__}")


def _chunks(data: Any) -> Iterator[Any]:
    """The non-empty chunks of a stream (an empty ``C_*Update`` does nothing, and SoftHSM 2.6.1 answers an empty
    ``C_DecryptUpdate`` in CBC-PAD mode with a nonsense output size)."""
    if hasattr(data, "read"):
        while True:
            chunk = data.read(CHUNK_SIZE)
            if isinstance(chunk, str):
                raise TypeError("the file yields str: open it in binary mode ('rb')")
            if not chunk:
                return
            yield chunk
    else:
        for chunk in data:
            if isinstance(chunk, str) or not isinstance(chunk, (bytes, bytearray, memoryview)):
                try:
                    if isinstance(chunk, str):
                        raise TypeError
                    memoryview(chunk)
                except TypeError:
                    raise TypeError(f"each chunk must be bytes-like, not {type(chunk).__name__}") from None
            if len(chunk):
                yield chunk


def _joined(data: Any) -> bytes:
    return b"".join(bytes(c) for c in _chunks(data))


def _hashed(p: Plan, data: Any, single: Any) -> bytes:
    assert p.prehash is not None
    h = hashlib.new(p.prehash.name)
    if single is not None:
        h.update(single)
    else:
        for chunk in _chunks(data):
            h.update(chunk)
    out = h.digest()
    if p.truncate is not None:
        out = out[: p.truncate]
    return digest_info(p.prehash, out) if p.digest_info else out


def _abort(final: Callable[..., Any], *args: Any) -> None:
    """End a half-done operation so the session can start another. Errors are expected here (the token may
    have ended it already) and must not hide the exception that brought us here."""
    with contextlib.suppress(Exception):
        final(*args)


def _parts(
    h: int,
    start: Callable[[], Any],
    update: Callable[[int, Any], Any],
    finish: Callable[[int], Any],
    abort: Callable[[int], Any],
    data: Any,
) -> Generator[Any, None, None]:
    """The one multi-part skeleton (sign, verify, encrypt, decrypt, digest, streamed or not): ``start()`` (the
    ``C_*Init``), then ``update(h, chunk)`` for each chunk of ``data`` and ``finish(h)``, each output yielded as it
    comes (``*_, last = _parts(...)`` keeps the ``C_*Final`` one). If anything fails once the operation began (the
    token, the caller's iterable, or the consumer closing this generator), ``abort(h)`` ends it on the token before
    the exception propagates."""
    start()
    try:
        for chunk in _chunks(data):
            yield update(h, chunk)
        last = finish(h)
    except BaseException:
        _abort(abort, h)
        raise
    yield last  # the operation has ended: nothing to abort from here on


# -- sign and verify --------------------------------------------------------------------------------------------


def _explained(exc: CryptokiError, key: KeyLike, p: Plan, op: Operation) -> CryptokiError:
    """The exception to raise for a failed crossing: :func:`p11.ops.plans.explain`'s, keeping a batch item's index."""
    better = explain(exc, key, p, op)
    if better is not exc:
        index = getattr(exc, "index", None)
        if index is not None:
            better.index = index  # type: ignore[attr-defined]
        better.__cause__ = exc
    return better  # type: ignore[return-value]


def _install(key: KeyLike, op: str, asked: Any, p: Plan, call: Callable[..., Any], gate: int) -> None:
    """Cache the one-crossing ``call`` for ``op`` with the mechanism as the caller gave it (``None`` included), so
    the key's next call skips planning and checks. A software-hash plan hashes in front of it.

    ``gate``: the call gate ``call`` is bound to. When the module started a new generation since it was read, the
    generation hooks may already have dropped the key's cached calls (``forget_calls``): a call cached after that
    would be refused on every later use, the key never finding itself again. So it is checked after it is cached
    (a generation change between the two drops it, or is seen here)."""
    if p.prehash is not None:
        inner, prehashed = call, p.prehashed
        if op == "verify":

            def call(data: Any, signature: Any) -> Any:
                return inner(prehashed(data), signature)

        else:

            def call(data: Any) -> Any:
                return inner(prehashed(data))

    calls = key.cache.calls
    if len(calls) >= KeyCache.LIMIT:
        calls.clear()
    with contextlib.suppress(TypeError):  # an unhashable mechanism object is simply not cached
        calls[op, asked] = call
        if key.session.channel.gate != gate:  # a generation ended meanwhile: its calls are not to be kept
            calls.pop((op, asked), None)


def _one_block(key: KeyLike, p: Plan, op: Operation, data: Any, single: Any) -> Any:
    """The block one crossing takes for ``data``: hashed in software, joined from a stream, or ``single``."""
    if p.prehash is not None:
        return p.prehashed(single) if single is not None else _hashed(p, data, None)
    return single if single is not None else _joined(data)


def _begin(mod: Any, init: Callable[..., Any], end: Callable[[int], Any], h: int, p: Plan, key: KeyLike,
           op: Operation, pin: Any) -> None:
    """``C_*Init`` on ``h`` and, for a key that needs its PIN on every use, the per-use login (``pin`` not None,
    through ``mod``, the functions of the held session's generation);
    a refused PIN ends the operation (``end(h)``) before it propagates. The multi-part paths' start: the one-crossing
    ones log in in C (native/context_login.pxi)."""
    run_init(init, h, p, key, op)
    if pin is None:
        return
    try:
        checked(mod.C_Login, key, p, op, h, UserType.CONTEXT_SPECIFIC, pin)
    except BaseException:
        _abort(end, h)  # the token behaves as if no login was made: the call fails, and that ends the operation
        raise


def sign(key: KeyLike, data: Any, mechanism: Any = None, pin: ContextPin | None = None) -> bytes:
    asked = mechanism
    if mechanism is None:
        mechanism = default_mechanism(key, DEFAULT_SIGN, SIGN)
    p = plan(key, mechanism, SIGN)
    per_use = context_pin(key, pin, "sign()")
    single = as_block(data)
    channel = key.session.channel
    if p.prehash is not None or not p.multipart or single is not None:
        block = _one_block(key, p, SIGN, data, single)
        gate = channel.gate  # before the handle: see p11.interfaces.ChannelLike
        handle = key.handle
        try:
            result: bytes = channel.bind("sign", p.native, handle, 0, gate, per_use)(block)
        except CryptokiError as exc:
            raise _explained(exc, key, p, SIGN) from None
        if single is not None and per_use is None:  # a key that logs in per use has no PIN-less fast path
            _install(key, "sign", asked, p, channel.bind("sign", p.native, handle, len(result), gate), gate)
            with contextlib.suppress(TypeError):
                key.cache.sizes[asked] = len(result)
        return result
    with channel.hold() as (h, mod):  # the held session's handle and its generation's functions
        start = partial(_begin, mod, mod.C_SignInit, mod.C_SignFinal, h, p, key, SIGN, per_use)
        *_, signature = _parts(h, start, mod.C_SignUpdate, mod.C_SignFinal, mod.C_SignFinal, data)
        return signature  # type: ignore[no-any-return]


def invalid_signature() -> CryptokiError:
    """What a signature that does not verify raises (the one-crossing verify answers ``False`` both for
    ``CKR_SIGNATURE_INVALID`` and ``CKR_SIGNATURE_LEN_RANGE``)."""
    rv = _CKR_SIGNATURE_INVALID
    return error_class(rv)(rv, "C_Verify")


def verify(key: KeyLike, data: Any, signature: Any, mechanism: Any = None) -> None:
    if not _verify(key, data, signature, mechanism):
        raise invalid_signature()


def _verify(key: KeyLike, data: Any, signature: Any, mechanism: Any) -> bool:
    asked = mechanism
    if mechanism is None:
        mechanism = default_mechanism(key, DEFAULT_SIGN, VERIFY)
    p = plan(key, mechanism, VERIFY)
    if as_block(signature) is None:
        raise TypeError(f"signature must be bytes-like, not {type(signature).__name__}")
    single = as_block(data)
    channel = key.session.channel
    if p.prehash is not None or not p.multipart or single is not None:
        block = _one_block(key, p, VERIFY, data, single)
        gate = channel.gate  # before the handle: see p11.interfaces.ChannelLike
        call = channel.bind("verify", p.native, key.handle, 0, gate)
        try:
            valid: bool = call(block, signature)
        except CryptokiError as exc:
            raise _explained(exc, key, p, VERIFY) from None
        if single is not None:
            _install(key, "verify", asked, p, call, gate)
        return valid
    with channel.hold() as (h, mod):  # the held session's handle and its generation's functions

        def finish(h: int) -> bool:
            try:
                mod.C_VerifyFinal(h, signature)
            except SignatureError:
                return False  # C_VerifyFinal ends the operation when it answers about the signature
            return True

        start = partial(run_init, mod.C_VerifyInit, h, p, key, VERIFY)
        *_, ok = _parts(h, start, mod.C_VerifyUpdate, finish, partial(mod.C_VerifyFinal, signature=b""), data)
        return ok  # type: ignore[no-any-return]


def verify_ok(key: KeyLike, data: Any, signature: Any, mechanism: Any = None) -> bool:
    return _verify(key, data, signature, mechanism)


# -- encrypt and decrypt ----------------------------------------------------------------------------------------


def _crypt(key: KeyLike, data: Any, mechanism: Any, op: Operation, pin: ContextPin | None = None) -> bytes:
    if mechanism is None:
        raise TypeError(f"{op.name} needs a mechanism (e.g. GCM(iv), CBC(iv), OAEP())")
    p = plan(key, mechanism, op)
    per_use = context_pin(key, pin, f"{op.name}()") if op is DECRYPT else None
    single = as_block(data)
    channel = key.session.channel
    if single is not None or not p.multipart:
        block = single if single is not None else _joined(data)
        gate = channel.gate  # before the handle: see p11.interfaces.ChannelLike
        handle = key.handle
        try:
            result: bytes = p.bound(channel.bind(op.name, p.native, handle, _FIRST_EXTRA, gate, per_use))(block)
        except CryptokiError as exc:
            raise _explained(exc, key, p, op) from None
        if single is not None and per_use is None:
            # Encryption: the output size is the input's plus what this mechanism adds (at least a block's worth,
            # so CBC padding always fits); decryption: never more than the input.
            extra = max(len(result) - len(block), _MIN_EXTRA)
            _install(key, op.name, mechanism, p, p.bound(channel.bind(op.name, p.native, handle, extra, gate)), gate)
        return result
    with channel.hold() as (h, mod):  # the held session's handle and its generation's functions
        init, update, final = (
            (mod.C_EncryptInit, mod.C_EncryptUpdate, mod.C_EncryptFinal)
            if op is ENCRYPT
            else (mod.C_DecryptInit, mod.C_DecryptUpdate, mod.C_DecryptFinal)
        )
        start = partial(_begin, mod, init, final, h, p, key, op, per_use)
        return b"".join(_parts(h, start, update, final, final, data))


def encrypt(key: KeyLike, data: Any, mechanism: Any) -> bytes:
    return _crypt(key, data, mechanism, ENCRYPT)


def decrypt(key: KeyLike, data: Any, mechanism: Any, pin: ContextPin | None = None) -> bytes:
    return _crypt(key, data, mechanism, DECRYPT, pin)


def crypt_stream(key: KeyLike, data: Any, mechanism: Any, *, encrypt: bool) -> Iterator[bytes]:
    """Multi-part encrypt/decrypt as a generator of output pieces. The session is held (its lock) until the
    generator finishes or is closed."""
    op = ENCRYPT if encrypt else DECRYPT
    if mechanism is None:
        raise TypeError(f"{op.name} needs a mechanism (e.g. GCM(iv), CBC(iv), CTR(iv))")
    if isinstance(data, (str, bytes, bytearray, memoryview)):
        if isinstance(data, str):
            raise TypeError("data must be bytes, not str")
        data = (data,)
    p = plan(key, mechanism, op)
    return _stream(key, data, p, op)


def _stream(key: KeyLike, data: Any, p: Plan, op: Operation) -> Iterator[bytes]:
    # Held across yields (a pooled session is borrowed for the whole stream), with the functions of its generation.
    with key.session.channel.exclusive() as (h, mod):
        init, once, update, final = (
            (mod.C_EncryptInit, mod.C_Encrypt, mod.C_EncryptUpdate, mod.C_EncryptFinal)
            if op is ENCRYPT
            else (mod.C_DecryptInit, mod.C_Decrypt, mod.C_DecryptUpdate, mod.C_DecryptFinal)
        )
        if not p.multipart:
            block = _joined(data)
            run_init(init, h, p, key, op)
            try:
                result = p.bound(lambda data: once(h, data))(block)
            except BaseException:
                _abort(final, h)
                raise
            yield result
            return
        # Closed on the way out, so a consumer that stops early (or throws in) ends the operation on the token.
        with contextlib.closing(_parts(h, partial(run_init, init, h, p, key, op), update, final, final, data)) as parts:
            for piece in parts:
                if piece:
                    yield piece


# -- digest -----------------------------------------------------------------------------------------------------


def digest(session: SessionLike, data: Any, mechanism: Any) -> bytes:
    p = plan(None, mechanism, DIGEST, session)
    single = as_block(data)
    channel = session.channel
    if single is not None:
        result: bytes = channel.bind("digest", p.native, 0, 0)(single)
        return result
    with channel.hold() as (h, mod):  # the held session's handle and its generation's functions
        start = partial(mod.C_DigestInit, h, p.native)
        *_, result = _parts(h, start, mod.C_DigestUpdate, mod.C_DigestFinal, mod.C_DigestFinal, data)
        return result


# -- batches and asyncio ----------------------------------------------------------------------------------------


def _batch(
    key: KeyLike, p: Plan, op: Operation, name: str, workers: int | None, on_error: str, *args: Any, **kwargs: Any
) -> list[Any]:
    """``name`` (``sign_many`` …) of :mod:`p11._native` on the key's session, or on the pool with ``workers``;
    failures explained as single calls are (a key whose attributes forbid the operation: KeyCapabilityError).
    ``args`` hold the key's handle, read after ``gate`` was (see p11.interfaces.ChannelLike)."""
    try:
        results = key.session.channel.batch(name, workers, *args, on_error=on_error, **kwargs)
    except CryptokiError as exc:
        raise _explained(exc, key, p, op) from None
    if on_error == "return":
        for i, item in enumerate(results):
            if isinstance(item, CryptokiError):
                results[i] = _explained(item, key, p, op)
    return results


def _prehashed_all(p: Plan, messages: Iterable[Any]) -> list[bytes]:
    """Every message hashed in Python, for a hash-then-sign mechanism the token only has in its raw form."""
    prehashed = p.prehashed
    out = []
    for i, message in enumerate(messages):
        if isinstance(message, str) or as_block(message) is None:
            raise TypeError(f"message {i} must be a bytes-like object, not {type(message).__name__}")
        out.append(prehashed(message))
    return out


def sign_many(
    key: KeyLike,
    messages: Iterable[Any],
    mechanism: Any,
    workers: int | None,
    on_error: str,
    pin: ContextPin | None = None,
) -> list[Any]:
    asked = mechanism
    if mechanism is None:
        mechanism = default_mechanism(key, DEFAULT_SIGN, SIGN)
    p = plan(key, mechanism, SIGN)
    per_use = context_pin(key, pin, "sign_many()")
    if p.prehash is not None:
        messages = _prehashed_all(p, messages)
    size = key.cache.sizes.get(asked, 0) if asked is None or isinstance(asked, int) else 0
    gate = key.session.channel.gate
    if per_use is not None:  # every item logs in (in C, after its C_SignInit); the batch runs on one session
        return _batch(key, p, SIGN, "sign_many", workers, on_error, p.native, key.handle, messages, size, gate=gate,
                      pin=per_use)
    return _batch(key, p, SIGN, "sign_many", workers, on_error, p.native, key.handle, messages, size, gate=gate)


def verify_many(
    key: KeyLike, messages: Iterable[Any], signatures: Iterable[Any], mechanism: Any, workers: int | None, on_error: str
) -> list[Any]:
    if mechanism is None:
        mechanism = default_mechanism(key, DEFAULT_SIGN, VERIFY)
    p = plan(key, mechanism, VERIFY)
    if p.prehash is not None:
        messages = _prehashed_all(p, messages)
    gate = key.session.channel.gate
    return _batch(
        key, p, VERIFY, "verify_many", workers, on_error, p.native, key.handle, messages, signatures, gate=gate
    )


def _tag_bits(tag_length: int) -> int:
    if not isinstance(tag_length, int) or isinstance(tag_length, bool):
        raise TypeError("tag_length must be an int (bytes)")
    if not 4 <= tag_length <= 16:
        raise ValueError("tag_length must be between 4 and 16 bytes")
    return 8 * tag_length


def encrypt_many(
    key: KeyLike,
    messages: Iterable[Any],
    ivs: Iterable[Any] | None,
    aad: Any,
    tag_length: int,
    iv_length: int,
    workers: int | None,
    on_error: str,
) -> list[Any]:
    tag_bits = _tag_bits(tag_length)
    if ivs is None:
        iv_length = size_arg(iv_length, "iv_length", 1, MAX_IV_LENGTH)
    p = plan(key, Mechanism.AES_GCM, ENCRYPT)
    options = {"ivs": ivs, "aad": aad, "tag_bits": tag_bits, "iv_len": iv_length, "mechanism": p.native}
    options["gate"] = key.session.channel.gate
    return _batch(key, p, ENCRYPT, "encrypt_many", workers, on_error, key.handle, messages, **options)


def decrypt_many(
    key: KeyLike, items: Iterable[Any], aad: Any, tag_length: int, workers: int | None, on_error: str
) -> list[Any]:
    tag_bits = _tag_bits(tag_length)
    p = plan(key, Mechanism.AES_GCM, DECRYPT)
    options = {"aad": aad, "tag_bits": tag_bits, "mechanism": p.native, "gate": key.session.channel.gate}
    return _batch(key, p, DECRYPT, "decrypt_many", workers, on_error, key.handle, items, **options)
