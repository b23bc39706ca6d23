"""pytest-benchmark: the runner's ops on p11, single calls and batches, written as a user writes them.

``python -m pytest benchmarks -p no:cacheprovider`` measures; add ``--benchmark-disable`` to run each call once as
a functional check (what CI does). Every benchmark checks what its call returned, so a fast wrong answer fails.
Groups are the runner's op names; batch benchmarks count one call of ``spec.BATCH_SIZE`` messages (divide by it for
the per-message time).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from benchmarks import spec

if TYPE_CHECKING:
    from benchmarks.conftest import Bench

SIGN_CASES = {
    "ecdsa_p256_sign": ("ec", "ECDSA", spec.DIGEST_32),
    "rsa2048_sign": ("rsa", "SHA256_RSA_PKCS", spec.DATA_64),
    "hmac_sha256_sign": ("hmac", "SHA256_HMAC", spec.DATA_64),
}


def _sign_case(bench: Bench, op: str) -> tuple[Any, Any, Any, bytes]:
    from p11.constants import Mechanism

    name, mechanism, data = SIGN_CASES[op]
    verifier = {"ec": bench.ec_public, "rsa": bench.rsa_public, "hmac": bench.hmac}[name]
    return getattr(bench, name), verifier, Mechanism[mechanism], data


@pytest.mark.parametrize("op", list(SIGN_CASES))
def test_sign(benchmark: Any, bench: Bench, op: str) -> None:
    benchmark.group = op
    key, verifier, mechanism, data = _sign_case(bench, op)
    signature = benchmark(key.sign, data, mechanism)
    assert verifier.verify_ok(data, signature, mechanism)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("op", list(SIGN_CASES))
def test_sign_many(benchmark: Any, bench: Bench, op: str, workers: int) -> None:
    benchmark.group = op
    key, verifier, mechanism, data = _sign_case(bench, op)
    messages = [data] * spec.BATCH_SIZE
    signatures = benchmark(key.sign_many, messages, mechanism, workers=workers)
    assert verifier.verify_many(messages, signatures, mechanism) == [True] * spec.BATCH_SIZE


def test_aes_gcm_encrypt_1k(benchmark: Any, bench: Bench) -> None:
    from p11.mechanisms import GCM

    benchmark.group = "aes_gcm_encrypt_1k"
    gcm = GCM(spec.GCM_IV_12, tag_length=spec.GCM_TAG_BITS // 8)  # one IV for every call: a benchmark only
    ciphertext = benchmark(bench.aes.encrypt, spec.PLAINTEXT_1K, gcm)
    assert bench.aes.decrypt(ciphertext, gcm) == spec.PLAINTEXT_1K


def test_aes_gcm_encrypt_many_1k(benchmark: Any, bench: Bench) -> None:
    benchmark.group = "aes_gcm_encrypt_1k"
    messages = [spec.PLAINTEXT_1K] * spec.BATCH_SIZE
    pairs = benchmark(bench.aes.encrypt_many, messages)  # a fresh IV per message
    assert bench.aes.decrypt_many(pairs) == messages


def test_get_attributes(benchmark: Any, bench: Bench) -> None:
    from p11.constants import Attribute, KeyType

    benchmark.group = "get_attributes"
    wanted = [Attribute.LABEL, Attribute.ID, Attribute.KEY_TYPE, Attribute.MODULUS, Attribute.VERIFY]
    attrs = benchmark(bench.rsa_public.get_attributes, wanted)
    assert attrs[Attribute.LABEL] == spec.RSA_KEY.label and attrs[Attribute.KEY_TYPE] == KeyType.RSA
    assert len(attrs[Attribute.MODULUS]) == 256 and attrs[Attribute.VERIFY] is True


def test_find_by_label(benchmark: Any, bench: Bench) -> None:
    from p11.constants import ObjectClass

    benchmark.group = "find_by_label"
    key = benchmark(bench.session.get_key, label=spec.FIND_LABEL, object_class=ObjectClass.PRIVATE_KEY)
    assert key.handle == bench.ec.handle


def test_random_32(benchmark: Any, bench: Bench) -> None:
    benchmark.group = "random_32"
    assert len(benchmark(bench.session.generate_random, spec.RANDOM_LEN)) == spec.RANDOM_LEN


def test_open_close_session(benchmark: Any, bench: Bench) -> None:
    benchmark.group = "open_close_session"
    token = bench.token
    opened = token._open_sessions

    def open_close() -> None:
        with token.open():
            pass

    benchmark(open_close)
    assert token._open_sessions == opened


def test_digest_is_what_hashlib_says(bench: Bench) -> None:
    # Not a benchmark: the suite's token computes what the rest of the world does.
    assert bench.session.digest(spec.DATA_64) == hashlib.sha256(spec.DATA_64).digest()
