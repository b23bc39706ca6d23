"""Slots, tokens, mechanisms, sessions and logins through p11.lowlevel, against SoftHSM."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

import p11
from p11 import errors, lowlevel
from p11._cffi import lib
from p11.constants import Mechanism, MechanismFlag, SessionFlag, SessionState, SlotFlag, TokenFlag
from p11.testing import SoftHSM
from tests.support import USER_PIN

if TYPE_CHECKING:
    from tests.support import FreshToken


def test_slot_list_holds_the_token_and_the_spare_slot(module: lowlevel.Module, slot: int) -> None:
    every = module.C_GetSlotList()
    present = module.C_GetSlotList(True)
    assert slot in present
    assert set(present) <= set(every)
    assert all(isinstance(s, int) for s in every)
    # SoftHSM always keeps one slot with an uninitialised token for C_InitToken.
    assert any(not module.C_GetTokenInfo(s).flags & TokenFlag.TOKEN_INITIALIZED for s in present)


def test_slot_info(module: lowlevel.Module, slot: int) -> None:
    info = module.C_GetSlotInfo(slot)
    assert isinstance(info, lowlevel.SlotInfo)
    assert info.flags & SlotFlag.TOKEN_PRESENT
    assert isinstance(info.flags, SlotFlag)
    assert info.manufacturer_id == "SoftHSM project"
    assert info.slot_description.startswith("SoftHSM slot")
    assert not info.slot_description.endswith(" ")


def test_token_info_is_decoded_and_unavailable_counters_are_none(
    module: lowlevel.Module, slot: int, softhsm: SoftHSM
) -> None:
    info = module.C_GetTokenInfo(slot)
    assert info.label == softhsm.label
    assert info.model == "SoftHSM v2"
    assert len(info.serial_number) == 16
    assert isinstance(info.flags, TokenFlag)
    assert info.flags & TokenFlag.TOKEN_INITIALIZED
    assert info.flags & TokenFlag.USER_PIN_INITIALIZED
    assert info.flags & TokenFlag.LOGIN_REQUIRED
    assert info.min_pin_len == 4
    assert info.max_pin_len == 255
    # SoftHSM reports CK_UNAVAILABLE_INFORMATION for these.
    assert info.session_count is None
    assert info.total_public_memory is None
    with pytest.raises(AttributeError):
        info.label = "x"  # type: ignore[misc]


def test_invalid_slot_raises_slot_id_invalid(module: lowlevel.Module) -> None:
    with pytest.raises(errors.SlotIdInvalid) as info:
        module.C_GetSlotInfo(0xDEAD)
    assert info.value.function == "C_GetSlotInfo"
    with pytest.raises(errors.SlotIdInvalid):
        module.C_GetTokenInfo(0xDEAD)


def test_mechanism_list_and_info(module: lowlevel.Module, slot: int) -> None:
    mechanisms = module.C_GetMechanismList(slot)
    assert Mechanism.SHA256 in mechanisms
    assert Mechanism.ECDSA in mechanisms
    assert all(isinstance(m, Mechanism) for m in mechanisms)
    info = module.C_GetMechanismInfo(slot, lib.CKM_AES_KEY_GEN)
    assert (info.min_key_size, info.max_key_size) == (16, 32)
    assert info.flags & MechanismFlag.GENERATE
    digest = module.C_GetMechanismInfo(slot, Mechanism.SHA256)
    assert digest.flags & MechanismFlag.DIGEST
    with pytest.raises(errors.MechanismInvalid):
        module.C_GetMechanismInfo(slot, lib.CKM_VENDOR_DEFINED + 0x1234)


def test_open_session_read_only_and_read_write(module: lowlevel.Module, slot: int) -> None:
    ro = module.C_OpenSession(slot)
    rw = module.C_OpenSession(slot, lib.CKF_RW_SESSION)
    try:
        assert ro != rw
        ro_info = module.C_GetSessionInfo(ro)
        assert ro_info.slot_id == slot
        assert ro_info.state == SessionState.RO_PUBLIC_SESSION
        assert ro_info.flags == SessionFlag.SERIAL_SESSION
        rw_info = module.C_GetSessionInfo(rw)
        assert rw_info.state == SessionState.RW_PUBLIC_SESSION
        assert rw_info.flags & SessionFlag.RW_SESSION
        assert rw_info.device_error == 0
    finally:
        module.C_CloseSession(ro)
        module.C_CloseSession(rw)


def test_closed_session_is_invalid(module: lowlevel.Module, slot: int) -> None:
    session = module.C_OpenSession(slot)
    module.C_CloseSession(session)
    with pytest.raises(errors.SessionHandleInvalid):
        module.C_GetSessionInfo(session)
    with pytest.raises(errors.SessionHandleInvalid):
        module.C_CloseSession(session)


def test_invalid_session_handle_raises_session_handle_invalid(module: lowlevel.Module) -> None:
    with pytest.raises(errors.SessionHandleInvalid) as info:
        module.C_GetSessionInfo(0xBAD)
    assert isinstance(info.value, errors.SessionError)
    assert info.value.rv == lib.CKR_SESSION_HANDLE_INVALID


def test_close_all_sessions(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    sessions = [module.C_OpenSession(fresh_token.slot) for _ in range(3)]
    module.C_CloseAllSessions(fresh_token.slot)
    for session in sessions:
        with pytest.raises(errors.SessionHandleInvalid):
            module.C_GetSessionInfo(session)


def test_user_login_and_logout(module: lowlevel.Module, session: int, softhsm: SoftHSM) -> None:
    module.C_Login(session, lib.CKU_USER, softhsm.user_pin)
    assert module.C_GetSessionInfo(session).state == SessionState.RW_USER_FUNCTIONS
    with pytest.raises(errors.UserAlreadyLoggedIn):
        module.C_Login(session, lib.CKU_USER, softhsm.user_pin)
    module.C_Logout(session)
    assert module.C_GetSessionInfo(session).state == SessionState.RW_PUBLIC_SESSION
    # SoftHSM answers CKR_OK to a logout when nobody is logged in (the spec says CKR_USER_NOT_LOGGED_IN).
    module.C_Logout(session)
    assert module.C_GetSessionInfo(session).state == SessionState.RW_PUBLIC_SESSION


def test_login_accepts_pin_as_bytes(module: lowlevel.Module, session: int, softhsm: SoftHSM) -> None:
    module.C_Login(session, lib.CKU_USER, softhsm.user_pin.encode())
    module.C_Logout(session)
    module.C_Login(session, lib.CKU_USER, bytearray(softhsm.user_pin.encode()))
    module.C_Logout(session)


def test_so_login_and_logout(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    session = module.C_OpenSession(fresh_token.slot, lib.CKF_RW_SESSION)
    module.C_Login(session, lib.CKU_SO, fresh_token.so_pin)
    assert module.C_GetSessionInfo(session).state == SessionState.RW_SO_FUNCTIONS
    module.C_Logout(session)
    module.C_CloseSession(session)


def test_so_login_needs_read_write_session(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    session = module.C_OpenSession(fresh_token.slot)
    with pytest.raises(errors.SessionReadOnlyExists):
        module.C_Login(session, lib.CKU_SO, fresh_token.so_pin)
    module.C_CloseSession(session)


def test_wrong_pin_raises_pin_incorrect_without_showing_it(module: lowlevel.Module, session: int) -> None:
    secret = "98765-not-the-pin"
    with pytest.raises(errors.PinIncorrect) as info:
        module.C_Login(session, lib.CKU_USER, secret)
    assert isinstance(info.value, errors.PinError)
    assert info.value.function == "C_Login"
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert secret not in repr(info.value.args)


def test_pin_of_wrong_type_raises_type_error_without_value(module: lowlevel.Module, session: int) -> None:
    with pytest.raises(TypeError) as info:
        module.C_Login(session, lib.CKU_USER, 123456)  # type: ignore[arg-type]
    assert "123456" not in str(info.value)


def test_wrong_pins_set_count_low_but_softhsm_never_locks(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    # SoftHSM 2.6 has no PIN lockout (CKR_PIN_LOCKED cannot be produced with it): a failed login raises
    # USER_PIN_COUNT_LOW / SO_PIN_COUNT_LOW, a successful one clears it, and the right PIN always works.
    session = module.C_OpenSession(fresh_token.slot, lib.CKF_RW_SESSION)
    assert not module.C_GetTokenInfo(fresh_token.slot).flags & TokenFlag.USER_PIN_COUNT_LOW
    for _ in range(12):
        with pytest.raises(errors.PinIncorrect):
            module.C_Login(session, lib.CKU_USER, "0000-wrong")
    flags = module.C_GetTokenInfo(fresh_token.slot).flags
    assert flags & TokenFlag.USER_PIN_COUNT_LOW
    assert not flags & TokenFlag.USER_PIN_LOCKED
    module.C_Login(session, lib.CKU_USER, fresh_token.user_pin)
    assert not module.C_GetTokenInfo(fresh_token.slot).flags & TokenFlag.USER_PIN_COUNT_LOW
    module.C_Logout(session)
    with pytest.raises(errors.PinIncorrect):
        module.C_Login(session, lib.CKU_SO, "0000-wrong")
    assert module.C_GetTokenInfo(fresh_token.slot).flags & TokenFlag.SO_PIN_COUNT_LOW
    module.C_CloseSession(session)


def test_set_pin_changes_the_user_pin(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    session = module.C_OpenSession(fresh_token.slot, lib.CKF_RW_SESSION)
    module.C_Login(session, lib.CKU_USER, fresh_token.user_pin)
    module.C_SetPIN(session, fresh_token.user_pin, "new-pin-1")
    module.C_Logout(session)
    with pytest.raises(errors.PinIncorrect):
        module.C_Login(session, lib.CKU_USER, fresh_token.user_pin)
    module.C_Login(session, lib.CKU_USER, "new-pin-1")
    with pytest.raises(errors.PinIncorrect):
        module.C_SetPIN(session, "not-the-old-one", "x-new-pin")
    with pytest.raises(errors.PinLenRange):
        module.C_SetPIN(session, "new-pin-1", "12")
    module.C_Logout(session)
    module.C_CloseSession(session)


def test_set_pin_changes_the_so_pin(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    session = module.C_OpenSession(fresh_token.slot, lib.CKF_RW_SESSION)
    module.C_Login(session, lib.CKU_SO, fresh_token.so_pin)
    module.C_SetPIN(session, fresh_token.so_pin, b"new-so-pin")
    module.C_Logout(session)
    module.C_Login(session, lib.CKU_SO, "new-so-pin")
    module.C_Logout(session)
    module.C_CloseSession(session)


def test_init_pin_needs_so_login(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    session = module.C_OpenSession(fresh_token.slot, lib.CKF_RW_SESSION)
    with pytest.raises(errors.UserNotLoggedIn):
        module.C_InitPIN(session, "5555")
    module.C_CloseSession(session)


def test_init_token_reinitialises_with_new_label(
    module: lowlevel.Module, fresh_token: FreshToken, find_slot: Callable[[str], int]
) -> None:
    module.C_InitToken(fresh_token.slot, fresh_token.so_pin, "re-initialised")
    slot = find_slot("re-initialised")
    info = module.C_GetTokenInfo(slot)
    assert info.flags & TokenFlag.TOKEN_INITIALIZED
    # Re-initialising clears the user PIN.
    assert not info.flags & TokenFlag.USER_PIN_INITIALIZED


def test_init_token_with_wrong_so_pin(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    with pytest.raises(errors.PinIncorrect):
        module.C_InitToken(fresh_token.slot, "wrong-so-pin", "whatever")


def test_init_token_label_longer_than_32_bytes_is_refused(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        module.C_InitToken(fresh_token.slot, fresh_token.so_pin, "x" * 33)


def test_init_token_with_session_open_raises_session_exists(module: lowlevel.Module, fresh_token: FreshToken) -> None:
    session = module.C_OpenSession(fresh_token.slot)
    with pytest.raises(errors.SessionExists):
        module.C_InitToken(fresh_token.slot, fresh_token.so_pin, "busy")
    module.C_CloseSession(session)


def test_context_specific_login_without_operation(module: lowlevel.Module, user_session: int) -> None:
    # CKU_CONTEXT_SPECIFIC re-authenticates for one operation of a key with CKA_ALWAYS_AUTHENTICATE; SoftHSM
    # refuses it when no such operation is pending.
    with pytest.raises(errors.OperationNotInitialized):
        module.C_Login(user_session, lib.CKU_CONTEXT_SPECIFIC, USER_PIN)


def test_a_slot_the_module_does_not_have_ends_no_session(module: lowlevel.Module, softhsm: SoftHSM) -> None:
    # Reported as a possibly lost device (CKR_SLOT_ID_INVALID) while a session of this process is open on a token
    # that answers: no new generation may begin; one did (ending every session of the process, on every token).
    token = p11.load(softhsm.module_path).get_token(label=softhsm.label)
    assert token.library.module is module
    generation = module.generation
    with token.open() as session:
        for _ in range(3):
            with pytest.raises(errors.SlotIdInvalid):
                module.C_GetSlotInfo(0xDEAD)
            with pytest.raises(errors.SlotIdInvalid):
                module.C_GetTokenInfo(0xDEAD)
        assert module.generation == generation
        assert session.info().slot_id == token.slot.id
