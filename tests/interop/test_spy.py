"""p11 through OpenSC's pkcs11-spy in front of SoftHSM: the calls go through the module's function list (the spy
logs them), signatures verify, and no PIN appears in anything p11 prints (the spy logs the PIN itself: its business).
"""

from __future__ import annotations

import pytest

from p11 import errors
from p11._cffi import lib
from tests.interop.harness import PKCS11SpyToken
from tests.interop.helpers import error_class, run_check, verify_ecdsa_sha256

pytestmark = pytest.mark.interop


def test_spy_sign_and_verify_go_through_the_function_list(spy_token: PKCS11SpyToken) -> None:
    before = len(spy_token.calls())
    child = run_check(spy_token, "sign-ec")
    calls = spy_token.calls()[before:]
    for name in ("C_Initialize", "C_Login", "C_GenerateKeyPair", "C_SignInit", "C_Sign", "C_VerifyInit", "C_Verify"):
        assert name in calls, f"{name} not in the spy's log: {sorted(set(calls))}"
    assert calls.index("C_SignInit") < calls.index("C_Sign")
    assert child["verified_on_token"] is True
    assert child["tampered_verifies_on_token"] is False
    verify_ecdsa_sha256(child["public_der"], child["signature"])


def test_spy_no_pin_in_p11_output(spy_token: PKCS11SpyToken) -> None:
    before = len(spy_token.calls())
    child = run_check(spy_token, "describe")  # run_check also asserts no PIN in the child's output
    assert error_class(child["wrong_pin_error"]) is errors.error_class(int(lib.CKR_PIN_INCORRECT))
    assert child["wrong_pin_error"]["function"] == "C_Login"
    printed = "\n".join(child["reprs"]) + child["wrong_pin_error"]["message"]
    assert spy_token.label in printed  # the reprs were printed: there was something to leak
    assert spy_token.user_pin not in child.output
    assert spy_token.so_pin not in child.output
    assert spy_token.user_pin[::-1] not in child.output  # nor the wrong PIN, which was built from it
    # Both logins really went through the spy, PIN and all.
    assert spy_token.calls()[before:].count("C_Login") >= 2
