"""pytest plugin (entry point ``p11``): fixtures that give tests a real, throwaway SoftHSM2 token.

``p11_softhsm`` is one store for the whole test session (SoftHSM reads ``SOFTHSM2_CONF`` once per process, at
``C_Initialize``); ``p11_token`` is a fresh token in it for each test that asks, so tests that change PINs or fill a
token do not disturb the others. Users get the same fixtures by installing p11: nothing to configure.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from p11.testing.softhsm import SoftHSM, SoftHSMNotFound, TokenSpec

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def p11_softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """A SoftHSM2 store with one initialised token (label ``p11-test``, user PIN ``1234``, SO PIN ``12345678``)."""
    try:
        hsm = SoftHSM(tmp_path_factory.mktemp("softhsm"))
    except SoftHSMNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    with hsm:
        yield hsm


@pytest.fixture
def p11_token(p11_softhsm: SoftHSM) -> TokenSpec:
    """A new token, just for this test, in the session's SoftHSM store (made in-process: a loaded module sees it)."""
    return p11_softhsm.add_token(f"p11-test-{next(_counter)}", user_pin="1234", so_pin="12345678")
