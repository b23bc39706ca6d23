"""Fixtures of the ``p11.api`` tests (``library``, ``token`` and ``api_session`` are in tests/conftest.py: the aws
and pki tests use them too).

``session`` here is one read-write session on the store's first token, logged in as the user, for a whole test
module and the session objects its module-scoped fixtures make (gone with the session). In this folder it stands in
for the low-level ``session`` handle of tests/conftest.py; a test that logs out or closes its session takes
``api_session``, a session of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from p11.api.session import Session
from p11.api.token import Token
from tests.support import USER_PIN


@pytest.fixture(scope="module")
def session(token: Token) -> Iterator[Session]:
    with token.open(user_pin=USER_PIN, rw=True) as opened:
        yield opened
