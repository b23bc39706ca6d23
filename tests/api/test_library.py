"""Library → Slot → Token → Session: loading, token lookup, sessions, login state, PIN management."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from highlevel_helpers import SO_PIN, USER_PIN

from p11 import errors, lowlevel
from p11.api.library import Library, Slot, load
from p11.api.session import Session
from p11.api.token import Token
from p11.constants import Mechanism, MechanismFlag, SessionState, TokenFlag, UserType

pytest_plugins = ["highlevel_fixtures"]


def test_load_same_path_twice_gives_same_library(softhsm, hl_library, tmp_path):
    assert load(softhsm.module_path) is hl_library
    link = tmp_path / "softhsm-link.so"
    os.symlink(softhsm.module_path, link)
    assert load(link) is hl_library  # same real path
    assert hl_library.module is lowlevel.load(softhsm.module_path)
    assert "SoftHSM" in hl_library.info.manufacturer_id


def test_slots_and_tokens(hl_library, softhsm):
    slots = hl_library.slots()
    assert slots and all(isinstance(s, Slot) for s in slots)
    labels = [s.token.label for s in slots if s.token is not None]
    assert softhsm.label in labels
    slot = next(s for s in slots if s.token is not None and s.token.label == softhsm.label)
    assert slot.info.flags
    assert Mechanism.SHA256 in slot.mechanisms()
    assert slot.token is slot.token  # one Token object per token: login state lives there


def test_get_token_by_label_serial_and_other_fields(hl_library, hl_token, softhsm):
    assert hl_library.get_token(label=softhsm.label) is hl_token
    assert hl_library.get_token(serial=hl_token.serial) is hl_token
    assert hl_library.get_token(slot_id=hl_token.slot.id) is hl_token
    assert hl_token in hl_library.tokens(manufacturer=hl_token.manufacturer, model=hl_token.model)
    assert hl_token in hl_library.tokens(flags=TokenFlag.TOKEN_INITIALIZED | TokenFlag.LOGIN_REQUIRED)
    assert hl_token in hl_library.tokens(serial_number=hl_token.serial)
    assert hl_library.tokens(label="no such token anywhere") == []


def test_get_token_errors_name_the_request_and_the_candidates(hl_library, softhsm):
    with pytest.raises(errors.NoSuchToken) as info:
        hl_library.get_token(label="missing-token")
    assert isinstance(info.value, LookupError) and isinstance(info.value, errors.P11Error)
    assert "missing-token" in str(info.value) and softhsm.label in str(info.value)
    # SoftHSM always offers a spare uninitialised token next to ours: asking for "any" token is ambiguous.
    with pytest.raises(errors.MultipleTokens) as many:
        hl_library.get_token()
    assert isinstance(many.value, LookupError)
    assert softhsm.label in str(many.value)
    with pytest.raises(TypeError, match="colour"):
        hl_library.tokens(colour="blue")


def test_token_mechanisms_are_cached_and_checked(hl_token):
    first = hl_token.mechanisms()
    assert hl_token.mechanisms() is first
    assert hl_token.supports(Mechanism.AES_GCM, MechanismFlag.ENCRYPT)
    assert hl_token.supports(Mechanism.ECDSA, MechanismFlag.SIGN)
    assert not hl_token.supports(Mechanism.ECDSA_SHA256)  # SoftHSM 2.6 has no hash-then-sign ECDSA
    assert not hl_token.supports(Mechanism.SHA256, MechanismFlag.SIGN)


def test_session_is_a_context_manager_and_refuses_use_after_close(hl_token):
    with hl_token.open() as session:
        assert isinstance(session, Session)
        assert not session.closed and not session.rw
        assert session.token is hl_token
        handle = session.handle
    assert session.closed
    with pytest.raises(errors.SessionClosed):
        session.handle  # noqa: B018
    with pytest.raises(errors.SessionClosed):
        session.generate_random(4)
    session.close()  # twice is harmless
    assert str(handle) in repr(session)


def test_open_twice_with_pin_does_not_fail(hl_token):
    first = hl_token.open(user_pin=USER_PIN)
    try:
        second = hl_token.open(user_pin=USER_PIN)  # must not raise CKR_USER_ALREADY_LOGGED_IN
        try:
            assert second.info().state == SessionState.RO_USER_FUNCTIONS
            assert hl_token.logged_in == UserType.USER
            third = hl_token.open(rw=True)  # no PIN: the token is logged in for the whole application
            assert third.info().state == SessionState.RW_USER_FUNCTIONS
            third.close()
        finally:
            second.close()
    finally:
        first.close()
    # Closing the application's last session logs the token out, and p11 knows it.
    assert hl_token.logged_in is None
    with hl_token.open() as session:
        assert session.info().state == SessionState.RO_PUBLIC_SESSION


def test_login_made_elsewhere_counts(hl_token, hl_library):
    module = hl_library.module
    raw = module.C_OpenSession(hl_token.slot.id)
    try:
        module.C_Login(raw, UserType.USER, USER_PIN)
        with hl_token.open(user_pin=USER_PIN) as session:  # already logged in through the lowlevel layer
            assert session.info().state == SessionState.RO_USER_FUNCTIONS
            session.login(USER_PIN)  # again: still not an error
    finally:
        module.C_CloseSession(raw)


def test_wrong_pin_raises_and_leaves_no_session(hl_token):
    before = hl_token._open_sessions
    with pytest.raises(errors.PinIncorrect) as info:
        hl_token.open(user_pin="99999")
    assert "99999" not in str(info.value) and "99999" not in repr(info.value)
    assert hl_token._open_sessions == before


def test_logout_and_login_on_a_session(hl_session):
    hl_session.logout()
    assert hl_session.info().state == SessionState.RW_PUBLIC_SESSION
    hl_session.logout()  # not logged in: harmless
    hl_session.login(USER_PIN)
    assert hl_session.info().state == SessionState.RW_USER_FUNCTIONS


def test_pins_never_in_repr(hl_token, softhsm):
    with hl_token.open(user_pin=USER_PIN) as session:
        text = repr(session) + repr(hl_token) + repr(hl_token.slot) + repr(hl_token.library)
    assert USER_PIN not in text.replace(hl_token.serial, "").replace(str(hl_token.slot.id), "")
    assert SO_PIN not in text


def test_free_token_is_the_first_uninitialised_one(hl_library):
    free = hl_library.free_token()
    uninitialised = sorted(t.slot.id for t in hl_library.tokens() if not t.flags & TokenFlag.TOKEN_INITIALIZED)
    assert free.slot.id == uninitialised[0]
    assert not free.flags & TokenFlag.TOKEN_INITIALIZED


def test_free_token_when_none_is_free_names_the_tokens(softhsm):
    class _AllInitialised:  # a real module whose token list is read through, every token reported initialised
        def __init__(self, module):
            self._module = module
            self.path = module.path

        def __getattr__(self, name):
            return getattr(self._module, name)

        def C_GetTokenInfo(self, slot_id):
            info = self._module.C_GetTokenInfo(slot_id)
            return dataclasses.replace(info, flags=info.flags | TokenFlag.TOKEN_INITIALIZED)

    library = Library(_AllInitialised(lowlevel.load(softhsm.module_path)))
    with pytest.raises(errors.NoSuchToken, match=r"no free token.*" + softhsm.label):
        library.free_token()


def test_init_token_init_pin_set_pin_on_the_spare_slot(hl_library):
    spare = hl_library.free_token()
    assert not spare.flags & TokenFlag.TOKEN_INITIALIZED
    assert spare is next(t for t in hl_library.tokens() if not t.flags & TokenFlag.TOKEN_INITIALIZED)
    spare.init_token(SO_PIN, "hl-initialised")
    assert spare.flags & TokenFlag.TOKEN_INITIALIZED and hl_library.free_token() is not spare
    assert spare.label == "hl-initialised"
    assert hl_library.get_token(label="hl-initialised") is spare
    spare.init_pin(SO_PIN, "4321")
    with spare.open(user_pin="4321") as session:
        assert session.info().state == SessionState.RO_USER_FUNCTIONS
    spare.set_pin("4321", "5678")
    with pytest.raises(errors.PinIncorrect):
        spare.open(user_pin="4321")
    with spare.open(user_pin="5678", rw=True) as session:
        key = session.generate_key("aes", token=True, label="survives")
        assert key.label == "survives"
    with spare.open(so_pin=SO_PIN) as session:
        assert session.rw and session.info().state == SessionState.RW_SO_FUNCTIONS


def test_sessions_are_thread_safe(hl_session):
    key = hl_session.generate_key("hmac", token=False)
    expected = key.sign(b"message")
    results: list[bytes] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                results.append(key.sign([b"mess", b"age"]))  # multi-part: Init/Update/Final must not interleave
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert results == [expected] * 200


def test_library_types(hl_library, hl_token):
    assert isinstance(hl_library, Library) and isinstance(hl_token, Token)
    assert hl_token.library is hl_library and hl_token.slot.library is hl_library
    assert hl_token.info().label == hl_token.label


def test_close_finalises_and_a_new_load_starts_over(softhsm):
    # In a child process: closing finalises the module, which the rest of this test run still uses.
    code = textwrap.dedent(
        f"""
        from p11 import errors
        from p11.api.library import load
        with load({softhsm.module_path!r}) as library:
            token = library.get_token(label={softhsm.label!r})
            session = token.open(user_pin={USER_PIN!r})
        assert library.closed
        assert session.closed  # a session of a closed library says so
        try:
            session.generate_random(1)
        except errors.SessionClosed as exc:
            assert "closed" in str(exc)
        else:
            raise SystemExit("a session survived close()")
        again = load({softhsm.module_path!r})
        assert again is not library and not again.closed
        print(again.get_token(label={softhsm.label!r}).label)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], env=softhsm.env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == softhsm.label


def test_a_dropped_session_is_closed(hl_token, hl_library):
    import gc

    before = hl_token._open_sessions
    session = hl_token.open()
    handle = session.handle
    assert hl_token._open_sessions == before + 1
    del session
    gc.collect()
    assert hl_token._open_sessions == before
    with pytest.raises(errors.SessionHandleInvalid):
        hl_library.module.C_GetSessionInfo(handle)
