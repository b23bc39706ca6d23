"""Fixtures shared by every test: one SoftHSM store, the low-level module loaded on it, sessions, fresh tokens.

The store comes from the ``p11`` pytest plugin (``p11_softhsm``, one per test session: SoftHSM reads its
configuration once per process); fresh tokens come from its ``add_token`` (``C_InitToken`` in-process).

Every run is shuffled across modules (pytest-random-order, ``--random-order-bucket=global`` in pyproject.toml; the
seed is in the header: repeat an order with ``--random-order-seed=N``, file order with
``--random-order-bucket=none``), and the suite must pass in any order. So a test never counts on what another left,
and a fixture that adds a token labels it ``support.unique_label("what")`` at every set-up: a module fixture is set
up again whenever the order interleaves modules, and a second token with the same label is ambiguous (the rule in
full: ``support.unique_label``; tests/test_order.py checks it).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from p11 import errors, lowlevel
from p11._cffi import lib
from p11.testing import SoftHSM

SO_PIN = "12345678"
USER_PIN = "1234"

_labels = itertools.count(1)


@dataclass(frozen=True)
class FreshToken:
    """A token made for one test: its slot, label and PINs (``repr`` leaves the PINs out)."""

    slot: int
    label: str
    user_pin: str = field(repr=False)
    so_pin: str = field(repr=False)


def find_slot(module: lowlevel.Module, label: str) -> int:
    """The slot holding the token labelled ``label`` (SoftHSM renumbers slots when it is re-initialised)."""
    for slot in module.C_GetSlotList(True):
        if module.C_GetTokenInfo(slot).label == label:
            return slot
    raise LookupError(f"no token labelled {label!r}")


@pytest.fixture(scope="session")
def softhsm(p11_softhsm: SoftHSM) -> SoftHSM:
    """The session's SoftHSM store; its first token is labelled ``softhsm.label`` (PINs ``1234``/``12345678``)."""
    return p11_softhsm


@pytest.fixture(scope="session")
def module(softhsm: SoftHSM) -> lowlevel.Module:
    """``p11.lowlevel.Module`` on SoftHSM, initialised once for the whole run (finalised at exit)."""
    return lowlevel.load(softhsm.module_path)


@pytest.fixture(scope="session")
def slot(module: lowlevel.Module, softhsm: SoftHSM) -> int:
    """The slot of the store's first token."""
    return find_slot(module, softhsm.label)


@pytest.fixture
def session(module: lowlevel.Module, slot: int) -> Iterator[int]:
    """A read-write session on the first token, not logged in; closed afterwards."""
    handle = module.C_OpenSession(slot, lib.CKF_RW_SESSION)
    yield handle
    with contextlib.suppress(errors.SessionError):  # the test closed it itself
        module.C_CloseSession(handle)


@pytest.fixture
def user_session(module: lowlevel.Module, session: int, softhsm: SoftHSM) -> Iterator[int]:
    """A read-write session logged in as the normal user (login state is per token: logged out afterwards)."""
    module.C_Login(session, lib.CKU_USER, softhsm.user_pin)
    yield session
    with contextlib.suppress(errors.LoginError, errors.SessionError):
        module.C_Logout(session)


@pytest.fixture(name="find_slot")
def find_slot_fixture(module: lowlevel.Module) -> Callable[[str], int]:
    """``find_slot(label)``: the slot of a token by label (slot ids change when SoftHSM re-initialises)."""
    return lambda label: find_slot(module, label)


@pytest.fixture
def make_token(module: lowlevel.Module, softhsm: SoftHSM) -> Callable[..., FreshToken]:
    """A factory of new tokens for tests that lock PINs, change them or re-initialise the token."""

    def make(label: str | None = None, user_pin: str = USER_PIN, so_pin: str = SO_PIN) -> FreshToken:
        spec = softhsm.add_token(label or f"fresh-{next(_labels)}", user_pin, so_pin)
        return FreshToken(find_slot(module, spec.label), spec.label, spec.user_pin, spec.so_pin)

    return make


@pytest.fixture
def fresh_token(make_token: Callable[..., FreshToken]) -> FreshToken:
    """One new token just for this test."""
    return make_token()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A SoftHSM store of its own for subprocess runs of the ``p11`` command (tests/cli_support.py)."""
    from cli_support import CLI

    return CLI(tmp_path_factory.mktemp("cli-softhsm"))
