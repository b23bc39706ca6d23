"""Library → Slot → Token → Session: loading, token lookup, sessions, login state, PIN management."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from p11 import errors, lowlevel
from p11.api.library import Library, Slot, load
from p11.api.session import Session
from p11.api.token import Token
from p11.constants import Mechanism, MechanismFlag, SessionState, TokenFlag, UserType
from tests.support import SO_PIN, USER_PIN, WRONG_PIN


def test_load_same_path_twice_gives_same_library(softhsm, library, tmp_path):
    assert load(softhsm.module_path) is library
    link = tmp_path / "softhsm-link.so"
    os.symlink(softhsm.module_path, link)
    assert load(link) is library  # same real path
    assert library.module is lowlevel.load(softhsm.module_path)
    assert "SoftHSM" in library.info.manufacturer_id


def test_slots_and_tokens(library, softhsm):
    slots = library.slots()
    assert slots and all(isinstance(s, Slot) for s in slots)
    labels = [s.token.label for s in slots if s.token is not None]
    assert softhsm.label in labels
    slot = next(s for s in slots if s.token is not None and s.token.label == softhsm.label)
    assert slot.info.flags
    assert Mechanism.SHA256 in slot.mechanisms()
    assert slot.token is slot.token  # one Token object per token: login state lives there


def test_get_token_by_label_serial_and_other_fields(library, token, softhsm):
    assert library.get_token(label=softhsm.label) is token
    assert library.get_token(serial=token.serial) is token
    assert library.get_token(slot_id=token.slot.id) is token
    assert token in library.tokens(manufacturer=token.manufacturer, model=token.model)
    assert token in library.tokens(flags=TokenFlag.TOKEN_INITIALIZED | TokenFlag.LOGIN_REQUIRED)
    assert token in library.tokens(serial_number=token.serial)
    assert library.tokens(label="no such token anywhere") == []


def test_get_token_errors_name_the_request_and_the_candidates(library, softhsm):
    with pytest.raises(errors.NoSuchToken) as info:
        library.get_token(label="missing-token")
    assert isinstance(info.value, LookupError) and isinstance(info.value, errors.P11Error)
    assert "missing-token" in str(info.value) and softhsm.label in str(info.value)
    # SoftHSM always offers a spare uninitialised token next to ours: asking for "any" token is ambiguous.
    with pytest.raises(errors.MultipleTokens) as many:
        library.get_token()
    assert isinstance(many.value, LookupError)
    assert softhsm.label in str(many.value)
    with pytest.raises(TypeError, match="colour"):
        library.tokens(colour="blue")


def test_token_mechanisms_are_cached_and_checked(token):
    first = token.mechanisms()
    assert token.mechanisms() is first
    assert token.supports(Mechanism.AES_GCM, MechanismFlag.ENCRYPT)
    assert token.supports(Mechanism.ECDSA, MechanismFlag.SIGN)
    assert not token.supports(Mechanism.ECDSA_SHA256)  # SoftHSM 2.6 has no hash-then-sign ECDSA
    assert not token.supports(Mechanism.SHA256, MechanismFlag.SIGN)


def test_session_is_a_context_manager_and_refuses_use_after_close(token):
    with token.open() as session:
        assert isinstance(session, Session)
        assert not session.closed and not session.rw
        assert session.token is token
        handle = session.handle
    assert session.closed
    with pytest.raises(errors.SessionClosed):
        session.handle  # noqa: B018
    with pytest.raises(errors.SessionClosed):
        session.generate_random(4)
    session.close()  # twice is harmless
    assert str(handle) in repr(session)


def test_open_twice_with_pin_does_not_fail(token):
    first = token.open(user_pin=USER_PIN)
    try:
        second = token.open(user_pin=USER_PIN)  # must not raise CKR_USER_ALREADY_LOGGED_IN
        try:
            assert second.info().state == SessionState.RO_USER_FUNCTIONS
            assert token.logged_in == UserType.USER
            third = token.open(rw=True)  # no PIN: the token is logged in for the whole application
            assert third.info().state == SessionState.RW_USER_FUNCTIONS
            third.close()
        finally:
            second.close()
    finally:
        first.close()
    # Closing the application's last session logs the token out, and p11 knows it.
    assert token.logged_in is None
    with token.open() as session:
        assert session.info().state == SessionState.RO_PUBLIC_SESSION


def test_login_made_elsewhere_counts(token, library):
    module = library.module
    raw = module.C_OpenSession(token.slot.id)
    try:
        module.C_Login(raw, UserType.USER, USER_PIN)
        with token.open(user_pin=USER_PIN) as session:  # already logged in through the lowlevel layer
            assert session.info().state == SessionState.RO_USER_FUNCTIONS
            session.login(USER_PIN)  # again: still not an error
    finally:
        module.C_CloseSession(raw)


def test_wrong_pin_raises_and_leaves_no_session(token):
    before = token._open_sessions
    with pytest.raises(errors.PinIncorrect) as info:
        token.open(user_pin=WRONG_PIN)
    assert WRONG_PIN not in str(info.value) and WRONG_PIN not in repr(info.value)
    assert token._open_sessions == before


def test_logout_and_login_on_a_session(api_session):
    api_session.logout()
    assert api_session.info().state == SessionState.RW_PUBLIC_SESSION
    api_session.logout()  # not logged in: harmless
    api_session.login(USER_PIN)
    assert api_session.info().state == SessionState.RW_USER_FUNCTIONS


def test_pins_never_in_repr(token, softhsm):
    with token.open(user_pin=USER_PIN) as session:
        text = repr(session) + repr(token) + repr(token.slot) + repr(token.library)
    assert USER_PIN not in text.replace(token.serial, "").replace(str(token.slot.id), "")
    assert SO_PIN not in text


def test_free_token_is_the_first_uninitialised_one(library):
    free = library.free_token()
    uninitialised = sorted(t.slot.id for t in library.tokens() if not t.flags & TokenFlag.TOKEN_INITIALIZED)
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


def test_init_token_init_pin_set_pin_on_the_spare_slot(library):
    spare = library.free_token()
    assert not spare.flags & TokenFlag.TOKEN_INITIALIZED
    assert spare is next(t for t in library.tokens() if not t.flags & TokenFlag.TOKEN_INITIALIZED)
    spare.init_token(SO_PIN, "hl-initialised")
    assert spare.flags & TokenFlag.TOKEN_INITIALIZED and library.free_token() is not spare
    assert spare.label == "hl-initialised"
    assert library.get_token(label="hl-initialised") is spare
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


def test_sessions_are_thread_safe(api_session):
    key = api_session.generate_key("hmac", token=False)
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


def test_library_types(library, token):
    assert isinstance(library, Library) and isinstance(token, Token)
    assert token.library is library and token.slot.library is library
    assert token.info().label == token.label


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


def test_a_dropped_session_is_closed(token, library):
    import gc

    before = token._open_sessions
    session = token.open()
    handle = session.handle
    assert token._open_sessions == before + 1
    del session
    gc.collect()
    assert token._open_sessions == before
    with pytest.raises(errors.SessionHandleInvalid):
        library.module.C_GetSessionInfo(handle)
