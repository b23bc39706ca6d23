"""Functions SoftHSM 2.6 does not implement, and PKCS#11 3.0 functions on its 2.40 function list: each raises
its exact typed exception."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from p11 import errors, lowlevel
from p11._cffi import lib
from tests.support import USER_PIN


@pytest.fixture
def aes(module: lowlevel.Module, user_session: int) -> int:
    return module.C_GenerateKey(
        user_session,
        lib.CKM_AES_KEY_GEN,
        {lib.CKA_VALUE_LEN: 16, lib.CKA_TOKEN: False, lib.CKA_ENCRYPT: True, lib.CKA_DECRYPT: True},
    )


# SoftHSM's own answer: CKR_FUNCTION_NOT_SUPPORTED, from the module.
SOFTHSM_LACKS: list[tuple[str, Callable[[lowlevel.Module, int, int], Any]]] = [
    ("C_GetOperationState", lambda m, s, k: m.C_GetOperationState(s)),
    ("C_SetOperationState", lambda m, s, k: m.C_SetOperationState(s, b"state", 0, 0)),
    ("C_DigestEncryptUpdate", lambda m, s, k: m.C_DigestEncryptUpdate(s, b"part")),
    ("C_DecryptDigestUpdate", lambda m, s, k: m.C_DecryptDigestUpdate(s, b"part")),
    ("C_SignEncryptUpdate", lambda m, s, k: m.C_SignEncryptUpdate(s, b"part")),
    ("C_DecryptVerifyUpdate", lambda m, s, k: m.C_DecryptVerifyUpdate(s, b"part")),
    ("C_SignRecoverInit", lambda m, s, k: m.C_SignRecoverInit(s, lib.CKM_RSA_X_509, k)),
    ("C_SignRecover", lambda m, s, k: m.C_SignRecover(s, b"data")),
    ("C_VerifyRecoverInit", lambda m, s, k: m.C_VerifyRecoverInit(s, lib.CKM_RSA_X_509, k)),
    ("C_VerifyRecover", lambda m, s, k: m.C_VerifyRecover(s, b"signature")),
]


@pytest.mark.parametrize(("name", "call"), SOFTHSM_LACKS, ids=[n for n, _ in SOFTHSM_LACKS])
def test_function_softhsm_lacks_raises_function_not_supported(
    module: lowlevel.Module, user_session: int, aes: int, name: str, call: Callable[..., Any]
) -> None:
    with pytest.raises(errors.FunctionNotSupported) as info:
        call(module, user_session, aes)
    assert type(info.value) is errors.FunctionNotSupported
    assert info.value.function == name
    assert info.value.rv == lib.CKR_FUNCTION_NOT_SUPPORTED
    assert "nothing was called" not in str(info.value)  # the module itself said so


def test_get_operation_state_with_an_active_operation(module: lowlevel.Module, session: int) -> None:
    module.C_DigestInit(session, lib.CKM_SHA256)
    module.C_DigestUpdate(session, b"half")
    with pytest.raises(errors.FunctionNotSupported):
        module.C_GetOperationState(session)
    assert len(module.C_DigestFinal(session)) == 32  # the digest was not disturbed


@pytest.mark.parametrize("name", ["C_GetFunctionStatus", "C_CancelFunction"])
def test_legacy_parallel_functions_raise_function_not_parallel(
    module: lowlevel.Module, session: int, name: str
) -> None:
    with pytest.raises(errors.FunctionNotParallel) as info:
        getattr(module, name)(session)
    assert type(info.value) is errors.FunctionNotParallel
    assert info.value.function == name


def test_wait_for_slot_event_without_blocking_returns_none(module: lowlevel.Module) -> None:
    # SoftHSM answers CKR_NO_EVENT to a non-blocking wait.
    assert module.C_WaitForSlotEvent(lib.CKF_DONT_BLOCK) is None


def test_blocking_wait_for_slot_event_is_not_supported(module: lowlevel.Module) -> None:
    outcome: list[BaseException | int | None] = []

    def wait() -> None:
        try:
            outcome.append(module.C_WaitForSlotEvent(0))
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    waiter.join(10)
    assert not waiter.is_alive(), "SoftHSM blocked in C_WaitForSlotEvent"
    assert len(outcome) == 1
    assert type(outcome[0]) is errors.FunctionNotSupported


# PKCS#11 3.0 functions: absent from SoftHSM's 2.40 function list, refused before anything is called.
V3_CALLS: list[tuple[str, Callable[[lowlevel.Module, int], Any]]] = [
    ("C_GetInterfaceList", lambda m, s: m.C_GetInterfaceList()),
    ("C_GetInterface", lambda m, s: m.C_GetInterface()),
    ("C_LoginUser", lambda m, s: m.C_LoginUser(s, lib.CKU_USER, USER_PIN, "alice")),
    ("C_SessionCancel", lambda m, s: m.C_SessionCancel(s, lib.CKF_ENCRYPT)),
    ("C_MessageEncryptInit", lambda m, s: m.C_MessageEncryptInit(s, lib.CKM_AES_GCM, 1)),
    ("C_EncryptMessage", lambda m, s: m.C_EncryptMessage(s, b"param", b"aad", b"plaintext")),
    ("C_EncryptMessageBegin", lambda m, s: m.C_EncryptMessageBegin(s, b"param", b"aad")),
    ("C_EncryptMessageNext", lambda m, s: m.C_EncryptMessageNext(s, b"param", b"part", lib.CKF_END_OF_MESSAGE)),
    ("C_MessageEncryptFinal", lambda m, s: m.C_MessageEncryptFinal(s)),
    ("C_MessageDecryptInit", lambda m, s: m.C_MessageDecryptInit(s, lib.CKM_AES_GCM, 1)),
    ("C_DecryptMessage", lambda m, s: m.C_DecryptMessage(s, b"param", b"aad", b"ciphertext")),
    ("C_DecryptMessageBegin", lambda m, s: m.C_DecryptMessageBegin(s, b"param", b"aad")),
    ("C_DecryptMessageNext", lambda m, s: m.C_DecryptMessageNext(s, b"param", b"part")),
    ("C_MessageDecryptFinal", lambda m, s: m.C_MessageDecryptFinal(s)),
    ("C_MessageSignInit", lambda m, s: m.C_MessageSignInit(s, lib.CKM_SHA256_HMAC, 1)),
    ("C_SignMessage", lambda m, s: m.C_SignMessage(s, None, b"data")),
    ("C_SignMessageBegin", lambda m, s: m.C_SignMessageBegin(s, None)),
    ("C_SignMessageNext", lambda m, s: m.C_SignMessageNext(s, None, b"data", final=True)),
    ("C_MessageSignFinal", lambda m, s: m.C_MessageSignFinal(s)),
    ("C_MessageVerifyInit", lambda m, s: m.C_MessageVerifyInit(s, lib.CKM_SHA256_HMAC, 1)),
    ("C_VerifyMessage", lambda m, s: m.C_VerifyMessage(s, None, b"data", b"signature")),
    ("C_VerifyMessageBegin", lambda m, s: m.C_VerifyMessageBegin(s, None)),
    ("C_VerifyMessageNext", lambda m, s: m.C_VerifyMessageNext(s, None, b"data", b"signature")),
    ("C_MessageVerifyFinal", lambda m, s: m.C_MessageVerifyFinal(s)),
]


@pytest.mark.parametrize(("name", "call"), V3_CALLS, ids=[n for n, _ in V3_CALLS])
def test_v3_function_on_v2_module_raises_without_calling(
    module: lowlevel.Module, session: int, name: str, call: Callable[..., Any]
) -> None:
    with pytest.raises(errors.FunctionNotSupported) as info:
        call(module, session)
    assert type(info.value) is errors.FunctionNotSupported
    assert info.value.function == name
    assert name in str(info.value)
    assert "nothing was called" in str(info.value)
    assert "2.40" in str(info.value)


def test_every_cryptoki_function_is_a_module_method() -> None:
    from p11._cffi import ffi

    names = [name for name, _ in ffi.typeof("CK_FUNCTION_LIST_3_0").fields if name.startswith("C_")]
    assert len(names) == 92
    # C_GetFunctionList is how a module is found, not something to call again.
    missing = [n for n in names if n != "C_GetFunctionList" and not callable(getattr(lowlevel.Module, n, None))]
    assert missing == []
