"""Initialise, finalise, close, exit and fork. Tests that finalise use their own copy of libsofthsm2.so: each copy
is a separate module with its own Cryptoki state, so the shared ``module`` fixture is never disturbed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from p11 import errors, lowlevel
from p11._cffi import lib
from p11.testing import SoftHSM


@pytest.fixture
def softhsm_copy(softhsm: SoftHSM, tmp_path: Path) -> str:
    path = tmp_path / "libsofthsm2-copy.so"
    shutil.copyfile(softhsm.module_path, path)
    return str(path)


def test_calls_before_initialise_raise_cryptoki_not_initialized(softhsm_copy: str) -> None:
    mod = lowlevel.Module(softhsm_copy, initialize=False)
    try:
        assert not mod.initialized
        assert "not initialized" in repr(mod)
        with pytest.raises(errors.CryptokiNotInitialized) as info:
            mod.C_GetInfo()
        assert info.value.function == "C_GetInfo"
        assert isinstance(info.value, errors.LibraryStateError)
        with pytest.raises(errors.CryptokiNotInitialized):
            mod.C_GetSlotList()
        mod.C_Initialize()
        assert mod.initialized
        assert mod.C_GetInfo().manufacturer_id == "SoftHSM"
    finally:
        mod.close()


def test_failed_initialise_raises_typed_error_and_registers_nothing(
    softhsm_copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh copy reads SOFTHSM2_CONF at its own C_Initialize: point it at nothing.
    monkeypatch.setenv("SOFTHSM2_CONF", str(tmp_path / "no-such.conf"))
    before = lowlevel.loaded_modules()
    with pytest.raises(errors.GeneralError) as info:
        lowlevel.load(softhsm_copy)
    assert info.value.function == "C_Initialize"
    assert lowlevel.loaded_modules() == before


def test_init_reserved_reaches_c_initialize(softhsm_copy: str) -> None:
    # pReserved must be NULL for SoftHSM, which says so: proof that the argument is passed through.
    with pytest.raises(errors.ArgumentsBad):
        lowlevel.Module(softhsm_copy, init_reserved="configdir='/nowhere'")


def test_initialise_twice_raises_already_initialized(softhsm_copy: str) -> None:
    mod = lowlevel.Module(softhsm_copy)
    try:
        with pytest.raises(errors.CryptokiAlreadyInitialized):
            mod.C_Initialize()
        assert mod.initialized
    finally:
        mod.close()


def test_second_module_object_on_one_file_shares_the_initialisation(softhsm_copy: str) -> None:
    first = lowlevel.Module(softhsm_copy)
    # Another user of the same library in this process (here: a second object) finds it initialised and shares it.
    second = lowlevel.Module(softhsm_copy)
    try:
        assert second.initialized
        assert second.function_list_address == first.function_list_address
        second.close()  # not ours to finalise
        assert first.C_GetInfo().manufacturer_id == "SoftHSM"
    finally:
        first.close()
    with pytest.raises(errors.CryptokiNotInitialized):  # the first one did finalise it
        lowlevel.Module(softhsm_copy, initialize=False).C_GetInfo()


def test_calls_after_finalize_raise_cryptoki_not_initialized(softhsm_copy: str, softhsm: SoftHSM) -> None:
    mod = lowlevel.Module(softhsm_copy)
    try:
        slot = next(s for s in mod.C_GetSlotList(True) if mod.C_GetTokenInfo(s).label == softhsm.label)
        session = mod.C_OpenSession(slot)
        generation = mod.generation
        mod.C_Finalize()
        assert not mod.initialized
        for call in (mod.C_GetInfo, mod.C_GetSlotList, lambda: mod.C_GetSessionInfo(session)):
            with pytest.raises(errors.CryptokiNotInitialized):
                call()
        with pytest.raises(errors.CryptokiNotInitialized):
            mod.C_Finalize()
        # Initialising again works; the old session did not survive.
        mod.C_Initialize()
        assert mod.generation > generation  # a new generation: handles of the old one are never trusted
        with pytest.raises(errors.SessionHandleInvalid):
            mod.C_GetSessionInfo(session)
    finally:
        mod.close()


def test_closed_module_refuses_every_call(softhsm_copy: str) -> None:
    mod = lowlevel.Module(softhsm_copy)
    mod.close()
    assert mod.closed
    assert not mod.initialized
    assert "closed" in repr(mod)
    assert mod not in lowlevel.loaded_modules()
    with pytest.raises(errors.CryptokiNotInitialized) as info:
        mod.C_GetSlotList()
    assert "closed" in str(info.value)
    with pytest.raises(errors.CryptokiNotInitialized):
        mod.C_Initialize()
    with pytest.raises(errors.CryptokiNotInitialized):
        mod.ensure_ready()
    mod.close()  # harmless


def test_load_after_close_gives_a_new_module(softhsm_copy: str) -> None:
    first = lowlevel.load(softhsm_copy)
    first.close()
    second = lowlevel.load(softhsm_copy)
    try:
        assert second is not first
        assert second.initialized
        assert second.C_GetInfo().manufacturer_id == "SoftHSM"
    finally:
        second.close()


def test_module_used_as_context_manager_is_closed(softhsm_copy: str) -> None:
    with lowlevel.Module(softhsm_copy) as mod:
        assert mod.C_GetSlotList()
    assert mod.closed


def test_module_cannot_be_pickled(module: lowlevel.Module) -> None:
    import pickle

    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(module)


SPY = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so"


@pytest.mark.skipif(not os.path.exists(SPY), reason="OpenSC's pkcs11-spy (apt: opensc) records the calls")
def test_finalize_runs_at_interpreter_exit(softhsm: SoftHSM, softhsm_copy: str, tmp_path: Path) -> None:
    log = tmp_path / "spy.log"
    env = {**softhsm.env, "PKCS11SPY": softhsm_copy, "PKCS11SPY_OUTPUT": str(log)}
    script = textwrap.dedent(
        f"""
        from p11 import lowlevel
        mod = lowlevel.load({SPY!r})
        assert mod.C_GetSlotList()
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = [line.split(": ", 1)[1] for line in log.read_text().splitlines() if line[:1].isdigit() and ": C_" in line]
    assert calls[0] in ("C_GetFunctionList", "C_GetInterface")
    assert calls[1] == "C_Initialize"
    assert calls[-1] == "C_Finalize"


# -- fork -------------------------------------------------------------------------------------------------------


def _run_in_child(child: object) -> dict[str, object]:
    """Fork; run ``child()`` in the child and return what it returned (a JSON-able dict) to the parent."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        try:
            result = child()  # type: ignore[operator]
        except BaseException as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        with os.fdopen(write_fd, "w") as out:
            json.dump(result, out)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(data)  # type: ignore[no-any-return]


def test_fork_child_reinitialises_and_parent_keeps_working(
    module: lowlevel.Module, softhsm: SoftHSM, slot: int
) -> None:
    parent_session = module.C_OpenSession(slot, lib.CKF_RW_SESSION)
    module.C_Login(parent_session, lib.CKU_USER, softhsm.user_pin)
    generation = module.generation

    def child() -> dict[str, object]:
        result: dict[str, object] = {"repr_before": repr(module)}
        # The parent's session means nothing here: the first call re-initialises, then the handle is unknown.
        try:
            module.C_GetSessionInfo(parent_session)
            result["old_session"] = "worked"
        except errors.CryptokiError as exc:
            result["old_session"] = type(exc).__name__
        result["generation"] = module.generation
        result["initialized"] = module.initialized
        child_slot = next(s for s in module.C_GetSlotList(True) if module.C_GetTokenInfo(s).label == softhsm.label)
        session = module.C_OpenSession(child_slot, lib.CKF_RW_SESSION)
        module.C_Login(session, lib.CKU_USER, softhsm.user_pin)
        module.C_DigestInit(session, lib.CKM_SHA256)
        result["digest"] = module.C_Digest(session, b"child").hex()
        result["random"] = len(module.C_GenerateRandom(session, 8))
        module.C_Logout(session)
        module.C_CloseSession(session)
        return result

    try:
        result = _run_in_child(child)
        assert "error" not in result, result["error"]
        assert "stale after fork" in str(result["repr_before"])
        assert result["old_session"] == "SessionHandleInvalid"
        assert result["generation"] > generation
        assert result["initialized"] is True
        assert result["digest"] == hashlib.sha256(b"child").hexdigest()
        assert result["random"] == 8
        # The parent never noticed: same initialisation, same session, still logged in.
        assert module.generation == generation
        assert module.initialized
        info = module.C_GetSessionInfo(parent_session)
        assert info.slot_id == slot
        module.C_DigestInit(parent_session, lib.CKM_SHA256)
        assert len(module.C_Digest(parent_session, b"parent")) == 32
    finally:
        module.C_Logout(parent_session)
        module.C_CloseSession(parent_session)


def test_fork_child_that_finalises_leaves_parent_alone(module: lowlevel.Module, slot: int) -> None:
    session = module.C_OpenSession(slot)

    def child() -> dict[str, object]:
        module.C_Finalize()  # only the child's Cryptoki state goes away
        return {"initialized": module.initialized}

    try:
        assert _run_in_child(child) == {"initialized": False}
        assert module.C_GetSessionInfo(session).slot_id == slot
    finally:
        module.C_CloseSession(session)


def test_ensure_ready_reinitialises_in_child(module: lowlevel.Module) -> None:
    def child() -> dict[str, object]:
        before = module.initialized
        module.ensure_ready()
        return {"before": before, "after": module.initialized, "slots": len(module.C_GetSlotList())}

    result = _run_in_child(child)
    assert result["before"] is False
    assert result["after"] is True
    assert int(result["slots"]) >= 1  # type: ignore[call-overload]
