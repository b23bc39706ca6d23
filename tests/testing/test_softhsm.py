"""The SoftHSM harness and pytest plugin that users get with p11: real tokens, visible at once, PINs hidden."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from p11 import errors, lowlevel
from p11._cffi import lib
from p11.testing import SoftHSM, TokenSpec, find_softhsm_module
from p11.testing.softhsm import SoftHSMNotFound


def test_p11_token_fixture_is_visible_to_the_loaded_module_and_takes_its_pins(
    p11_softhsm: SoftHSM, p11_token: TokenSpec
) -> None:
    module = lowlevel.load(p11_softhsm.module_path)
    slot = p11_softhsm.slot_of(p11_token.label)
    session = module.C_OpenSession(slot, lib.CKF_SERIAL_SESSION)
    try:
        with pytest.raises(errors.PinIncorrect):
            module.C_Login(session, lib.CKU_USER, "wrong-pin")
        module.C_Login(session, lib.CKU_USER, p11_token.user_pin)
        module.C_Logout(session)
    finally:
        module.C_CloseSession(session)


def test_token_spec_repr_hides_pins() -> None:
    spec = TokenSpec("lbl", "user-secret-1", "so-secret-2")
    assert "user-secret-1" not in repr(spec) and "so-secret-2" not in repr(spec)


def test_harness_in_a_child_process_creates_and_removes_its_store(tmp_path: Path) -> None:
    # SOFTHSM2_CONF is per process, so a second store is exercised in a child.
    code = (
        "import os, sys\n"
        "from p11.testing import SoftHSM\n"
        "from p11 import lowlevel\n"
        "with SoftHSM(label='child-token') as hsm:\n"
        "    assert os.environ['SOFTHSM2_CONF'] == str(hsm.conf_path)\n"
        "    m = lowlevel.load(hsm.module_path)\n"
        "    labels = [m.C_GetTokenInfo(s).label for s in m.C_GetSlotList(True)]\n"
        "    assert 'child-token' in labels, labels\n"
        "    hsm.add_token('second')\n"
        "    assert hsm.slot_of('second') in m.C_GetSlotList(True)\n"
        "    d = hsm.directory\n"
        "assert not d.exists()\n"
        "assert 'SOFTHSM2_CONF' not in os.environ\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_p11_module_override_must_name_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("P11_MODULE", str(tmp_path / "nope.so"))
    with pytest.raises(SoftHSMNotFound, match="does not name a file"):
        find_softhsm_module()
    monkeypatch.setenv("P11_MODULE", find_softhsm_module.__globals__["MODULE_CANDIDATES"][0])
    assert find_softhsm_module().endswith("libsofthsm2.so")


def test_missing_softhsm_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("P11_MODULE", raising=False)
    monkeypatch.setattr("p11.testing.softhsm.MODULE_CANDIDATES", ("/nonexistent/libsofthsm2.so",))
    with pytest.raises(SoftHSMNotFound, match="apt-get install softhsm2"):
        find_softhsm_module()
