"""Fixtures of the ``p11.crypto`` tests: sessions on tokens of their own, so that no other test logs them out.

``hsm``: a logged-in read-write session for a whole test module, on SoftHSM's spare slot initialised for it; the
keys a module makes on it are session objects, gone when it closes. ``fresh_hsm``: the same for one test, on a new
token, for tests that make token objects and count them. ``rsa_key``, ``ec_key``: software keys (RSA-2048, P-256)
for a test module to import, export and compare with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from p11.api.library import load
from p11.api.session import Session
from p11.testing import SoftHSM
from tests.support import SO_PIN, USER_PIN, init_spare_token, unique_label


@pytest.fixture(scope="module")
def hsm(softhsm: SoftHSM) -> Iterator[Session]:
    token = init_spare_token(load(softhsm.module_path), unique_label("crypto"), SO_PIN, USER_PIN)
    with token.open(user_pin=USER_PIN, rw=True) as session:
        yield session


@pytest.fixture
def fresh_hsm(softhsm: SoftHSM, make_token: Callable[..., Any]) -> Iterator[Session]:
    fresh = make_token()
    token = load(softhsm.module_path).get_token(label=fresh.label)
    with token.open(user_pin=fresh.user_pin, rw=True) as session:
        yield session


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())
