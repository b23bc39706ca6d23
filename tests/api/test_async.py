"""asyncio: ``await key.sign_async(...)`` and friends run on the token's pool threads, bounded by the pool.

The bound is checked through the pool's own counters (never more sessions than ``max_size``); no test measures
time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator

import pytest

from p11 import errors
from p11.api.objects import SecretKey
from p11.api.token import Token
from p11.constants import KeyType, Mechanism
from p11.mechanisms import GCM
from p11.testing import SoftHSM
from tests.support import HMAC_VALUE, mac, token_with_keys


@pytest.fixture
def token(softhsm: SoftHSM) -> Iterator[Token]:
    """A token of the test's own, its pool of 2 logged in, with an HMAC key (label "hmac")."""
    with token_with_keys(softhsm, "async", max_size=2) as keys:
        yield keys.token


def test_thousand_concurrent_sign_async_on_a_pool_of_two_all_verify(token: Token) -> None:
    key = token.get_key(label="hmac")
    public, private = token.generate_keypair(KeyType.EC, token=False)
    messages = [b"async %d" % i for i in range(1000)]

    async def main() -> tuple[list[bytes], list[bool], list[bytes]]:
        macs = await asyncio.gather(*(key.sign_async(m) for m in messages))
        verdicts = await asyncio.gather(*(key.verify_async(m, s) for m, s in zip(messages, macs, strict=True)))
        ecdsa = await asyncio.gather(*(private.sign_async(m, Mechanism.ECDSA_SHA256) for m in messages[:200]))
        return macs, verdicts, ecdsa

    macs, verdicts, ecdsa = asyncio.run(main())
    assert macs == [mac(m) for m in messages]
    assert verdicts == [True] * 1000
    assert public.verify_many(messages[:200], ecdsa, Mechanism.ECDSA_SHA256) == [True] * 200
    pool = token.pool
    assert pool.max_size == 2 and pool.size <= 2 and pool.in_use == 0


def test_batches_async(token: Token) -> None:
    key = token.get_key(label="hmac")
    messages = [b"batch %d" % i for i in range(100)]

    async def main() -> tuple[list[list[bytes]], list[bool]]:
        batches = await asyncio.gather(*(key.sign_many_async(messages[i::4]) for i in range(4)))
        verdicts = await key.verify_many_async(messages, [mac(m) for m in messages], workers=2)
        return batches, verdicts

    batches, verdicts = asyncio.run(main())
    assert batches == [[mac(m) for m in messages[i::4]] for i in range(4)]
    assert verdicts == [True] * 100


def test_encrypt_and_decrypt_async(token: Token) -> None:
    aes = token.generate_key(KeyType.AES, 256, token=False)
    assert isinstance(aes, SecretKey)
    iv = token.generate_random(12)

    async def main() -> tuple[bytes, list[bytes]]:
        ciphertext = await aes.encrypt_async(b"plain", GCM(iv))
        plain = await aes.decrypt_async(ciphertext, GCM(iv))
        pairs = await aes.encrypt_many_async([b"a", b"b"])
        return plain, await aes.decrypt_many_async(pairs)

    plain, many = asyncio.run(main())
    assert plain == b"plain" and many == [b"a", b"b"]


def test_errors_come_out_of_the_await(token: Token) -> None:
    key = token.get_key(label="hmac")

    async def main() -> None:
        with pytest.raises(errors.MechanismNotSupported):
            await key.sign_async(b"x", Mechanism.SHA3_512_HMAC)
        with pytest.raises(errors.SignatureInvalid):
            await asyncio.gather(*(token.pool.run_async(key.verify, b"x", bytes(32)) for _ in range(3)))
        assert await key.verify_async(b"x", bytes(32)) is False

    asyncio.run(main())


def test_awaits_started_together_are_signed_together_each_with_its_own_result(
    token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One loop turn starts signatures for two keys and two mechanisms, one of them failing, one cancelled: each
    group becomes one batch on the pool (sign_many, counted through it), and every await gets exactly its own
    signature or its own error."""
    hmac_key = token.get_key(label="hmac")
    public, rsa = token.generate_keypair(KeyType.RSA, 2048, token=False)
    calls: list[int] = []
    sign_many = type(hmac_key).sign_many

    def counting(self: SecretKey, messages: list[bytes], *args: object, **kwargs: object) -> list[object]:
        calls.append(len(messages))
        return sign_many(self, messages, *args, **kwargs)  # type: ignore[arg-type]

    messages = [b"together %d" % i for i in range(40)]
    too_long = b"x" * 300  # more than RSA_PKCS can sign with a 2048-bit key: this await alone fails

    async def main() -> list[object]:
        macs = [hmac_key.sign_async(m, Mechanism.SHA256_HMAC) for m in messages]
        sha1 = hmac_key.sign_async(b"other mechanism", Mechanism.SHA_1_HMAC)
        raw = [rsa.sign_async(m, Mechanism.RSA_PKCS) for m in (b"short", too_long, b"also short")]
        dropped = hmac_key.sign_async(b"never wanted", Mechanism.SHA256_HMAC)
        dropped.cancel()
        return list(await asyncio.gather(*macs, sha1, *raw, return_exceptions=True))

    for cls in (type(hmac_key), type(rsa)):
        monkeypatch.setattr(cls, "sign_many", counting)
    results = asyncio.run(main())
    monkeypatch.undo()
    assert results[:40] == [mac(m) for m in messages]
    assert results[40] == hmac.new(HMAC_VALUE, b"other mechanism", hashlib.sha1).digest()
    ok1, failed, ok2 = results[41:]
    assert isinstance(failed, errors.CryptokiError) and "batch item 1" in str(failed)
    assert failed.rv != 0 and failed.function == "C_Sign"  # SoftHSM refuses the over-long input (GENERAL_ERROR)
    for message, signature in ((b"short", ok1), (b"also short", ok2)):
        assert isinstance(signature, bytes)
        assert public.verify_ok(message, signature, Mechanism.RSA_PKCS)
    assert sorted(calls) == [3, 41]  # the HMAC group (40 + the cancelled one) and the RSA group: one batch each
