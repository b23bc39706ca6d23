"""p11._native attribute marshalling against a real SoftHSM token: codecs, templates, batched reads, find.

Every round trip writes through ``create_object``/``set_attributes`` and reads back through ``get_attributes`` on a
real object, so both directions of each codec meet the token's own idea of the C layout. Objects are session
objects (``CKA_TOKEN`` false): they vanish with the test's session.

SoftHSM 2.6.1 facts these tests rely on (checked, not assumed):
- it stores ``CKA_ALLOWED_MECHANISMS`` as a set: order and duplicates are not kept;
- it has no ``CKA_DERIVE_TEMPLATE`` (``CKR_ATTRIBUTE_TYPE_INVALID``), nor vendor attributes;
- it cannot read back ``CKA_START_DATE``/``CKA_END_DATE`` of a *private* key once set (stored in clear, decrypted on
  read: ``CKR_GENERAL_ERROR``, SoftHSMv2 issues #655/#804), so dates are tested on non-private keys.
"""

from __future__ import annotations

import datetime
import pickle
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p11 import errors, lowlevel
from p11._cffi import ffi, lib
from p11._native import (
    ABSENT,
    ATTRIBUTE_CODECS,
    CODECS,
    SENSITIVE,
    UNAVAILABLE,
    Template,
    Unavailable,
    attribute_name,
    codec_of,
    create_object,
    decode,
    encode,
    find_objects,
    find_one,
    get_attribute,
    get_attributes,
    set_attributes,
)
from p11.constants import Attribute

if TYPE_CHECKING:
    from tests.support import FreshToken

ULONG_MAX = 2 ** (8 * ffi.sizeof("CK_ULONG")) - 1
VENDOR_ATTRIBUTE = lib.CKA_VENDOR_DEFINED + 0x1234

# Token round trips: bounded, and a session fixture reused across examples (objects are per-example and distinct).
TOKEN = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PURE = settings(max_examples=50, deadline=None)

texts = st.text(max_size=80)  # any code point but surrogates: NUL, non-ASCII, astral planes included
blobs = st.binary(max_size=300)
ulongs = st.integers(min_value=0, max_value=ULONG_MAX)
dates = st.one_of(st.none(), st.dates())
MECHANISMS = [lib.CKM_AES_GCM, lib.CKM_AES_CBC, lib.CKM_AES_KEY_WRAP, lib.CKM_AES_KEY_WRAP_PAD, lib.CKM_SHA256_HMAC,
              lib.CKM_RSA_PKCS, lib.CKM_ECDSA, lib.CKM_VENDOR_DEFINED + 7]


@pytest.fixture
def fl(module: lowlevel.Module) -> int:
    return module.gate_address


@pytest.fixture
def s(user_session: int) -> int:
    """A read-write session logged in as the user (private objects need it)."""
    return user_session


def unique(prefix: str = "attr") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def aes_key(fl: int, s: int, **extra: object) -> int:
    """A session AES-128 key made with C_CreateObject (not private, so dates can be read back on SoftHSM)."""
    template = {
        lib.CKA_CLASS: lib.CKO_SECRET_KEY,
        lib.CKA_KEY_TYPE: lib.CKK_AES,
        lib.CKA_TOKEN: False,
        lib.CKA_PRIVATE: False,
        lib.CKA_VALUE: bytes(range(16)),
    }
    template.update({getattr(lib, name): value for name, value in extra.items()})
    return create_object(fl, s, template)


# ------------------------------------------------------------------------------------------------------------------
# The codec table
# ------------------------------------------------------------------------------------------------------------------


def test_codec_table_names_all_resolve_in_the_header() -> None:
    import p11._native as native

    assert native._UNRESOLVED_NAMES == ()


def test_codec_table_covers_every_attribute_of_the_header() -> None:
    missing = [
        name for name in dir(lib)
        if name.startswith("CKA_") and name != "CKA_VENDOR_DEFINED" and getattr(lib, name) not in ATTRIBUTE_CODECS
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("CKA_CLASS", "ulong"), ("CKA_KEY_TYPE", "ulong"), ("CKA_MODULUS_BITS", "ulong"), ("CKA_VALUE_LEN", "ulong"),
        ("CKA_TOKEN", "bool"), ("CKA_PRIVATE", "bool"), ("CKA_SENSITIVE", "bool"), ("CKA_EXTRACTABLE", "bool"),
        ("CKA_LABEL", "utf8"), ("CKA_APPLICATION", "utf8"),
        ("CKA_ID", "bytes"), ("CKA_VALUE", "bytes"), ("CKA_MODULUS", "bytes"), ("CKA_PUBLIC_EXPONENT", "bytes"),
        ("CKA_EC_PARAMS", "bytes"), ("CKA_EC_POINT", "bytes"), ("CKA_SUBJECT", "bytes"),
        ("CKA_START_DATE", "date"), ("CKA_END_DATE", "date"),
        ("CKA_WRAP_TEMPLATE", "attributes"), ("CKA_UNWRAP_TEMPLATE", "attributes"),
        ("CKA_DERIVE_TEMPLATE", "attributes"), ("CKA_ALLOWED_MECHANISMS", "mechanisms"),
        ("CKA_ECDSA_PARAMS", "bytes"),  # a deprecated alias resolves through its value
    ],
)
def test_codec_table_gives_the_specification_type(name: str, codec: str) -> None:
    value = getattr(lib, name)
    assert ATTRIBUTE_CODECS[value] == codec
    assert codec_of(value) == codec


def test_codec_table_is_read_only_and_uses_known_codecs() -> None:
    with pytest.raises(TypeError):
        ATTRIBUTE_CODECS[lib.CKA_LABEL] = "bytes"  # type: ignore[index]
    assert set(ATTRIBUTE_CODECS.values()) <= set(CODECS)


def test_unknown_and_vendor_attributes_are_raw_bytes() -> None:
    assert codec_of(VENDOR_ATTRIBUTE) == "bytes"
    assert codec_of(0x7FFF) == "bytes"
    assert encode(VENDOR_ATTRIBUTE, b"\x00\xff") == b"\x00\xff"
    assert decode(VENDOR_ATTRIBUTE, b"\x00\xff") == b"\x00\xff"


def test_attribute_names_are_canonical_and_name_vendor_offsets() -> None:
    assert attribute_name(lib.CKA_EC_PARAMS) == "CKA_EC_PARAMS"  # not the deprecated CKA_ECDSA_PARAMS
    assert attribute_name(lib.CKA_SUBPRIME_BITS) == "CKA_SUBPRIME_BITS"
    assert attribute_name(VENDOR_ATTRIBUTE) == "CKA_VENDOR_DEFINED+0x1234"
    assert attribute_name(0x7FFF) == "attribute 0x00007FFF"


# ------------------------------------------------------------------------------------------------------------------
# Single-value codecs, without a token (encode -> decode, and the exact C layout)
# ------------------------------------------------------------------------------------------------------------------


@PURE
@given(value=ulongs)
def test_ulong_codec_is_a_native_ck_ulong(value: int) -> None:
    raw = encode(lib.CKA_VALUE_LEN, value)
    assert len(raw) == ffi.sizeof("CK_ULONG")
    assert ffi.cast("CK_ULONG *", ffi.from_buffer(raw))[0] == value
    assert decode(lib.CKA_VALUE_LEN, raw) == value


@PURE
@given(value=st.lists(ulongs, max_size=20))
def test_mechanism_array_codec_is_a_ck_ulong_array(value: list[int]) -> None:
    raw = encode(lib.CKA_ALLOWED_MECHANISMS, value)
    assert len(raw) == len(value) * ffi.sizeof("CK_ULONG")
    assert list(ffi.cast("CK_ULONG *", ffi.from_buffer(raw))[0 : len(value)]) == value
    assert decode(lib.CKA_ALLOWED_MECHANISMS, raw) == value


@PURE
@given(value=texts)
def test_utf8_codec_is_plain_utf8(value: str) -> None:
    assert encode(lib.CKA_LABEL, value) == value.encode("utf-8")
    assert decode(lib.CKA_LABEL, value.encode("utf-8")) == value


def test_utf8_codec_keeps_bytes_that_are_not_utf8() -> None:
    label = decode(lib.CKA_LABEL, b"caf\xe9")  # Latin-1 written by some other tool
    assert isinstance(label, str)
    assert encode(lib.CKA_LABEL, label) == b"caf\xe9"


@PURE
@given(value=st.dates())
def test_date_codec_is_ck_date_digits(value: datetime.date) -> None:
    raw = encode(lib.CKA_START_DATE, value)
    assert raw == f"{value.year:04d}{value.month:02d}{value.day:02d}".encode("ascii")
    assert len(raw) == ffi.sizeof("CK_DATE")
    assert decode(lib.CKA_START_DATE, raw) == value


@pytest.mark.parametrize("raw", [b"", b"\x00" * 8, b" " * 8, b"00000000"])
def test_empty_dates_decode_to_none(raw: bytes) -> None:
    assert decode(lib.CKA_END_DATE, raw) is None
    assert encode(lib.CKA_END_DATE, None) == b""


@pytest.mark.parametrize("raw", [b"20241301", b"2024-1-1", b"2024"])
def test_dates_that_are_not_dates_come_back_raw(raw: bytes) -> None:
    assert decode(lib.CKA_START_DATE, raw) == raw


def test_bool_codec_is_one_ck_bbool_and_odd_lengths_come_back_raw() -> None:
    assert encode(lib.CKA_TOKEN, True) == bytes([lib.CK_TRUE])
    assert encode(lib.CKA_TOKEN, False) == bytes([lib.CK_FALSE])
    assert decode(lib.CKA_TOKEN, b"\x01") is True
    assert decode(lib.CKA_TOKEN, b"\x00") is False
    assert decode(lib.CKA_TOKEN, b"\x01\x00") == b"\x01\x00"  # a token with a wrong length: nothing is lost


def test_bytes_codec_takes_any_bytes_like_object() -> None:
    assert encode(lib.CKA_ID, bytearray(b"ab")) == b"ab"
    assert encode(lib.CKA_ID, memoryview(b"abc")[1:]) == b"bc"


# ------------------------------------------------------------------------------------------------------------------
# Wrong Python types: TypeError naming the attribute, before any call reaches the token
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        (lib.CKA_LABEL, 5, "CKA_LABEL expects str, got int"),
        (lib.CKA_LABEL, b"x", "CKA_LABEL expects str, got bytes"),
        (lib.CKA_TOKEN, 1, "CKA_TOKEN expects bool, got int"),
        (lib.CKA_CLASS, "data", "CKA_CLASS expects int, got str"),
        (lib.CKA_VALUE_LEN, True, "CKA_VALUE_LEN expects int, got bool"),
        (lib.CKA_ID, "abc", "CKA_ID expects bytes, got str"),
        (lib.CKA_VALUE, 16, "CKA_VALUE expects bytes, got int"),
        (lib.CKA_START_DATE, "2024-01-01", "CKA_START_DATE expects datetime.date or None, got str"),
        (lib.CKA_ALLOWED_MECHANISMS, lib.CKM_AES_GCM, "CKA_ALLOWED_MECHANISMS expects a sequence of int, got int"),
        (lib.CKA_ALLOWED_MECHANISMS, ["x"], "CKA_ALLOWED_MECHANISMS expects a sequence of int, got a str in it"),
        (lib.CKA_WRAP_TEMPLATE, [lib.CKA_TOKEN], "CKA_WRAP_TEMPLATE expects a mapping of attributes, got list"),
        (VENDOR_ATTRIBUTE, "text", "CKA_VENDOR_DEFINED+0x1234 expects bytes, got str"),
    ],
)
def test_wrong_python_type_raises_type_error_naming_the_attribute(
    fl: int, s: int, attribute: int, value: object, message: str
) -> None:
    before = find_objects(fl, s, {})
    with pytest.raises(TypeError, match=f"^{message.replace('+', '[+]')}$"):
        create_object(fl, s, {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, attribute: value})
    with pytest.raises(TypeError, match=message.replace("+", "[+]")):
        Template({attribute: value})
    assert find_objects(fl, s, {}) == before  # nothing reached the token


def test_wrong_type_inside_a_nested_template_names_both_attributes() -> None:
    with pytest.raises(TypeError, match=r"^CKA_LABEL \(in CKA_WRAP_TEMPLATE\) expects str, got int$"):
        Template({lib.CKA_WRAP_TEMPLATE: {lib.CKA_LABEL: 1}})


@pytest.mark.parametrize("key", ["CKA_LABEL", 3.0, True, None])
def test_attribute_types_must_be_ints(key: object) -> None:
    with pytest.raises(TypeError, match="attribute types are CKA_\\* ints"):
        Template({key: "x"})


@pytest.mark.parametrize(("attribute", "value"), [(lib.CKA_VALUE_LEN, -1), (lib.CKA_CLASS, ULONG_MAX + 1)])
def test_out_of_range_ulongs_raise_value_error(attribute: int, value: int) -> None:
    with pytest.raises(ValueError, match=attribute_name(attribute)):
        Template({attribute: value})


def test_a_template_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="a template is a mapping"):
        Template([(lib.CKA_LABEL, "x")])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------------------
# Round trips through the token, one per codec
# ------------------------------------------------------------------------------------------------------------------


@TOKEN
@given(label=texts, application=texts, value=st.binary(max_size=4000), oid=blobs,
       private=st.booleans(), modifiable=st.booleans(), copyable=st.booleans())
def test_data_object_round_trips_utf8_bytes_and_bools(
    fl: int, s: int, label: str, application: str, value: bytes, oid: bytes,
    private: bool, modifiable: bool, copyable: bool,
) -> None:
    written = {
        lib.CKA_CLASS: lib.CKO_DATA,
        lib.CKA_TOKEN: False,
        lib.CKA_LABEL: label,
        lib.CKA_APPLICATION: application,
        lib.CKA_VALUE: value,
        lib.CKA_OBJECT_ID: oid,
        lib.CKA_PRIVATE: private,
        lib.CKA_MODIFIABLE: modifiable,
        lib.CKA_COPYABLE: copyable,
    }
    handle = create_object(fl, s, written)
    read = get_attributes(fl, s, handle, list(written))
    assert read == written
    assert type(read[lib.CKA_CLASS]) is int and type(read[lib.CKA_PRIVATE]) is bool


@TOKEN
@given(first=texts, second=texts, ident=blobs, encrypt=st.booleans())
def test_set_attributes_then_get_round_trips(fl: int, s: int, first: str, second: str, ident: bytes,
                                             encrypt: bool) -> None:
    key = aes_key(fl, s, CKA_LABEL=first)
    set_attributes(fl, s, key, {lib.CKA_LABEL: second, lib.CKA_ID: ident, lib.CKA_ENCRYPT: encrypt})
    assert get_attributes(fl, s, key, (lib.CKA_LABEL, lib.CKA_ID, lib.CKA_ENCRYPT)) == {
        lib.CKA_LABEL: second, lib.CKA_ID: ident, lib.CKA_ENCRYPT: encrypt}


@TOKEN
@given(length=st.sampled_from([16, 24, 32]))
def test_generated_key_reports_value_len_class_and_key_type_as_ints(fl: int, s: int, module: lowlevel.Module,
                                                                    length: int) -> None:
    key = module.C_GenerateKey(s, lib.CKM_AES_KEY_GEN, {lib.CKA_VALUE_LEN: length, lib.CKA_TOKEN: False})
    assert get_attributes(fl, s, key, [lib.CKA_VALUE_LEN, lib.CKA_CLASS, lib.CKA_KEY_TYPE]) == {
        lib.CKA_VALUE_LEN: length, lib.CKA_CLASS: lib.CKO_SECRET_KEY, lib.CKA_KEY_TYPE: lib.CKK_AES}


@TOKEN
@given(start=dates, end=dates, later_start=dates)
def test_dates_round_trip_on_a_secret_key_including_empty(
    fl: int, s: int, start: datetime.date | None, end: datetime.date | None, later_start: datetime.date | None
) -> None:
    key = aes_key(fl, s, CKA_START_DATE=start, CKA_END_DATE=end)
    assert get_attributes(fl, s, key, [lib.CKA_START_DATE, lib.CKA_END_DATE]) == {
        lib.CKA_START_DATE: start, lib.CKA_END_DATE: end}
    set_attributes(fl, s, key, {lib.CKA_START_DATE: later_start})
    assert get_attribute(fl, s, key, lib.CKA_START_DATE) == later_start


def test_a_new_key_has_empty_dates(fl: int, s: int) -> None:
    key = aes_key(fl, s)
    assert get_attributes(fl, s, key, [lib.CKA_START_DATE, lib.CKA_END_DATE]) == {
        lib.CKA_START_DATE: None, lib.CKA_END_DATE: None}


nested_templates = st.fixed_dictionaries(
    {},
    optional={
        lib.CKA_CLASS: st.sampled_from([lib.CKO_SECRET_KEY, lib.CKO_PRIVATE_KEY]),
        lib.CKA_KEY_TYPE: st.sampled_from([lib.CKK_AES, lib.CKK_RSA, lib.CKK_EC]),
        lib.CKA_EXTRACTABLE: st.booleans(),
        lib.CKA_SENSITIVE: st.booleans(),
        lib.CKA_LABEL: texts,
        lib.CKA_ID: blobs,
        lib.CKA_END_DATE: dates,
        lib.CKA_ALLOWED_MECHANISMS: st.lists(st.sampled_from(MECHANISMS), unique=True, max_size=4),
    },
)


@TOKEN
@given(wrap=nested_templates, unwrap=nested_templates)
def test_wrap_and_unwrap_templates_round_trip_as_attribute_arrays(
    fl: int, s: int, wrap: dict[int, object], unwrap: dict[int, object]
) -> None:
    key = aes_key(fl, s, CKA_WRAP=True, CKA_UNWRAP=True, CKA_WRAP_TEMPLATE=wrap, CKA_UNWRAP_TEMPLATE=unwrap)
    read = get_attributes(fl, s, key, [lib.CKA_WRAP_TEMPLATE, lib.CKA_UNWRAP_TEMPLATE, lib.CKA_WRAP, lib.CKA_LABEL])
    assert read == {lib.CKA_WRAP_TEMPLATE: wrap, lib.CKA_UNWRAP_TEMPLATE: unwrap, lib.CKA_WRAP: True,
                    lib.CKA_LABEL: ""}


def test_a_template_value_can_be_a_template(fl: int, s: int) -> None:
    inner = Template({lib.CKA_EXTRACTABLE: False, lib.CKA_LABEL: "wrapped"})
    key = aes_key(fl, s, CKA_WRAP=True, CKA_WRAP_TEMPLATE=inner)
    assert get_attribute(fl, s, key, lib.CKA_WRAP_TEMPLATE) == {lib.CKA_EXTRACTABLE: False, lib.CKA_LABEL: "wrapped"}


@TOKEN
@given(mechanisms=st.lists(st.sampled_from(MECHANISMS), min_size=1, max_size=8))
def test_allowed_mechanisms_round_trip_as_a_set_on_softhsm(fl: int, s: int, mechanisms: list[int]) -> None:
    key = aes_key(fl, s, CKA_ALLOWED_MECHANISMS=mechanisms)
    read = get_attribute(fl, s, key, lib.CKA_ALLOWED_MECHANISMS)
    assert isinstance(read, list)
    assert sorted(read) == sorted(set(mechanisms))  # SoftHSM keeps a set: order and duplicates are its own


def test_allowed_mechanisms_default_is_empty_and_softhsm_refuses_writing_an_empty_list(fl: int, s: int) -> None:
    assert get_attribute(fl, s, aes_key(fl, s), lib.CKA_ALLOWED_MECHANISMS) == []
    with pytest.raises(errors.AttributeValueInvalid, match="C_CreateObject"):
        aes_key(fl, s, CKA_ALLOWED_MECHANISMS=[])


def test_derive_template_is_refused_by_softhsm_with_a_typed_error(fl: int, s: int) -> None:
    derive = {lib.CKA_SENSITIVE: True, lib.CKA_VALUE_LEN: 32}
    assert Template({lib.CKA_DERIVE_TEMPLATE: derive}).to_dict() == {lib.CKA_DERIVE_TEMPLATE: derive}
    with pytest.raises(errors.AttributeTypeInvalid) as info:
        aes_key(fl, s, CKA_DERIVE=True, CKA_DERIVE_TEMPLATE=derive)
    assert info.value.function == "C_CreateObject"
    assert get_attribute(fl, s, aes_key(fl, s), lib.CKA_DERIVE_TEMPLATE) is ABSENT


def test_vendor_attribute_is_refused_on_write_and_absent_on_read(fl: int, s: int) -> None:
    with pytest.raises(errors.AttributeTypeInvalid, match="C_CreateObject"):
        create_object(fl, s, {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, VENDOR_ATTRIBUTE: b"\x01"})
    handle = create_object(fl, s, {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, lib.CKA_LABEL: "v"})
    assert get_attributes(fl, s, handle, [VENDOR_ATTRIBUTE, lib.CKA_LABEL]) == {VENDOR_ATTRIBUTE: ABSENT,
                                                                                  lib.CKA_LABEL: "v"}


def test_values_larger_than_the_stack_buffer_and_many_attributes(fl: int, s: int) -> None:
    big = bytes(range(256)) * 100  # 25.6 kB: read through the exact (size, then value) path
    handle = create_object(fl, s, {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, lib.CKA_VALUE: big,
                                   lib.CKA_LABEL: "big", lib.CKA_OBJECT_ID: b"\x06\x01\x00"})
    first = [lib.CKA_VALUE, lib.CKA_LABEL, lib.CKA_OBJECT_ID, lib.CKA_MODULUS]
    wanted = first + [a for a in sorted(ATTRIBUTE_CODECS) if a not in first][:40]  # > 16: heap-allocated template
    read = get_attributes(fl, s, handle, wanted)
    assert read[lib.CKA_VALUE] == big
    assert read[lib.CKA_LABEL] == "big"
    assert read[lib.CKA_OBJECT_ID] == b"\x06\x01\x00"
    assert read[lib.CKA_MODULUS] is ABSENT
    assert set(read) == set(wanted)


def test_keys_of_the_result_are_the_objects_asked_for(fl: int, s: int) -> None:
    handle = create_object(fl, s, {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, lib.CKA_LABEL: "k"})
    read = get_attributes(fl, s, handle, iter([Attribute.LABEL, Attribute.CLASS]))
    assert [type(k) for k in read] == [Attribute, Attribute]
    assert read == {lib.CKA_LABEL: "k", lib.CKA_CLASS: lib.CKO_DATA}
    assert get_attributes(fl, s, handle, []) == {}


# ------------------------------------------------------------------------------------------------------------------
# Refused attributes: markers, not exceptions
# ------------------------------------------------------------------------------------------------------------------


def test_sensitive_value_is_a_marker_and_the_rest_of_the_read_is_there(fl: int, s: int,
                                                                       module: lowlevel.Module) -> None:
    key = module.C_GenerateKey(s, lib.CKM_AES_KEY_GEN, {lib.CKA_VALUE_LEN: 32, lib.CKA_TOKEN: False,
                                                       lib.CKA_SENSITIVE: True, lib.CKA_LABEL: "secret"})
    read = get_attributes(fl, s, key, [lib.CKA_LABEL, lib.CKA_VALUE, lib.CKA_VALUE_LEN, lib.CKA_SENSITIVE,
                                       lib.CKA_KEY_TYPE])
    assert read == {lib.CKA_LABEL: "secret", lib.CKA_VALUE: SENSITIVE, lib.CKA_VALUE_LEN: 32,
                    lib.CKA_SENSITIVE: True, lib.CKA_KEY_TYPE: lib.CKK_AES}


def test_sensitive_and_absent_in_one_read_are_told_apart(fl: int, s: int, module: lowlevel.Module) -> None:
    key = module.C_GenerateKey(s, lib.CKM_AES_KEY_GEN, {lib.CKA_VALUE_LEN: 16, lib.CKA_TOKEN: False,
                                                       lib.CKA_SENSITIVE: True, lib.CKA_WRAP: True})
    read = get_attributes(fl, s, key, [lib.CKA_MODULUS, lib.CKA_VALUE, lib.CKA_WRAP_TEMPLATE, lib.CKA_EC_POINT,
                                       lib.CKA_WRAP])
    assert read == {lib.CKA_MODULUS: ABSENT, lib.CKA_VALUE: SENSITIVE, lib.CKA_WRAP_TEMPLATE: {},
                    lib.CKA_EC_POINT: ABSENT, lib.CKA_WRAP: True}


@pytest.mark.parametrize("order", [0, 1])
def test_a_refused_attribute_array_is_a_marker_next_to_flat_values(fl: int, s: int, module: lowlevel.Module,
                                                                    order: int) -> None:
    data = create_object(fl, s, {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, lib.CKA_LABEL: "no-arrays"})
    wanted = [lib.CKA_LABEL, lib.CKA_WRAP_TEMPLATE][:: 1 if order == 0 else -1]
    assert get_attributes(fl, s, data, wanted) == {lib.CKA_LABEL: "no-arrays", lib.CKA_WRAP_TEMPLATE: ABSENT}
    key = module.C_GenerateKey(s, lib.CKM_AES_KEY_GEN, {lib.CKA_VALUE_LEN: 16, lib.CKA_TOKEN: False,
                                                       lib.CKA_SENSITIVE: True, lib.CKA_LABEL: "arrays"})
    wanted = [lib.CKA_VALUE, lib.CKA_UNWRAP_TEMPLATE, lib.CKA_LABEL][:: 1 if order == 0 else -1]
    assert get_attributes(fl, s, key, wanted) == {lib.CKA_VALUE: SENSITIVE, lib.CKA_UNWRAP_TEMPLATE: {},
                                                  lib.CKA_LABEL: "arrays"}


def test_unextractable_value_is_sensitive_and_extractable_one_is_returned(fl: int, s: int,
                                                                         module: lowlevel.Module) -> None:
    locked = module.C_GenerateKey(s, lib.CKM_AES_KEY_GEN, {lib.CKA_VALUE_LEN: 16, lib.CKA_TOKEN: False,
                                                          lib.CKA_SENSITIVE: False, lib.CKA_EXTRACTABLE: False})
    open_key = module.C_GenerateKey(s, lib.CKM_AES_KEY_GEN, {lib.CKA_VALUE_LEN: 16, lib.CKA_TOKEN: False,
                                                            lib.CKA_SENSITIVE: False, lib.CKA_EXTRACTABLE: True})
    assert get_attribute(fl, s, locked, lib.CKA_VALUE) is SENSITIVE
    value = get_attribute(fl, s, open_key, lib.CKA_VALUE)
    assert isinstance(value, bytes) and len(value) == 16


def test_markers_are_typed_singletons_without_a_truth_value() -> None:
    assert [repr(m) for m in (SENSITIVE, ABSENT, UNAVAILABLE)] == ["SENSITIVE", "ABSENT", "UNAVAILABLE"]
    assert all(isinstance(m, Unavailable) for m in (SENSITIVE, ABSENT, UNAVAILABLE))
    assert pickle.loads(pickle.dumps(SENSITIVE)) is SENSITIVE
    with pytest.raises(TypeError, match="no truth value"):
        bool(SENSITIVE)
    with pytest.raises(TypeError, match="singletons"):
        Unavailable("OTHER", "made up", None)


def test_other_failures_raise_the_typed_error_naming_the_function(fl: int, s: int) -> None:
    handle = create_object(fl, s, {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False})
    with pytest.raises(errors.ObjectHandleInvalid) as info:
        get_attributes(fl, s, handle + 100_000, [lib.CKA_LABEL])
    assert info.value.function == "C_GetAttributeValue"
    with pytest.raises(errors.SessionHandleInvalid, match="C_GetAttributeValue"):
        get_attributes(fl, 0xDEAD, handle, [lib.CKA_LABEL])
    with pytest.raises(errors.AttributeReadOnly, match="C_SetAttributeValue"):
        set_attributes(fl, s, handle, {lib.CKA_CLASS: lib.CKO_SECRET_KEY})


def test_bad_function_list_and_types_arguments(fl: int, s: int, module: lowlevel.Module) -> None:
    with pytest.raises(ValueError, match="address is 0"):
        get_attributes(0, s, 1, [lib.CKA_LABEL])
    with pytest.raises(ValueError, match="not a module call gate"):
        get_attributes(module.function_list_address, s, 1, [lib.CKA_LABEL])
    with pytest.raises(TypeError, match="call gate"):
        find_objects("0x1234", s, {})
    with pytest.raises(TypeError, match="sequence of CKA_"):
        get_attributes(fl, s, 1, lib.CKA_LABEL)
    # the lowlevel Module itself is accepted in place of its address
    handle = create_object(module, s, {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, lib.CKA_LABEL: "m"})
    assert get_attribute(module, s, handle, lib.CKA_LABEL) == "m"


# ------------------------------------------------------------------------------------------------------------------
# Template
# ------------------------------------------------------------------------------------------------------------------


@PURE
@given(label=texts, ident=blobs, flag=st.booleans(), length=ulongs, start=dates, wrap=nested_templates,
       mechanisms=st.lists(ulongs, max_size=5))
def test_template_holds_exactly_what_was_given(label: str, ident: bytes, flag: bool, length: int,
                                               start: datetime.date | None, wrap: dict[int, object],
                                               mechanisms: list[int]) -> None:
    given_ = {lib.CKA_LABEL: label, lib.CKA_ID: ident, lib.CKA_TOKEN: flag, lib.CKA_VALUE_LEN: length,
              lib.CKA_START_DATE: start, lib.CKA_UNWRAP_TEMPLATE: wrap, lib.CKA_ALLOWED_MECHANISMS: mechanisms}
    template = Template(given_)
    assert len(template) == template.count == 7
    assert template.types == tuple(given_)
    assert template.to_dict() == given_
    assert Template(template).to_dict() == given_  # a copy from C memory


def test_template_address_and_count_work_for_cffi_callers(fl: int, s: int, module: lowlevel.Module) -> None:
    label = unique()
    template = Template({lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, lib.CKA_LABEL: label})
    attrs = ffi.cast("CK_ATTRIBUTE *", template.address)
    assert attrs[2].type == lib.CKA_LABEL
    assert ffi.buffer(attrs[2].pValue, attrs[2].ulValueLen)[:] == label.encode()
    functions = ffi.cast("CK_FUNCTION_LIST *", module.function_list_address)
    out = ffi.new("CK_OBJECT_HANDLE *")
    assert functions.C_CreateObject(s, attrs, template.count, out) == lib.CKR_OK
    assert find_objects(fl, s, {lib.CKA_LABEL: label}) == [out[0]]


def test_template_repr_names_attributes_and_hides_values() -> None:
    template = Template({lib.CKA_VALUE: b"top-secret-key!!", lib.CKA_LABEL: "k"})
    assert repr(template) == "Template(CKA_VALUE, CKA_LABEL)"
    assert lib.CKA_VALUE in template and lib.CKA_ID not in template


def test_template_is_immutable_and_not_picklable() -> None:
    template = Template({lib.CKA_LABEL: "x"})
    with pytest.raises(TypeError, match="immutable"):
        template.__init__({lib.CKA_LABEL: "y"})
    assert template.to_dict() == {lib.CKA_LABEL: "x"}
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(template)
    assert Template().address == 0 and len(Template()) == 0


# ------------------------------------------------------------------------------------------------------------------
# find_objects
# ------------------------------------------------------------------------------------------------------------------


def make_data(fl: int, s: int, label: str, n: int, **extra: object) -> list[int]:
    template = Template({lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False, lib.CKA_LABEL: label,
                         **{getattr(lib, k): v for k, v in extra.items()}})
    return [create_object(fl, s, template) for _ in range(n)]


def test_find_by_label_returns_exactly_the_objects_created(fl: int, s: int) -> None:
    label, other = unique(), unique()
    mine = make_data(fl, s, label, 3)
    make_data(fl, s, other, 2)
    found = find_objects(fl, s, {lib.CKA_LABEL: label})
    assert sorted(found) == sorted(mine)
    assert find_objects(fl, s, Template({lib.CKA_LABEL: label})) == found  # a prebuilt Template, same answer
    assert find_objects(fl, s, {lib.CKA_LABEL: unique()}) == []


@pytest.fixture
def fresh_session(module: lowlevel.Module, fresh_token: FreshToken) -> Iterator[int]:
    session = module.C_OpenSession(fresh_token.slot, lib.CKF_RW_SESSION)
    module.C_Login(session, lib.CKU_USER, fresh_token.user_pin)
    yield session
    module.C_CloseSession(session)


def test_find_by_class_on_a_fresh_token_returns_exactly_the_objects_created(fl: int, fresh_session: int) -> None:
    s = fresh_session
    data = make_data(fl, s, "d", 4)
    keys = [aes_key(fl, s) for _ in range(3)]
    assert sorted(find_objects(fl, s, {lib.CKA_CLASS: lib.CKO_DATA})) == sorted(data)
    assert sorted(find_objects(fl, s, {lib.CKA_CLASS: lib.CKO_SECRET_KEY})) == sorted(keys)
    assert sorted(find_objects(fl, s, {})) == sorted(data + keys)


def test_find_gathers_more_than_one_batch(fl: int, s: int) -> None:
    label = unique()
    mine = make_data(fl, s, label, 150)  # more than the 64 handles asked per C_FindObjects
    found = find_objects(fl, s, {lib.CKA_LABEL: label})
    assert len(found) == 150 and sorted(found) == sorted(mine)


def test_limit_stops_early_and_the_search_is_finalised(fl: int, s: int) -> None:
    label = unique()
    mine = make_data(fl, s, label, 5)
    two = find_objects(fl, s, {lib.CKA_LABEL: label}, limit=2)
    assert len(two) == 2 and set(two) <= set(mine)
    assert sorted(find_objects(fl, s, {lib.CKA_LABEL: label})) == sorted(mine)  # no CKR_OPERATION_ACTIVE
    assert find_one(fl, s, {lib.CKA_LABEL: label}) in mine
    assert find_one(fl, s, {lib.CKA_LABEL: unique()}) is None
    assert find_objects(fl, s, {lib.CKA_LABEL: label}, limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        find_objects(fl, s, {}, limit=-1)


def test_find_init_failure_raises_the_typed_error(fl: int, s: int) -> None:
    with pytest.raises(errors.SessionHandleInvalid) as info:
        find_objects(fl, 0xDEAD, {lib.CKA_LABEL: "x"})
    assert info.value.function == "C_FindObjectsInit"


def test_final_is_called_when_find_objects_fails(fl: int, s: int, module: lowlevel.Module) -> None:
    """C_FindObjects fails half-way: the error is raised, and the real token's search was still finalised.

    The failure is injected by a function list that is SoftHSM's own with one entry replaced (C_FindObjects answers
    CKR_DEVICE_ERROR after letting SoftHSM return one handle); C_FindObjectsInit and C_FindObjectsFinal are SoftHSM's.
    If Final were skipped, SoftHSM would keep the search active and the next find would fail.
    """
    label = unique()
    mine = make_data(fl, s, label, 3)
    real = ffi.cast("CK_FUNCTION_LIST *", module.function_list_address)
    faulty = ffi.new("CK_FUNCTION_LIST *")
    ffi.memmove(faulty, real, ffi.sizeof("CK_FUNCTION_LIST"))
    calls: list[str] = []
    lock = threading.Lock()

    @ffi.callback("CK_RV(CK_SESSION_HANDLE, CK_OBJECT_HANDLE *, CK_ULONG, CK_ULONG *)")
    def find_then_fail(session, out, max_count, count):  # type: ignore[no-untyped-def]
        with lock:
            calls.append("C_FindObjects")
            if len(calls) == 1:
                return real.C_FindObjects(session, out, 1, count)
            return lib.CKR_DEVICE_ERROR

    @ffi.callback("CK_RV(CK_SESSION_HANDLE)")
    def final(session):  # type: ignore[no-untyped-def]
        with lock:
            calls.append("C_FindObjectsFinal")
        return real.C_FindObjectsFinal(session)

    faulty.C_FindObjects = find_then_fail
    faulty.C_FindObjectsFinal = final
    gate = lib.p11_gate_new(faulty, 2)  # p11._native calls through a gate: one for the faulty list
    address = int(ffi.cast("uintptr_t", gate))
    with pytest.raises(errors.DeviceError) as info:
        find_objects(address, s, {lib.CKA_LABEL: label})
    assert info.value.function == "C_FindObjects"
    assert calls == ["C_FindObjects", "C_FindObjects", "C_FindObjectsFinal"]
    assert sorted(find_objects(fl, s, {lib.CKA_LABEL: label})) == sorted(mine)


def test_reads_from_several_threads_agree(fl: int, module: lowlevel.Module, slot: int) -> None:
    sessions = [module.C_OpenSession(slot, lib.CKF_RW_SESSION) for _ in range(4)]
    try:
        label = unique()
        handle = create_object(fl, sessions[0], {lib.CKA_CLASS: lib.CKO_DATA, lib.CKA_TOKEN: False,
                                                 lib.CKA_PRIVATE: False, lib.CKA_LABEL: label,
                                                 lib.CKA_VALUE: b"v" * 5000})
        expected = {lib.CKA_LABEL: label, lib.CKA_VALUE: b"v" * 5000, lib.CKA_CLASS: lib.CKO_DATA}
        failures: list[object] = []

        def work(session: int) -> None:
            for _ in range(200):
                got = get_attributes(fl, session, handle, list(expected))
                if got != expected or find_objects(fl, session, {lib.CKA_LABEL: label}) != [handle]:
                    failures.append(got)

        threads = [threading.Thread(target=work, args=(x,)) for x in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
    finally:
        for x in sessions:
            module.C_CloseSession(x)
