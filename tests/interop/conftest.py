"""Interop tests: p11 against real tokens other than plain SoftHSM (marker ``interop``).

Tokens come from the harness (harness.py here, not part of the wheel), one of each per test session, each in its
own temp dir, torn down at the end: p11-kit's proxy and OpenSC's pkcs11-spy in front of private SoftHSM stores,
tpm2-pkcs11 on swtpm (+ tpm2-abrmd on a private D-Bus), and openCryptoki's soft token behind its ``pkcsslotd``
(system paths: root). The checks run in a child process (``child.py``, started by ``helpers.run_check``) with the
token's environment — SoftHSM reads ``SOFTHSM2_CONF`` once per process, and p11-kit as root needs a private mount
namespace — and the tests assert on the child's exit status and the facts it reports, verifying signatures here
with ``cryptography``.

A token whose packages are missing makes its tests FAIL with the ``apt-get install`` line to run. Set
``P11_SKIP_INTEROP=1`` to skip every interop test instead (or deselect them with ``-m "not interop"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from tests.interop.harness import (
    SKIP_ENV,
    InteropToken,
    InteropUnavailable,
    OpenCryptokiToken,
    P11KitProxyToken,
    PKCS11SpyToken,
    SoftHSMStore,
    TPM2Token,
    skip_requested,
)


@pytest.fixture(scope="session", autouse=True)
def _interop_enabled() -> None:
    if skip_requested():
        pytest.skip(f"{SKIP_ENV}=1: interop tests skipped")


T = TypeVar("T", bound=InteropToken)


def _started(token: T) -> Iterator[T]:
    """Start ``token`` for the session (failing with the apt line if it cannot), stop it afterwards."""
    problem = None
    try:
        token.start()
    except InteropUnavailable as exc:
        problem = str(exc)
    if problem is not None:  # outside the except block: the message alone, no chained traceback
        pytest.fail(problem, pytrace=False)
    try:
        yield token
    finally:
        token.stop()


@pytest.fixture(scope="session")
def proxy_token() -> Iterator[P11KitProxyToken]:
    """p11-kit-proxy.so → a private SoftHSM store (``.backend``)."""
    yield from _started(P11KitProxyToken())


@pytest.fixture(scope="session")
def spy_token() -> Iterator[PKCS11SpyToken]:
    """pkcs11-spy.so → a private SoftHSM store; every call logged to ``.log_path``."""
    yield from _started(PKCS11SpyToken())


@pytest.fixture(scope="session")
def tpm2_token() -> Iterator[TPM2Token]:
    """tpm2-pkcs11 on swtpm through tpm2-abrmd on a private D-Bus."""
    yield from _started(TPM2Token())


@pytest.fixture(scope="module")
def ock_token() -> Iterator[OpenCryptokiToken]:
    """openCryptoki's soft token behind a pkcsslotd this harness started (system paths: needs root). Per module,
    not per session: only one pkcsslotd can run, and the harness tests start and stop their own."""
    yield from _started(OpenCryptokiToken())


@pytest.fixture(scope="session")
def softhsm_store() -> Iterator[SoftHSMStore]:
    """A plain private SoftHSM store, the second module of the two-modules test."""
    yield from _started(SoftHSMStore(label="p11-interop-second", user_pin="second-user-1618"))
