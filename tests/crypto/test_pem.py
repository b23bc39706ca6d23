"""The PEM scanner of import_pem (p11.crypto.pem): the blocks it finds, linear work on hostile input (counted,
not timed), and a fuzz of import_pem that lets only the documented exceptions out."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p11.api.session import Session
from p11.crypto import InvalidKeyData, import_pem
from p11.crypto.pem import PemBlock, scan
from p11.errors import P11Error
from tests.support import self_signed

_EC_KEY = ec.generate_private_key(ec.SECP256R1())
KEY_PEM = _EC_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
CERT_PEM = self_signed(_EC_KEY, "pem").public_bytes(serialization.Encoding.PEM)
RSA_PEM = rsa.generate_private_key(65537, 1024).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
)
ENCRYPTED_PEM = _EC_KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.BestAvailableEncryption(b"pw"),
)


def test_scan_finds_every_complete_block_with_text_around_them() -> None:
    data = b"Bag Attributes\n" + KEY_PEM + b"subject=CN = pem\n" + CERT_PEM.replace(b"\n", b"\r\n") + b"trailer"
    found = scan(data)
    assert [b.kind for b in found.blocks] == [b"PRIVATE KEY", b"CERTIFICATE"]
    assert found.blocks[0] == PemBlock(b"PRIVATE KEY", KEY_PEM.rstrip(b"\n"))
    assert found.blocks[1].text == CERT_PEM.replace(b"\n", b"\r\n").rstrip(b"\r\n")
    assert not found.incomplete


def test_a_begin_without_its_end_is_incomplete_and_the_next_block_still_counts() -> None:
    found = scan(b"-----BEGIN PRIVATE KEY-----\nAAAA\n" + CERT_PEM)
    assert found.incomplete and [b.kind for b in found.blocks] == [b"CERTIFICATE"]
    mismatched = scan(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert mismatched.incomplete and not mismatched.blocks


HOSTILE = {
    "begin lines": b"-----BEGIN CERTIFICATE-----\n",
    "begin and body": b"-----BEGIN PRIVATE KEY-----\nMIIBAAAA\n",
    "begin, no newline": b"-----BEGIN CERTIFICATE-----",
    "begin, no label end": b"-----BEGIN AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "dashes": b"-----",
    "wrong end": b"-----BEGIN A-----\n-----END B-----\n",
}


@pytest.mark.parametrize("unit", HOSTILE.values(), ids=HOSTILE.keys())
def test_scan_work_is_linear_in_the_input(unit: bytes) -> None:
    ratios = []
    for repeats in (500, 2000, 8000):
        data = unit * repeats
        found = scan(data)
        assert not found.blocks
        ratios.append(found.examined / len(data))
    # every byte looked at about once: the bytes examined per input byte do not grow with the input
    assert all(ratio <= 2.0 for ratio in ratios), ratios
    assert ratios[-1] <= ratios[0] + 0.01, ratios


def test_many_begin_lines_are_examined_about_once() -> None:
    # The old regular expression looked for an END from every BEGIN to the end of the data: about n²/2 bytes for
    # n BEGIN lines. The scan examines each byte about once.
    data = HOSTILE["begin lines"] * 4000
    assert scan(data).examined <= len(data) + 16


def test_import_pem_of_437_kib_of_begin_lines_is_refused(hsm: Session) -> None:
    data = HOSTILE["begin lines"] * (437 * 1024 // len(HOSTILE["begin lines"]))
    with pytest.raises(InvalidKeyData, match="no complete BEGIN/END block"):
        import_pem(hsm, data)


_FRAGMENTS = st.one_of(
    st.sampled_from(
        [
            b"-----BEGIN ",
            b"-----END ",
            b"-----",
            b"CERTIFICATE",
            b"PRIVATE KEY",
            b"EC PRIVATE KEY",
            b"RSA PRIVATE KEY",
            b"ENCRYPTED PRIVATE KEY",
            b"PUBLIC KEY",
            b"EC PARAMETERS",
            b"DH PARAMETERS",
            b"\n",
            b"\r\n",
            b"MIIB",
            b"AAAA",
            b"====",
            KEY_PEM,
            CERT_PEM,
            RSA_PEM,
            ENCRYPTED_PEM,
        ]
    ),
    st.sampled_from([KEY_PEM, CERT_PEM, RSA_PEM, ENCRYPTED_PEM]).flatmap(
        lambda pem: st.integers(0, len(pem)).map(lambda cut: pem[:cut])
    ),
    st.binary(max_size=40),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(_FRAGMENTS, max_size=12).map(b"".join),
    password=st.sampled_from([None, b"pw", "wrong"]),
)
def test_import_pem_lets_only_documented_exceptions_out(hsm: Session, data: bytes, password: Any) -> None:
    try:
        result = import_pem(hsm, data, password=password, token=False)
    except (ValueError, TypeError, P11Error):
        return
    for obj in result.objects:
        obj.destroy()
