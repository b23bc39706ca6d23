"""Helpers of the interop tests: run a check of ``child.py`` in a child that sees a token, and verify what
it signed here with ``cryptography``. Imported by the test modules (pytest puts this directory on ``sys.path``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from p11 import errors
from tests.interop.child import MESSAGE, RESULT_PREFIX
from tests.interop.harness import InteropToken

CHILD = Path(__file__).with_name("child.py")
CHILD_TIMEOUT = 60.0


class Child:
    """What a child run left: exit status, output, and the facts it reported (``.result``)."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        self.result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX):]) if lines else {}

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __getitem__(self, key: str) -> Any:
        return self.result[key]


def run_check(
    token: InteropToken, check: str, *args: str, env: dict[str, str] | None = None, expect_ok: bool = True
) -> Child:
    """Run ``child.py <check> <module> <label> [args]`` as a child that sees ``token``. Asserts it exited 0
    (its output in the failure message) and that neither of the token's PINs appears in anything it printed."""
    child_env = {"P11_INTEROP_PIN": token.user_pin, **(env or {})}
    proc = token.run_python(CHILD, check, token.module, token.label, *args, timeout=CHILD_TIMEOUT, env=child_env)
    child = Child(proc)
    if expect_ok:
        assert child.returncode == 0, f"child {check!r} exited {child.returncode}:\n{child.output[-4000:]}"
        assert child.result, f"child {check!r} reported nothing:\n{child.output[-4000:]}"
    for secret in (token.user_pin, token.so_pin):
        assert secret not in child.output, f"a PIN appeared in the output of child {check!r}"
    return child


# -- verifying what a child signed, here, with cryptography --------------------------------------------------------


def public_key(der_hex: str) -> Any:
    return serialization.load_der_public_key(bytes.fromhex(der_hex))


def verify_ecdsa_sha256(public_der_hex: str, signature_hex: str, message: bytes = MESSAGE) -> ec.EllipticCurvePublicKey:
    """Verify a PKCS#11 ECDSA signature (raw ``r || s``) over ``message`` with SHA-256; raises if it is wrong."""
    key = public_key(public_der_hex)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    raw = bytes.fromhex(signature_hex)
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    return key


def verify_rsa_sha256(public_der_hex: str, signature_hex: str, message: bytes = MESSAGE) -> rsa.RSAPublicKey:
    """Verify a PKCS#1 v1.5 SHA-256 signature over ``message``; raises if it is wrong."""
    key = public_key(public_der_hex)
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(bytes.fromhex(signature_hex), message, padding.PKCS1v15(), hashes.SHA256())
    return key


def error_class(facts: dict[str, Any] | None) -> type[BaseException]:
    """The exception class a child reported (``"p11.errors.PinIncorrect"``), looked up in this process."""
    assert facts is not None, "the child reported no exception"
    module, _, name = facts["class"].rpartition(".")
    assert module == errors.__name__, f"not a p11.errors class: {facts['class']} ({facts.get('message')})"
    cls = getattr(errors, name)
    assert isinstance(cls, type) and issubclass(cls, BaseException)
    return cls
