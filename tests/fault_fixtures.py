"""Fixtures for the fault-injection tests (``pytest_plugins = ["fault_fixtures"]``): the shim built from
``native/faultmod`` in front of the session's SoftHSM, and a fresh token per test reached through it.

``faulty`` checks on the way out that every session opened through the shim was closed again (the shim counts
them: SoftHSM reports no session count), after the rules are cleared and the token's pool closed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from fault_support import FAULT_PIN, HMAC_VALUE, Faulty, build_shim
from support import add_hmac_key

import p11
from p11.constants import KeyType
from p11.testing import SoftHSM
from p11.testing.faults import FaultModule

_labels = itertools.count(1)


@pytest.fixture(scope="session")
def shim(softhsm: SoftHSM) -> FaultModule:
    return FaultModule(build_shim(), softhsm.module_path)


@pytest.fixture
def faulty(shim: FaultModule, softhsm: SoftHSM) -> Iterator[Faulty]:
    """A new token seen through the shim, logged in with ``keep_pin=True`` (so the pool may log in again), with an
    HMAC key of known value and an EC pair; no rules yet."""
    shim.configure("")
    baseline = shim.open_sessions()
    spec = softhsm.add_token(f"faulty-{next(_labels)}", user_pin=FAULT_PIN)
    token = p11.load(shim.path).get_token(label=spec.label)
    token.login(FAULT_PIN, keep_pin=True)
    secret = add_hmac_key(token, HMAC_VALUE)
    public, private = token.generate_keypair(KeyType.EC, label="ec")
    aes = token.generate_key(KeyType.AES, 256, label="aes")
    # An explicit session held throughout: SoftHSM forgets every object handle (and the login) when a token's last
    # session closes, so a pool replacing its only session would otherwise meet that instead of what is tested.
    keeper = token.open()
    yield Faulty(shim, token, spec.label, secret, private, public, keeper, aes)
    shim.configure("")
    keeper.close()
    token.close_pool()
    assert shim.open_sessions() == baseline, "a session opened through the shim was left open"
