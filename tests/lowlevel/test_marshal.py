"""Argument building: templates, mechanisms, buffers and PINs (checked in isolation and through SoftHSM)."""

from __future__ import annotations

import sys
import threading

import pytest

from p11 import lowlevel
from p11._cffi import ffi, lib
from p11.lowlevel import marshal
from tests.support import USER_PIN


def test_template_values_are_encoded_raw() -> None:
    arr, count, keep = marshal.template(
        {lib.CKA_TOKEN: True, lib.CKA_PRIVATE: False, lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_LABEL: "é", 0x9: b"\x00\x01"}
    )
    assert count == 5
    assert keep
    values = [ffi.buffer(ffi.cast("char *", arr[i].pValue), arr[i].ulValueLen)[:] for i in range(count)]
    assert [int(arr[i].type) for i in range(count)] == [lib.CKA_TOKEN, lib.CKA_PRIVATE, lib.CKA_CLASS, lib.CKA_LABEL, 9]
    assert values == [
        b"\x01",
        b"\x00",
        lib.CKO_DATA.to_bytes(ffi.sizeof("CK_ULONG"), sys.byteorder),
        "é".encode(),
        b"\x00\x01",
    ]


def test_nested_template_is_an_attribute_array() -> None:
    arr, count, _keep = marshal.template({lib.CKA_WRAP_TEMPLATE: [(lib.CKA_TOKEN, True), (lib.CKA_LABEL, "x")]})
    assert count == 1
    assert arr[0].ulValueLen == 2 * ffi.sizeof("CK_ATTRIBUTE")
    inner = ffi.cast("CK_ATTRIBUTE *", arr[0].pValue)
    assert int(inner[0].type) == lib.CKA_TOKEN
    assert int(inner[1].type) == lib.CKA_LABEL


def test_empty_template_is_a_valid_pointer_with_count_zero() -> None:
    for empty in (None, {}, []):
        arr, count, _keep = marshal.template(empty)
        assert count == 0
        assert arr != ffi.NULL


@pytest.mark.parametrize("bad", [None, 1.5, object()])
def test_template_value_of_wrong_type_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="attribute value"):
        marshal.template({lib.CKA_LABEL: bad})


def test_template_negative_int_raises_value_error() -> None:
    with pytest.raises(ValueError):
        marshal.template({lib.CKA_VALUE_LEN: -1})


def test_template_not_made_of_pairs_raises_type_error() -> None:
    with pytest.raises(TypeError, match="pairs"):
        marshal.template([lib.CKA_LABEL])


def test_plain_mechanism_structs_are_shared() -> None:
    first = marshal.mechanism(lib.CKM_SHA256)
    assert marshal.mechanism(lib.CKM_SHA256) is first
    assert first.mechanism == lib.CKM_SHA256
    assert first.pParameter == ffi.NULL
    assert first.ulParameterLen == 0


def test_mech_with_bytes_parameter_is_built_once() -> None:
    mech = lowlevel.Mech(lib.CKM_AES_CBC_PAD, bytes(16))
    c = marshal.mechanism(mech)
    assert marshal.mechanism(mech) is c
    assert c.mechanism == lib.CKM_AES_CBC_PAD
    assert c.ulParameterLen == 16


def test_mech_with_struct_parameter_takes_the_struct_size() -> None:
    params = ffi.new("CK_RSA_PKCS_PSS_PARAMS *", {"hashAlg": lib.CKM_SHA256, "sLen": 32})
    c = marshal.mechanism(lowlevel.Mech(lib.CKM_RSA_PKCS_PSS, params))
    assert c.ulParameterLen == ffi.sizeof("CK_RSA_PKCS_PSS_PARAMS")
    assert ffi.cast("CK_RSA_PKCS_PSS_PARAMS *", c.pParameter).sLen == 32


def test_ready_ck_mechanism_cdata_is_passed_through() -> None:
    c = ffi.new("CK_MECHANISM *", {"mechanism": lib.CKM_SHA256})
    assert marshal.mechanism(c) is c


@pytest.mark.parametrize("bad", ["CKM_SHA256", 1.0, None, ffi.new("CK_ULONG *")])
def test_mechanism_of_wrong_type_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="mechanism"):
        marshal.mechanism(bad)


def test_mech_repr_shows_name_and_size_not_parameter() -> None:
    secret = b"do-not-print-me!"
    text = repr(lowlevel.Mech(lib.CKM_AES_CBC_PAD, secret))
    assert "AES_CBC_PAD" in text
    assert "16 bytes" in text
    assert "do-not-print" not in text
    assert repr(lowlevel.Mech(lib.CKM_SHA256)) == "Mech(SHA256)"
    params = ffi.new("CK_GCM_PARAMS *")
    assert "CK_GCM_PARAMS" in repr(lowlevel.Mech(lib.CKM_AES_GCM, params))


def test_pin_encoding() -> None:
    assert marshal.pin_in("1234") == (b"1234", 4)
    assert marshal.pin_in("päss")[1] == 5
    assert marshal.pin_in(None) == (ffi.NULL, 0)
    with pytest.raises(TypeError, match="PIN"):
        marshal.pin_in(1234)  # type: ignore[arg-type]


def test_module_repr_holds_no_secrets(module: lowlevel.Module, session: int, softhsm: object) -> None:
    text = repr(module)
    assert module.path in text
    assert "2.40" in text
    assert USER_PIN not in text


def test_concurrent_calls_from_threads(module: lowlevel.Module, slot: int) -> None:
    # CKF_OS_LOCKING_OK: the module locks for itself and cffi releases the GIL during each call.
    errors: list[BaseException] = []
    digests: list[bytes] = []

    def work() -> None:
        try:
            session = module.C_OpenSession(slot)
            for i in range(200):
                module.C_DigestInit(session, lib.CKM_SHA256)
                digests.append(module.C_Digest(session, i.to_bytes(4, "big")))
            module.C_CloseSession(session)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(digests) == 800
    assert len(set(digests)) == 200
