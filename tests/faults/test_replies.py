"""Corrupted replies, injected by the fault shim: endless CKR_BUFFER_TOO_SMALL, a length larger than the buffer, a
size of 2^62 bytes, garbage attribute lengths. Each runs in a child process (a crash there is a failed test, not a
dead test run) with a time limit (a hang is a failed test too); the child reports what every case gave and checks
that no session opened through the shim is left open and that the token still works afterwards.

A case gives either the right value or a documented exception: never a wrong value, never bytes from past a buffer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from p11.testing import SoftHSM
from tests.support import HMAC_VALUE, ROOT, SECRET_PIN, Faulty

CHILD = textwrap.dedent(
    """
    import hashlib, hmac, json, sys
    import p11
    from p11 import Attribute, Mechanism, errors
    from p11._cffi import lib as L
    from p11.constants import ObjectClass
    from tests.faults.faultmod import FaultModule

    shim_path, wrapped, label, pin, hmac_hex, cases = sys.argv[1:7]
    shim = FaultModule(shim_path, wrapped)
    token = p11.load(shim_path).get_token(label=label)
    token.login(pin, keep_pin=True)
    keeper = token.open()  # SoftHSM drops its object handles when the last session closes: keep one
    hkey = token.get_key(label="hmac")
    priv = token.get_key(label="ec", class_=ObjectClass.PRIVATE_KEY)
    pub = token.get_key(label="ec", class_=ObjectClass.PUBLIC_KEY)
    mac = lambda m: hmac.new(bytes.fromhex(hmac_hex), m, hashlib.sha256).digest()
    truth = (priv.label, priv.id, pub[Attribute.EC_POINT], priv.key_type)
    messages = [b"b-%d" % i for i in range(12)]

    def digest_ll():
        with token.open() as s:
            token.library.module.C_DigestInit(s._handle, L.CKM_SHA256)
            return token.library.module.C_Digest(s._handle, b"abc") == hashlib.sha256(b"abc").digest()

    def batch():
        out = hkey.sign_many(messages, Mechanism.SHA256_HMAC, on_error="return")
        kinds = sorted({type(r).__name__ for r in out if not isinstance(r, bytes)})
        return all(r == mac(m) for r, m in zip(out, messages) if isinstance(r, bytes)), kinds

    ops = {
        "hmac_sign": lambda: hkey.sign(b"m", Mechanism.SHA256_HMAC) == mac(b"m"),
        "ec_sign": lambda: pub.verify_ok(b"m", priv.sign(b"m", Mechanism.ECDSA), Mechanism.ECDSA),
        "label": lambda: hkey.label == "hmac",
        "attrs": lambda: (priv.label, priv.id, pub[Attribute.EC_POINT], priv.key_type) == truth,
        "digest_ll": digest_ll,
        "batch": batch,
    }
    report = []
    for rule, op in json.loads(cases):
        with shim.faults(rule):
            try:
                report.append(["ok", ops[op]()])
            except (errors.P11Error, MemoryError) as exc:
                report.append([type(exc).__name__, str(exc)])
    assert hkey.sign(b"end", Mechanism.SHA256_HMAC) == mac(b"end")
    keeper.close()
    token.close_pool()
    print(json.dumps({"report": report, "open_sessions": shim.open_sessions()}))
    """
)


def run_cases(faulty: Faulty, softhsm: SoftHSM, cases: list[tuple[str, str]]) -> list[list[object]]:
    faulty.keeper.close()
    faulty.token.close_pool()  # the child uses the token alone
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, faulty.shim.path, faulty.shim.wrapped, faulty.label, SECRET_PIN,
         HMAC_VALUE.hex(), json.dumps(cases)],
        env={**softhsm.env, "PYTHONPATH": str(ROOT)},  # the child imports tests.faults.faultmod
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["open_sessions"] == 0
    assert len(out["report"]) == len(cases)
    return list(out["report"])


EXPECTED = [
    # endless CKR_BUFFER_TOO_SMALL: a bounded number of tries, then the error
    ("C_Sign buffer_too_small", "hmac_sign", "BufferTooSmall"),
    ("C_Sign buffer_too_small", "ec_sign", "BufferTooSmall"),
    ("C_GetAttributeValue buffer_too_small", "label", "BufferTooSmall"),  # regression: unwritten buffers decoded
    ("C_Digest buffer_too_small", "digest_ll", "BufferTooSmall"),
    # a reply longer than its buffer: refused (regression: the bytes past the end were returned)
    ("C_Sign overlong", "hmac_sign", "GeneralError"),
    ("C_Sign overlong", "ec_sign", "GeneralError"),
    ("C_Sign buffer_too_small nth=1; C_Sign overlong", "hmac_sign", "GeneralError"),
    ("C_GetAttributeValue overlong", "label", "GeneralError"),
    ("C_Digest overlong", "digest_ll", "ok"),  # the low level keeps what fits the buffer it gave
    # a size of 2^62 bytes: never allocated
    ("C_Sign buffer_too_small nth=1; C_Sign huge_length", "hmac_sign", "HostMemory"),
    ("C_GetAttributeValue overlong nth=1; C_GetAttributeValue huge_length", "label", "MemoryError"),
    ("C_GetAttributeValue huge_length", "label", "ok"),  # one call with buffers: no size query to corrupt
    ("C_Digest huge_length", "digest_ll", "MemoryError"),
]


def test_corrupted_replies_give_documented_errors(faulty: Faulty, softhsm: SoftHSM) -> None:
    report = run_cases(faulty, softhsm, [(rule, op) for rule, op, _ in EXPECTED])
    for (rule, op, expected), (kind, detail) in zip(EXPECTED, report, strict=True):
        assert kind == expected, (rule, op, kind, detail)
        if kind == "ok":
            assert detail is True, (rule, op)


def test_batch_with_overlong_replies_keeps_the_good_items(faulty: Faulty, softhsm: SoftHSM) -> None:
    [(kind, (all_right, kinds))] = run_cases(faulty, softhsm, [("C_Sign overlong every=2", "batch")])
    assert kind == "ok"
    assert all_right is True
    assert kinds == ["GeneralError"]


@pytest.mark.parametrize("seeds", [range(1, 21), range(21, 41)])
def test_garbage_attribute_lengths_never_give_a_wrong_value(faulty: Faulty, softhsm: SoftHSM, seeds: range) -> None:
    """Every length of a C_GetAttributeValue reply scrambled (on a seeded half of the calls): each read gives the
    true values or a documented error (GeneralError, MemoryError, BufferTooSmall), never other values."""
    cases = [(f"C_GetAttributeValue garbage_lengths prob=0.5 seed={seed}", "attrs") for seed in seeds]
    report = run_cases(faulty, softhsm, cases)
    kinds = {kind for kind, _ in report}
    assert kinds <= {"ok", "GeneralError", "MemoryError", "BufferTooSmall"}, report
    assert all(detail is True for kind, detail in report if kind == "ok"), report
    assert "ok" in kinds and len(kinds) > 1  # both outcomes were exercised
