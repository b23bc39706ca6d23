"""The token harness itself (harness.py here): missing packages are named with the apt line to run, and
stopping a token kills exactly the processes it recorded and removes its directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.interop import harness as interop
from tests.interop.harness import (
    InteropStartError,
    InteropUnavailable,
    OpenCryptokiToken,
    PKCS11SpyToken,
    TPM2Token,
)

pytestmark = pytest.mark.interop


def missing(monkeypatch: pytest.MonkeyPatch, token: type[TPM2Token | OpenCryptokiToken]) -> InteropUnavailable:
    """What ``token.check()`` raises on a machine with none of the programs and libraries it looks for."""
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    monkeypatch.setattr(interop.os, "access", lambda *_a, **_k: False)
    monkeypatch.setattr(interop, "find_library", lambda *_a: None)
    with pytest.raises(InteropUnavailable) as info:
        token.check()
    return info.value


def test_missing_tpm2_programs_name_the_apt_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    unavailable = missing(monkeypatch, TPM2Token)
    message = str(unavailable)
    assert "swtpm" in message and "tpm2-abrmd" in message and "libtpm2_pkcs11.so" in message
    assert "apt-get install -y " + " ".join(interop.APT_PACKAGES["tpm2"]) in message
    assert unavailable.packages == list(interop.APT_PACKAGES["tpm2"])
    assert interop.SKIP_ENV in message


def test_missing_spy_module_names_opensc_pkcs11(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interop, "find_library", lambda *_a: None)
    with pytest.raises(InteropUnavailable, match=r"apt-get install -y .*opensc-pkcs11"):
        PKCS11SpyToken.check()


def test_missing_opencryptoki_names_its_apt_package(monkeypatch: pytest.MonkeyPatch) -> None:
    message = str(missing(monkeypatch, OpenCryptokiToken))
    assert "pkcsslotd" in message and "pkcsconf" in message and "libopencryptoki.so" in message
    assert "apt-get install -y opencryptoki" in message


def test_every_package_listed_once() -> None:
    packages = interop.all_apt_packages()
    assert len(packages) == len(set(packages))
    assert {"swtpm", "tpm2-abrmd", "p11-kit-modules", "opensc-pkcs11", "softhsm2", "opencryptoki"} <= set(packages)
    setup = Path(__file__).resolve().parents[2] / "scripts" / "setup.sh"
    listed = subprocess.run(["bash", "-c", f'source "{setup}"; echo "${{APT_PACKAGES[@]}}"'], capture_output=True,
                            text=True, timeout=60, check=True).stdout.split()
    assert set(packages) - {"mount"} <= set(listed)  # what scripts/setup.sh installs for the tests


def test_opencryptoki_pins_must_fit_its_4_to_8_characters() -> None:
    with pytest.raises(ValueError, match=r"4\.\.8 characters; user_pin has 9"):
        OpenCryptokiToken(user_pin="123456789")


def test_opencryptoki_refuses_a_foreign_daemon_and_stops_only_its_own() -> None:
    token = OpenCryptokiToken()
    token.start()  # missing package or not root: InteropUnavailable names it
    try:
        pid = token.pids["pkcsslotd"]
        assert (token.directory / "pkcsslotd.pid").read_text().strip() == str(pid)
        assert b"pkcsslotd" in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert (OpenCryptokiToken.SWTOK / "NVTOK.DAT").exists()  # initialised
        other = OpenCryptokiToken()
        refused = rf"a pkcsslotd this harness did not start is running \(pid {pid}\)"
        with pytest.raises(InteropStartError, match=refused):
            other.start()
        other.stop()
        assert os.path.exists(f"/proc/{pid}") and token.pids == {"pkcsslotd": pid}  # the other left it alone
        assert (OpenCryptokiToken.SWTOK / "NVTOK.DAT").exists()  # and its token
        directory = token.directory
    finally:
        token.stop()
    assert not os.path.exists(f"/proc/{pid}"), f"pkcsslotd {pid} still exists after stop()"
    assert not (OpenCryptokiToken.SWTOK / "NVTOK.DAT").exists()  # the token's data wiped
    assert not directory.exists()
    assert token.pids == {}


def test_tpm2_stop_kills_recorded_processes_and_removes_its_directory() -> None:
    token = TPM2Token()
    token.start()  # missing packages: InteropUnavailable names them (the fixtures turn that into a failure)
    try:
        pids = token.pids
        assert set(pids) == {"swtpm", "dbus-daemon", "tpm2-abrmd"}
        for name, pid in pids.items():
            assert (token.directory / f"{name}.pid").read_text().strip() == str(pid)
            assert name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        directory = token.directory
    finally:
        token.stop()
    for pid in pids.values():
        assert not os.path.exists(f"/proc/{pid}"), f"pid {pid} still exists after stop()"
    assert not directory.exists()
    assert token.pids == {}


def test_token_repr_leaves_pins_out() -> None:
    token = TPM2Token(user_pin="repr-user-9876", so_pin="repr-so-5432")
    try:
        text = repr(token)
        assert token.label in text
        assert "repr-user-9876" not in text and "repr-so-5432" not in text
    finally:
        token.stop()  # never started: removes the directory it made
    assert not token.directory.exists()
