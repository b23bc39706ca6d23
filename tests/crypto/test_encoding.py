"""p11.crypto's encodings without a token: ECDSA r‖s ↔ DER, CKA_EC_PARAMS ↔ curves, CKA_EC_POINT, DER integers."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from p11.crypto import der_to_raw, raw_to_der
from p11.crypto.ecdsa import (
    curve_for_ec_params,
    decode_ec_point,
    ec_params_for_curve,
    edwards_curve_for_ec_params,
    edwards_ec_params,
    encode_ec_point,
    field_bytes,
)
from p11.crypto.errors import UnsupportedCurve
from p11.encodings import curves
from p11.encodings import der as _der

CURVES = [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1(), ec.SECP256K1(), ec.BrainpoolP256R1()]


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_software_ecdsa_signature_survives_der_to_raw_and_back(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    der = key.sign(b"message", ec.ECDSA(hashes.SHA256()))
    raw = der_to_raw(der, field_bytes(curve))
    assert len(raw) == 2 * field_bytes(curve)
    assert raw_to_der(raw) == der
    key.public_key().verify(raw_to_der(raw), b"message", ec.ECDSA(hashes.SHA256()))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2**521 - 1), st.integers(1, 2**521 - 1))
def test_raw_to_der_keeps_r_and_s(r: int, s: int) -> None:
    size = 66
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    assert decode_dss_signature(raw_to_der(raw)) == (r, s)
    assert der_to_raw(raw_to_der(raw), size) == raw


@pytest.mark.parametrize("bad", [b"", b"\x01\x02\x03"])
def test_raw_to_der_rejects_odd_or_empty_signatures(bad: bytes) -> None:
    with pytest.raises(ValueError, match="even"):
        raw_to_der(bad)


def test_der_to_raw_rejects_garbage_and_oversized_values() -> None:
    with pytest.raises(ValueError, match="not a DER ECDSA signature"):
        der_to_raw(b"\x30\x03garbage", 32)
    too_big = raw_to_der((2**300).to_bytes(64, "big") + (1).to_bytes(64, "big"))
    with pytest.raises(ValueError, match="do not fit 32 bytes"):
        der_to_raw(too_big, 32)


def test_p256_ec_params_are_the_der_oid() -> None:
    assert ec_params_for_curve(ec.SECP256R1()) == bytes.fromhex("06082A8648CE3D030107")


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_ec_params_round_trip_every_curve(curve: ec.EllipticCurve) -> None:
    assert curve_for_ec_params(ec_params_for_curve(curve)).name == curve.name


def test_curve_names_in_printable_string_form_are_understood() -> None:
    assert curve_for_ec_params(b"\x13\x0aprime256v1").name == "secp256r1"


@pytest.mark.parametrize(
    "params, message",
    [
        (bytes.fromhex("06032B6570"), "names no EC curve"),  # Ed25519 is not a Weierstrass curve
        (bytes.fromhex("06052B81040099"), "names no EC curve"),  # an OID nobody assigned
        (bytes.fromhex("3003020101"), "explicit curve parameters"),
        (b"", "empty"),
        (bytes.fromhex("0608"), "not valid DER"),
    ],
)
def test_unknown_or_malformed_ec_params_raise_unsupported_curve(params: bytes, message: str) -> None:
    with pytest.raises(UnsupportedCurve, match=message):
        curve_for_ec_params(params)


def test_unsupported_cryptography_curve_raises_unsupported_curve() -> None:
    with pytest.raises(UnsupportedCurve, match="secp192r1"):
        ec_params_for_curve(ec.SECP192R1())


@pytest.mark.parametrize("name", ["ed25519", "ed448"])
def test_edwards_params_in_both_forms_name_the_same_curve(name: str) -> None:
    oid_form = edwards_ec_params(name)  # type: ignore[arg-type]
    name_form = edwards_ec_params(name, form="name")  # type: ignore[arg-type]
    assert oid_form[0] == _der.TAG_OID and name_form[0] == _der.TAG_PRINTABLE_STRING
    assert edwards_curve_for_ec_params(oid_form) == name
    assert edwards_curve_for_ec_params(name_form) == name


def test_ed25519_params_are_rfc8410_oid_and_pkcs11_name() -> None:
    assert edwards_ec_params("ed25519") == bytes.fromhex("06032B6570")
    assert edwards_ec_params("ed25519", form="name") == b"\x13\x0cedwards25519"


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_ec_point_decodes_wrapped_and_bare(curve: ec.EllipticCurve) -> None:
    point = (
        ec.generate_private_key(curve)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    size = 2 * field_bytes(curve) + 1
    wrapped = encode_ec_point(point)
    assert wrapped[0] == 0x04 and len(wrapped) > size
    assert decode_ec_point(wrapped, size) == point
    assert decode_ec_point(point, size) == point


def test_p521_point_uses_long_form_der_length() -> None:
    point = b"\x04" + bytes(132)
    assert encode_ec_point(point)[:3] == b"\x04\x81\x85"


def test_ec_point_of_wrong_length_is_rejected() -> None:
    with pytest.raises(UnsupportedCurve, match="expected 65"):
        decode_ec_point(encode_ec_point(b"\x04" + bytes(10)), 65)
    with pytest.raises(UnsupportedCurve, match="neither a bare point"):
        decode_ec_point(b"\x05\x01\x00", 65)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**200), 2**200))
def test_der_integer_round_trips_and_is_minimal(value: int) -> None:
    der = _der.encode_integer(value)
    assert _der.decode_integer(der) == value
    body = der[2:]
    if len(body) > 1:  # minimal two's complement: no redundant leading 00 / FF byte
        assert not (body[0] == 0 and body[1] < 0x80)
        assert not (body[0] == 0xFF and body[1] >= 0x80)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=8), st.integers(0, 2), st.integers(0, 39))
def test_der_oid_round_trips(tail: list[int], first: int, second: int) -> None:
    dotted = ".".join(str(a) for a in [first, second, *tail])
    assert _der.decode_oid(_der.encode_oid(dotted)) == dotted


def test_one_der_encoder_long_forms_included() -> None:
    # An OID whose body passes 127 bytes gets a long-form length (curves had a short-form-only copy of its own).
    dotted = "1.2." + ".".join(["16383"] * 70)
    der = _der.encode_oid(dotted)
    assert der[:3] == b"\x06\x81\x8d" and _der.decode_oid(der) == dotted
    assert curves.encode_oid is _der.encode_oid and curves.printable_string is _der.encode_printable_string
    name = "a" * 200
    assert _der.encode_printable_string(name) == b"\x13\x81\xc8" + name.encode()
    assert _der.encode_printable_string("edwards25519") == b"\x13\x0cedwards25519"
    for bad in ("ed_25519", "caf\u00e9", "a*b"):
        with pytest.raises(_der.DERError, match="PrintableString"):
            _der.encode_printable_string(bad)
    with pytest.raises(_der.DERError):
        _der.encode_oid("1.2.x")


@pytest.mark.parametrize("bad", [b"", b"\x06", b"\x06\x05\x2a", b"\x06\x01\x2a\x00", b"\x04\x01\x2a", b"\x06\x80"])
def test_der_decoders_reject_malformed_input(bad: bytes) -> None:
    with pytest.raises(_der.DERError):
        _der.decode_oid(bad)
