"""Fixtures of the pytest-benchmark suite (``python -m pytest benchmarks -p no:cacheprovider``).

The suite measures p11 alone, in this process, on the same throwaway token and keys as the runner
(:func:`benchmarks.setup_token.bench_token`): the runner is the side-by-side comparison with the C floor and the
peers, this suite is the quick look at p11 that pytest-benchmark can compare across commits
(``--benchmark-autosave`` / ``--benchmark-compare``). With ``--benchmark-disable`` every benchmark runs once, as a
functional check of the same calls.

Run it on its own: SoftHSM reads its configuration once per process, so the token must be set up before anything
in the process loads the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from benchmarks import spec
from benchmarks.setup_token import SetupError, bench_token


@dataclass(frozen=True)
class Bench:
    """The token logged in through its pool, the spec's keys (pooled), and an explicit session."""

    library: Any
    token: Any
    session: Any
    ec: Any
    ec_public: Any
    rsa: Any
    rsa_public: Any
    hmac: Any
    aes: Any


@pytest.fixture(scope="session")
def bench() -> Iterator[Bench]:
    try:
        context = bench_token()
        store = context.__enter__()
    except SetupError as exc:
        pytest.skip(f"no benchmark token: {exc}")
    try:
        import p11
        from p11.constants import ObjectClass

        library = p11.load(store.module_path)
        if not library.tokens(label=store.label):
            pytest.skip("SoftHSM was loaded in this process before the benchmark token existed: run benchmarks alone")
        token = library.get_token(label=store.label)
        token.login(store.user_pin)
        private, public, secret = ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY, ObjectClass.SECRET_KEY
        session = token.open()
        yield Bench(
            library=library,
            token=token,
            session=session,
            ec=token.get_key(label=spec.EC_KEY.label, object_class=private),
            ec_public=token.get_key(label=spec.EC_KEY.label, object_class=public),
            rsa=token.get_key(label=spec.RSA_KEY.label, object_class=private),
            rsa_public=token.get_key(label=spec.RSA_KEY.label, object_class=public),
            hmac=token.get_key(label=spec.HMAC_KEY.label, object_class=secret),
            aes=token.get_key(label=spec.AES_KEY.label, object_class=secret),
        )
        session.close()
        library.close()
    finally:
        context.__exit__(None, None, None)
