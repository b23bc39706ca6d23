"""Keys of an explicit session that was closed: every path raises SessionClosed, and nothing reaches the token.

Once a key's plan is cached, ``sign_many(workers>1)`` and gathered ``sign_async`` used to carry on through a private
pool with the key's handle (on a module that reuses handles it could name another key). Here every operation, in
every form (one-shot, multi-part and streamed, batched with one or several workers, asyncio single and gathered),
is tried on a closed session after a first successful call cached its plan and one-crossing call. The fault shim
counts the calls that reach SoftHSM: not one operation call, and no session opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from p11 import errors
from p11.api.session import Session
from p11.constants import Mechanism, ObjectClass
from p11.mechanisms import CBC
from tests.support import Faulty

HMAC = Mechanism.SHA256_HMAC
MESSAGES = [b"m%d" % i for i in range(40)]
OPERATION_CALLS = [
    "C_SignInit", "C_Sign", "C_SignUpdate", "C_SignFinal", "C_VerifyInit", "C_Verify", "C_VerifyUpdate",
    "C_VerifyFinal", "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_DecryptInit", "C_Decrypt",
    "C_DecryptUpdate", "C_DigestInit", "C_Digest", "C_DigestUpdate", "C_GenerateRandom", "C_OpenSession",
    "C_GetAttributeValue", "C_FindObjectsInit",
]


class Keys:
    """Keys found in an explicit session, each used once in every form (so plans and fast calls are cached)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.hmac = session.get_key(label="hmac")
        self.aes = session.get_key(label="aes")
        self.ec = session.get_key(label="ec", object_class=ObjectClass.PRIVATE_KEY)
        self.ec_public = session.get_key(label="ec", object_class=ObjectClass.PUBLIC_KEY)
        tags = self.hmac.sign_many(MESSAGES, HMAC, workers=2)
        self.tags = tags
        assert self.hmac.verify_many(MESSAGES, tags, HMAC, workers=2) == [True] * len(MESSAGES)
        self.sealed = self.aes.encrypt_many(MESSAGES, workers=2)
        assert self.aes.decrypt_many(self.sealed, workers=2) == MESSAGES
        self.hmac.sign(b"x", HMAC)
        self.ec.sign(b"x")
        self.iv = bytes(16)
        self.ciphertext = self.aes.encrypt(b"y" * 32, CBC(self.iv))


@pytest.fixture
def closed(faulty: Faulty) -> Iterator[tuple[Faulty, Keys]]:
    session = faulty.token.open()
    keys = Keys(session)
    session.close()
    faulty.shim.configure("")  # counters from zero: whatever reaches SoftHSM from here on is counted
    yield faulty, keys
    reached = {name: faulty.shim.calls(name) for name in OPERATION_CALLS if faulty.shim.calls(name)}
    assert not reached, f"calls reached the token through a closed session: {reached}"


def _with_workers(name: str, workers: int | None) -> Callable[[Keys], Any]:
    """``name`` (a batch) on the closed session's keys with ``workers``."""

    def call(k: Keys) -> Any:
        if name == "sign_many":
            return k.hmac.sign_many(MESSAGES, HMAC, workers=workers)
        if name == "verify_many":
            return k.hmac.verify_many(MESSAGES, k.tags, HMAC, workers=workers)
        if name == "encrypt_many":
            return k.aes.encrypt_many(MESSAGES, workers=workers)
        return k.aes.decrypt_many(k.sealed, workers=workers)

    return call


CALLS: dict[str, Callable[[Keys], Any]] = {
    "sign": lambda k: k.hmac.sign(b"x", HMAC),
    "sign ECDSA (software hash)": lambda k: k.ec.sign(b"x"),
    "sign multi-part": lambda k: k.hmac.sign(iter([b"a", b"b"]), HMAC),
    "verify": lambda k: k.hmac.verify(b"x", k.tags[0], HMAC),
    "verify multi-part": lambda k: k.hmac.verify(iter([b"a", b"b"]), k.tags[0], HMAC),
    "encrypt": lambda k: k.aes.encrypt(b"y" * 32, CBC(k.iv)),
    "encrypt multi-part": lambda k: k.aes.encrypt(iter([b"y" * 16, b"y" * 16]), CBC(k.iv)),
    "encrypt_stream": lambda k: list(k.aes.encrypt_stream([b"y" * 16], CBC(k.iv))),
    "decrypt": lambda k: k.aes.decrypt(k.ciphertext, CBC(k.iv)),
    "decrypt_stream": lambda k: list(k.aes.decrypt_stream([k.ciphertext], CBC(k.iv))),
    "digest": lambda k: k.session.digest(b"x"),
    "digest multi-part": lambda k: k.session.digest(iter([b"a", b"b"])),
    "generate_random": lambda k: k.session.generate_random(8),
    "attribute": lambda k: k.hmac.label,
    "find": lambda k: list(k.session.find(label="hmac")),
    **{f"sign_many workers={w}": _with_workers("sign_many", w) for w in (1, 2, None)},
    **{f"verify_many workers={w}": _with_workers("verify_many", w) for w in (1, 2, None)},
    **{f"encrypt_many workers={w}": _with_workers("encrypt_many", w) for w in (1, 4)},
    **{f"decrypt_many workers={w}": _with_workers("decrypt_many", w) for w in (1, 4)},
    "sign_many on_error=return": lambda k: k.hmac.sign_many(MESSAGES, HMAC, workers=2, on_error="return"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_every_path_raises_session_closed(closed: tuple[Faulty, Keys], name: str) -> None:
    _, keys = closed
    with pytest.raises(errors.SessionClosed, match="was closed"):
        CALLS[name](keys)


ASYNC: dict[str, Callable[[Keys], Any]] = {
    "sign_async": lambda k: k.hmac.sign_async(b"x", HMAC),
    "verify_async": lambda k: k.hmac.verify_async(b"x", k.tags[0], HMAC),
    "encrypt_async": lambda k: k.aes.encrypt_async(b"y" * 32, CBC(k.iv)),
    "decrypt_async": lambda k: k.aes.decrypt_async(k.ciphertext, CBC(k.iv)),
    "sign_many_async": lambda k: k.hmac.sign_many_async(MESSAGES, HMAC, workers=2),
    "encrypt_many_async": lambda k: k.aes.encrypt_many_async(MESSAGES, workers=2),
}


@pytest.mark.parametrize("name", list(ASYNC))
def test_every_async_form_raises_session_closed(closed: tuple[Faulty, Keys], name: str) -> None:
    _, keys = closed

    async def main() -> None:
        await asyncio.wait_for(ASYNC[name](keys), 10)

    with pytest.raises(errors.SessionClosed):
        asyncio.run(main())


def test_gathered_sign_async_raises_session_closed_for_every_await(closed: tuple[Faulty, Keys]) -> None:
    """Awaits started in one loop turn are signed as one sign_many on several sessions: each await gets the error."""
    _, keys = closed

    async def main() -> list[Any]:
        awaits = [keys.hmac.sign_async(m, HMAC) for m in MESSAGES]
        return await asyncio.wait_for(asyncio.gather(*awaits, return_exceptions=True), 10)

    results = asyncio.run(main())
    assert len(results) == len(MESSAGES)
    assert all(isinstance(r, errors.SessionClosed) for r in results), {type(r).__name__ for r in results}


def test_close_waits_for_a_parallel_batch_then_the_next_one_is_refused(faulty: Faulty) -> None:
    """Closing from another thread while a parallel batch runs: the batch holds the session, so the close waits for
    it (the batch completes with the right tags) and later batches are refused."""
    import threading

    session = faulty.token.open()
    key = session.get_key(label="hmac")
    expected = key.sign(b"m", HMAC)
    outcome: list[Any] = []

    def batch() -> None:
        outcome.append(key.sign_many([b"m"] * 20000, HMAC, workers=2))

    worker = threading.Thread(target=batch)
    worker.start()
    while not faulty.shim.calls("C_Sign"):
        pass
    session.close()
    worker.join(60)
    assert not worker.is_alive()
    assert outcome and outcome[0] == [expected] * 20000
    with pytest.raises(errors.SessionClosed):
        key.sign_many([b"m"] * 10, HMAC, workers=2)
