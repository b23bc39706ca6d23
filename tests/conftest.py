"""Fixtures that tests of several areas use: one SoftHSM store, the low-level module loaded on it, sessions, fresh
tokens; the library (``p11.load``) on the store and its first token; the ``p11`` command's own store; the fault shim.

The tests are laid out as the source is: ``tests/<area>/`` (lowlevel, native, api, open, lifetime, faults, crypto,
pki, aws, cli, integrations, trust, uri, ...), each with a ``conftest.py`` for the fixtures only its tests use and
helper modules named for what they hold; ``tests.support`` holds what every area imports by name (the PINs,
``unique_label``, ``token_with_keys``, child processes, valgrind). Test modules import helpers as ``tests.<...>``
from any working directory: ``tests`` is a package, and pytest puts the checkout on ``sys.path`` for it.

The store comes from the ``p11`` pytest plugin (``p11_softhsm``, one per test session: SoftHSM reads its
configuration once per process); fresh tokens come from its ``add_token`` (``C_InitToken`` in-process).

Every run is shuffled across modules (pytest-random-order, ``--random-order-bucket=global`` in pyproject.toml; the
seed is in the header: repeat an order with ``--random-order-seed=N``, file order with
``--random-order-bucket=none``), and the suite must pass in any order. So a test never counts on what another left,
and a fixture that adds a token labels it ``unique_label("what")`` (tests.support) at every set-up: a module fixture
is set up again whenever the order interleaves modules, and a second token with the same label is ambiguous (the
rule in full: ``tests.support.unique_label``; tests/project/test_order.py checks it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from p11 import errors, lowlevel
from p11._cffi import lib
from p11.api.library import Library, load
from p11.api.session import Session
from p11.api.token import Token
from p11.testing import SoftHSM
from tests.faults.faultmod import FaultModule, build
from tests.support import (
    SECRET_PIN,
    SO_PIN,
    USER_PIN,
    Faulty,
    FreshToken,
    openssl,
    token_with_keys,
    unique_label,
)
from tests.support.cli import CLI


def find_slot(module: lowlevel.Module, label: str) -> int:
    """The slot holding the token labelled ``label`` (SoftHSM renumbers slots when it is re-initialised)."""
    for slot in module.C_GetSlotList(True):
        if module.C_GetTokenInfo(slot).label == label:
            return slot
    raise LookupError(f"no token labelled {label!r}")


@pytest.fixture(scope="session")
def softhsm(p11_softhsm: SoftHSM) -> SoftHSM:
    """The session's SoftHSM store; its first token is labelled ``softhsm.label`` (PINs USER_PIN and SO_PIN)."""
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
        spec = softhsm.add_token(label or unique_label("fresh"), user_pin, so_pin)
        return FreshToken(find_slot(module, spec.label), spec.label, spec.user_pin, spec.so_pin)

    return make


@pytest.fixture
def fresh_token(make_token: Callable[..., FreshToken]) -> FreshToken:
    """One new token just for this test."""
    return make_token()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> CLI:
    """A SoftHSM store of its own for subprocess runs of the ``p11`` command (tests/support/cli.py)."""
    return CLI(tmp_path_factory.mktemp("cli-softhsm"))


@pytest.fixture(scope="session")
def library(softhsm: SoftHSM) -> Library:
    """``p11.load`` on the store (the high-level API's Library)."""
    return load(softhsm.module_path)


@pytest.fixture(scope="session")
def token(library: Library, softhsm: SoftHSM) -> Token:
    """The store's first token, through ``library``."""
    return library.get_token(label=softhsm.label)


@pytest.fixture
def api_session(token: Token) -> Iterator[Session]:
    """A read-write ``p11.api`` session on the first token, logged in as the user; closed afterwards."""
    with token.open(user_pin=USER_PIN, rw=True) as session:
        yield session


@pytest.fixture(scope="session")
def shim(softhsm: SoftHSM) -> FaultModule:
    """The fault-injecting module (``native/faultmod``, built under build/faultmod) in front of the store."""
    return FaultModule(build(), softhsm.module_path)


@pytest.fixture
def faulty(shim: FaultModule, softhsm: SoftHSM) -> Iterator[Faulty]:
    """A new token seen through the shim, logged in with ``keep_pin=True`` (so the pool may log in again), with the
    keys of ``token_with_keys`` (HMAC, AES, EC); no rules yet.

    On the way out it checks that every session opened through the shim was closed again (the shim counts them:
    SoftHSM reports no session count), after the rules are cleared and the token's pool closed."""
    shim.configure("")
    baseline = shim.open_sessions()
    with token_with_keys(softhsm, "faulty", pin=SECRET_PIN, module_path=shim.path, keep_pin=True) as keys:
        # An explicit session held throughout: SoftHSM forgets every object handle (and the login) when a token's
        # last session closes, so a pool replacing its only session would otherwise meet that instead of what is
        # tested.
        keeper = keys.token.open()
        yield Faulty(shim, keys.token, keys.label, keys.hmac, keys.ec_private, keys.ec_public, keeper, keys.aes)
        shim.configure("")
        keeper.close()
    assert shim.open_sessions() == baseline, "a session opened through the shim was left open"


@pytest.fixture(scope="session")
def openssl_env(softhsm: SoftHSM, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for ``openssl -engine pkcs11``: the SoftHSM store, and a private config naming the module (an
    ``OPENSSL_CONF`` of its own: nothing system-wide is changed)."""
    engines = openssl("version", "-e").stdout.split('"')[1]  # ENGINESDIR: "/usr/lib/<triplet>/engines-3"
    engine = Path(engines) / "pkcs11.so"
    assert engine.is_file(), f"{engine} is missing: install libengine-pkcs11-openssl (scripts/setup.sh does)"
    conf = tmp_path_factory.mktemp("openssl") / "openssl.cnf"
    conf.write_text(
        "openssl_conf = openssl_init\n"
        "[openssl_init]\nengines = engine_section\n"
        "[engine_section]\npkcs11 = pkcs11_section\n"
        f"[pkcs11_section]\nengine_id = pkcs11\ndynamic_path = {engine}\nMODULE_PATH = {softhsm.module_path}\n"
        "init = 0\n",
        encoding="utf-8",
    )
    return {**softhsm.env, "OPENSSL_CONF": str(conf)}
