"""Fixtures for the high-level API tests, loaded by ``pytest_plugins = ["highlevel_fixtures"]`` in each test module.

``hl_library`` (``p11.load`` on the session's SoftHSM), ``hl_token`` (its first token), ``hl_session`` (a read-write
session logged in as the user, per test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from highlevel_helpers import USER_PIN

from p11.api.library import Library, load
from p11.api.session import Session
from p11.api.token import Token
from p11.testing import SoftHSM


@pytest.fixture(scope="session")
def hl_library(softhsm: SoftHSM) -> Library:
    return load(softhsm.module_path)


@pytest.fixture(scope="session")
def hl_token(hl_library: Library, softhsm: SoftHSM) -> Token:
    return hl_library.get_token(label=softhsm.label)


@pytest.fixture
def hl_session(hl_token: Token) -> Iterator[Session]:
    with hl_token.open(user_pin=USER_PIN, rw=True) as session:
        yield session
