"""Loading modules: the function list, bad paths, several modules at once, a PKCS#11 3.0 module."""

from __future__ import annotations

import ctypes.util
import os
import shutil
from pathlib import Path

import pytest

from p11 import errors, lowlevel
from p11._cffi import ffi, lib
from p11.testing import SoftHSM
from tests.support import outcome_unless_stuck

OPENSC = "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so"


def test_load_gives_initialised_module_with_2_40_function_list(module: lowlevel.Module, softhsm: SoftHSM) -> None:
    assert module.path == softhsm.module_path
    assert module.version == lowlevel.Version(2, 40)
    assert module.initialized
    info = module.C_GetInfo()
    assert info.manufacturer_id == "SoftHSM"
    assert info.cryptoki_version == lowlevel.Version(2, 40)
    assert str(info.cryptoki_version) == "2.40"


def test_function_list_address_points_at_the_module_function_list(module: lowlevel.Module) -> None:
    fl = ffi.cast("CK_FUNCTION_LIST *", module.function_list_address)
    assert (fl.version.major, fl.version.minor) == (2, 40)
    info = ffi.new("CK_INFO *")
    assert fl.C_GetInfo(info) == lib.CKR_OK
    assert ffi.string(info.manufacturerID, 32).rstrip() == b"SoftHSM"


def test_load_returns_the_same_module_for_the_same_file(module: lowlevel.Module, softhsm: SoftHSM) -> None:
    assert lowlevel.load(softhsm.module_path) is module
    assert lowlevel.load(Path(softhsm.module_path)) is module
    assert module in lowlevel.loaded_modules()


def test_missing_file_raises_module_load_error_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "missing-module.so"
    with pytest.raises(errors.ModuleLoadError) as info:
        lowlevel.Module(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert "No such file" in info.value.reason


def test_directory_raises_module_load_error(tmp_path: Path) -> None:
    with pytest.raises(errors.ModuleLoadError) as info:
        lowlevel.Module(tmp_path)
    assert info.value.path == str(tmp_path)
    assert info.value.reason  # the loader's own message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_as_module_path_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "module.so"
    os.mkfifo(fifo)
    outcome = outcome_unless_stuck(lambda: lowlevel.Module(fifo))
    assert isinstance(outcome, errors.ModuleLoadError), outcome
    assert outcome.path == str(fifo)
    assert "a FIFO (named pipe), not a regular file" in outcome.reason


def test_character_device_as_module_path_is_refused() -> None:
    with pytest.raises(errors.ModuleLoadError, match="a character device, not a regular file"):
        lowlevel.Module("/dev/zero")


def test_file_that_is_not_a_shared_object_raises_module_load_error(tmp_path: Path) -> None:
    path = tmp_path / "text.so"
    path.write_text("not an ELF file, just text\n" * 20)
    with pytest.raises(errors.ModuleLoadError) as info:
        lowlevel.Module(path)
    assert "invalid ELF header" in info.value.reason


@pytest.mark.parametrize("name", ["c", "z"])
def test_shared_object_without_cryptoki_raises_module_load_error(name: str) -> None:
    soname = ctypes.util.find_library(name)
    assert soname, f"lib{name} is part of every Debian system"
    with pytest.raises(errors.ModuleLoadError) as info:
        lowlevel.Module(soname)
    assert info.value.path == soname
    assert "no C_GetFunctionList symbol" in str(info.value)


def test_module_load_error_is_an_oserror_and_p11_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        lowlevel.Module(tmp_path / "nope.so")
    with pytest.raises(errors.P11Error):
        lowlevel.Module(tmp_path / "nope.so")


@pytest.mark.parametrize("bad", [123, b"/usr/lib/softhsm/libsofthsm2.so", None])
def test_path_of_wrong_type_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        lowlevel.Module(bad)  # type: ignore[arg-type]


def test_empty_path_raises_value_error() -> None:
    with pytest.raises(ValueError):
        lowlevel.Module("")


def test_two_copies_of_softhsm_are_independent_modules(
    module: lowlevel.Module, softhsm: SoftHSM, slot: int, tmp_path: Path
) -> None:
    copy = tmp_path / "libsofthsm2-copy.so"
    shutil.copyfile(softhsm.module_path, copy)
    other = lowlevel.load(copy)
    try:
        assert other is not module
        assert other.function_list_address != module.function_list_address
        assert other.initialized
        labels = {other.C_GetTokenInfo(s).label for s in other.C_GetSlotList(True)}
        assert softhsm.label in labels
        # Finalising one leaves the other working: each has its own Cryptoki state.
        other.C_Finalize()
        with pytest.raises(errors.CryptokiNotInitialized):
            other.C_GetSlotList()
        assert module.C_GetTokenInfo(slot).label == softhsm.label
    finally:
        other.close()
    assert other.closed


@pytest.mark.interop
@pytest.mark.skipif(not os.path.exists(OPENSC), reason="OpenSC (apt: opensc) provides the PKCS#11 3.0 module")
def test_pkcs11_3_module_is_loaded_through_c_get_interface() -> None:
    mod = lowlevel.load(OPENSC)
    assert mod.version == lowlevel.Version(3, 0)
    assert mod.C_GetInfo().cryptoki_version.major == 3
    interfaces = mod.C_GetInterfaceList()
    assert any(i.name == "PKCS 11" and i.version == (3, 0) for i in interfaces)
    assert mod.function_list_address in {i.function_list_address for i in interfaces}
    default = mod.C_GetInterface()
    assert default.function_list_address == mod.function_list_address
    assert mod.C_GetInterface("PKCS 11", (3, 0)).version == (3, 0)
    # A 3.0 function is really called on a 3.0 module: OpenSC answers for itself.
    with pytest.raises(errors.FunctionNotSupported) as info:
        mod.C_MessageEncryptInit(1, lib.CKM_AES_GCM, 1)
    assert "nothing was called" not in str(info.value)
    with pytest.raises(errors.SessionHandleInvalid):
        mod.C_SessionCancel(12345, lib.CKF_ENCRYPT)
