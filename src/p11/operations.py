"""Key operations on data, single-shot and streaming: sign/verify (MACs too), encrypt/decrypt, digest.

Data is single-shot when it is bytes-like, streamed (``C_*Update`` per chunk) when it is an iterable of chunks or
a binary file object. Mechanisms that cannot run in parts (raw RSA, ECDSA, EdDSA, key wrap) get the chunks joined;
a hash-then-sign mechanism the token lacks is hashed in software chunk by chunk (see :mod:`p11.plans`). If anything
fails after an operation began, including the caller's iterable raising, the operation is ended on the token before
the exception propagates, so the session stays usable.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from p11.errors import SignatureError
from p11.mechanisms import digest_info
from p11.plans import (
    DECRYPT,
    DEFAULT_SIGN,
    DIGEST,
    ENCRYPT,
    SIGN,
    VERIFY,
    Operation,
    Plan,
    default_mechanism,
    plan,
    run_init,
)

if TYPE_CHECKING:
    from p11.objects import Key
    from p11.session import Session

__all__ = [
    "CHUNK_SIZE",
    "as_block",
    "crypt_stream",
    "decrypt",
    "digest",
    "encrypt",
    "sign",
    "verify",
    "verify_ok",
]

CHUNK_SIZE = 1 << 16
"""Bytes read per ``read()`` from a file object being streamed."""


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


# -- sign and verify --------------------------------------------------------------------------------------------


def sign(key: Key, data: Any, mechanism: Any = None) -> bytes:
    if mechanism is None:
        mechanism = default_mechanism(key, DEFAULT_SIGN, SIGN)
    p = plan(key, mechanism, SIGN)
    single = as_block(data)
    session = key.session
    mod = session._module
    with session._lock:
        h = session.handle
        if p.prehash is not None or not p.multipart or single is not None:
            if p.prehash is not None:
                block = _hashed(p, data, single)
            else:
                block = single if single is not None else _joined(data)
            run_init(mod.C_SignInit, h, p, key, SIGN)
            try:
                return mod.C_Sign(h, block)
            except BaseException:
                _abort(mod.C_SignFinal, h)
                raise
        run_init(mod.C_SignInit, h, p, key, SIGN)
        try:
            for chunk in _chunks(data):
                mod.C_SignUpdate(h, chunk)
            return mod.C_SignFinal(h)
        except BaseException:
            _abort(mod.C_SignFinal, h)
            raise


def verify(key: Key, data: Any, signature: Any, mechanism: Any = None) -> None:
    if mechanism is None:
        mechanism = default_mechanism(key, DEFAULT_SIGN, VERIFY)
    p = plan(key, mechanism, VERIFY)
    if as_block(signature) is None:
        raise TypeError(f"signature must be bytes-like, not {type(signature).__name__}")
    single = as_block(data)
    session = key.session
    mod = session._module
    with session._lock:
        h = session.handle
        if p.prehash is not None or not p.multipart or single is not None:
            if p.prehash is not None:
                block = _hashed(p, data, single)
            else:
                block = single if single is not None else _joined(data)
            run_init(mod.C_VerifyInit, h, p, key, VERIFY)
            try:
                mod.C_Verify(h, block, signature)
            except SignatureError:
                raise  # C_Verify always ends the operation when it answers about the signature
            except BaseException:
                _abort(mod.C_VerifyFinal, h, b"")
                raise
            return
        run_init(mod.C_VerifyInit, h, p, key, VERIFY)
        try:
            for chunk in _chunks(data):
                mod.C_VerifyUpdate(h, chunk)
        except BaseException:
            _abort(mod.C_VerifyFinal, h, b"")
            raise
        try:
            mod.C_VerifyFinal(h, signature)
        except SignatureError:
            raise
        except BaseException:
            _abort(mod.C_VerifyFinal, h, b"")
            raise


def verify_ok(key: Key, data: Any, signature: Any, mechanism: Any = None) -> bool:
    try:
        verify(key, data, signature, mechanism)
    except SignatureError:
        return False
    return True


# -- encrypt and decrypt ----------------------------------------------------------------------------------------


def _crypt(key: Key, data: Any, mechanism: Any, op: Operation) -> bytes:
    if mechanism is None:
        raise TypeError(f"{op.name} needs a mechanism (e.g. GCM(iv), CBC(iv), OAEP())")
    p = plan(key, mechanism, op)
    single = as_block(data)
    session = key.session
    mod = session._module
    init, once, update, final = (
        (mod.C_EncryptInit, mod.C_Encrypt, mod.C_EncryptUpdate, mod.C_EncryptFinal)
        if op is ENCRYPT
        else (mod.C_DecryptInit, mod.C_Decrypt, mod.C_DecryptUpdate, mod.C_DecryptFinal)
    )
    with session._lock:
        h = session.handle
        if single is not None or not p.multipart:
            block = single if single is not None else _joined(data)
            run_init(init, h, p, key, op)
            try:
                return once(h, block)
            except BaseException:
                _abort(final, h)  # some tokens (SoftHSM on a bad GCM tag) leave the operation running
                raise
        run_init(init, h, p, key, op)
        out = []
        try:
            for chunk in _chunks(data):
                out.append(update(h, chunk))
            out.append(final(h))
        except BaseException:
            _abort(final, h)
            raise
        return b"".join(out)


def encrypt(key: Key, data: Any, mechanism: Any) -> bytes:
    return _crypt(key, data, mechanism, ENCRYPT)


def decrypt(key: Key, data: Any, mechanism: Any) -> bytes:
    return _crypt(key, data, mechanism, DECRYPT)


def crypt_stream(key: Key, data: Any, mechanism: Any, *, encrypt: bool) -> Iterator[bytes]:
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


def _stream(key: Key, data: Any, p: Plan, op: Operation) -> Iterator[bytes]:
    session = key.session
    mod = session._module
    init, once, update, final = (
        (mod.C_EncryptInit, mod.C_Encrypt, mod.C_EncryptUpdate, mod.C_EncryptFinal)
        if op is ENCRYPT
        else (mod.C_DecryptInit, mod.C_Decrypt, mod.C_DecryptUpdate, mod.C_DecryptFinal)
    )
    with session._lock:
        h = session.handle
        if not p.multipart:
            block = _joined(data)
            run_init(init, h, p, key, op)
            try:
                result = once(h, block)
            except BaseException:
                _abort(final, h)
                raise
            yield result
            return
        run_init(init, h, p, key, op)
        try:
            for chunk in _chunks(data):
                piece = update(h, chunk)
                if piece:
                    yield piece
            piece = final(h)
        except BaseException:
            _abort(final, h)
            raise
        if piece:
            yield piece


# -- digest -----------------------------------------------------------------------------------------------------


def digest(session: Session, data: Any, mechanism: Any) -> bytes:
    p = plan(None, mechanism, DIGEST, session)
    single = as_block(data)
    mod = session._module
    with session._lock:
        h = session.handle
        mod.C_DigestInit(h, p.arg)
        try:
            if single is not None:
                return mod.C_Digest(h, single)
            for chunk in _chunks(data):
                mod.C_DigestUpdate(h, chunk)
            return mod.C_DigestFinal(h)
        except BaseException:
            _abort(mod.C_DigestFinal, h)
            raise
