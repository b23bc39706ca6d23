"""Fixtures of the ``p11.integrations`` tests and of the library table of docs/integrations.md (helpers:
helpers.py, ssh_servers.py here).

``integ_session``: a token made for one test module, with a read-write session logged in as the user.
``token_keys``: keys generated on it (session objects), by name — ``p256``, ``p384``, ``p521``, ``rsa`` (2048),
``ed25519``, ``ed448`` — as p11's ``cryptography`` adapters. ``test_ca``: a software CA that issues certificates
for them (:class:`TestCA`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from p11.api.library import load
from p11.api.session import Session
from p11.testing import SoftHSM
from tests.integrations.helpers import KEY_SPECS, TestCA, generate
from tests.support import USER_PIN, unique_label


@pytest.fixture(scope="module")
def integ_session(softhsm: SoftHSM) -> Iterator[Session]:
    """A token just for one test module, with a read-write session logged in as the user."""
    spec = softhsm.add_token(unique_label("integ"), user_pin=USER_PIN)
    session = load(softhsm.module_path).get_token(label=spec.label).open(user_pin=USER_PIN, rw=True)
    yield session
    session.close()


@pytest.fixture(scope="module")
def token_keys(integ_session: Session) -> dict[str, Any]:
    return {name: generate(integ_session, name) for name in KEY_SPECS}


@pytest.fixture(scope="module")
def test_ca() -> TestCA:
    return TestCA()
