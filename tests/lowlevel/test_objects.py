"""Objects, attributes, searches, key generation, wrapping, derivation and random numbers through p11.lowlevel."""

from __future__ import annotations

import sys

import pytest

from p11 import errors, lowlevel
from p11._cffi import ffi, lib

ULONG = ffi.sizeof("CK_ULONG")
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")  # DER OID prime256v1


def ulong(value: int) -> bytes:
    return value.to_bytes(ULONG, sys.byteorder)


def data_object(label: str, value: bytes = b"payload") -> dict[int, object]:
    return {
        lib.CKA_CLASS: lib.CKO_DATA,
        lib.CKA_TOKEN: False,
        lib.CKA_LABEL: label,
        lib.CKA_APPLICATION: "p11-tests",
        lib.CKA_VALUE: value,
    }


def aes_key(module: lowlevel.Module, session: int, **extra: object) -> int:
    template = {
        lib.CKA_CLASS: lib.CKO_SECRET_KEY,
        lib.CKA_KEY_TYPE: lib.CKK_AES,
        lib.CKA_VALUE_LEN: 32,
        lib.CKA_TOKEN: False,
        lib.CKA_ENCRYPT: True,
        lib.CKA_DECRYPT: True,
    }
    template.update({getattr(lib, f"CKA_{name.upper()}"): value for name, value in extra.items()})
    return module.C_GenerateKey(session, lib.CKM_AES_KEY_GEN, template)


def ec_pair(module: lowlevel.Module, session: int, *, derive: bool = False) -> tuple[int, int]:
    public = {lib.CKA_TOKEN: False, lib.CKA_EC_PARAMS: P256_PARAMS, lib.CKA_VERIFY: True}
    private = {lib.CKA_TOKEN: False, lib.CKA_SIGN: True, lib.CKA_DERIVE: derive, lib.CKA_SENSITIVE: True}
    return module.C_GenerateKeyPair(session, lib.CKM_EC_KEY_PAIR_GEN, public, private)


# -- creating, copying, destroying ------------------------------------------------------------------------------


def test_create_object_and_read_raw_attributes(module: lowlevel.Module, user_session: int) -> None:
    handle = module.C_CreateObject(user_session, data_object("created", b"\x00\x01\x02"))
    assert isinstance(handle, int) and handle
    cls, token, label, app, value = module.C_GetAttributeValue(
        user_session,
        handle,
        [lib.CKA_CLASS, lib.CKA_TOKEN, lib.CKA_LABEL, lib.CKA_APPLICATION, lib.CKA_VALUE],
    )
    assert cls == ulong(lib.CKO_DATA)
    assert token == b"\x00"
    assert label == b"created"
    assert app == b"p11-tests"
    assert value == b"\x00\x01\x02"


def test_template_as_iterable_of_pairs_and_buffer_values(module: lowlevel.Module, user_session: int) -> None:
    template = [
        (lib.CKA_CLASS, lib.CKO_DATA),
        (lib.CKA_TOKEN, False),
        (lib.CKA_LABEL, bytearray(b"pairs")),
        (lib.CKA_VALUE, memoryview(b"from a memoryview")),
    ]
    handle = module.C_CreateObject(user_session, template)
    assert module.C_GetAttributeValue(user_session, handle, [lib.CKA_LABEL, lib.CKA_VALUE]) == [
        b"pairs",
        b"from a memoryview",
    ]


def test_empty_attribute_value(module: lowlevel.Module, user_session: int) -> None:
    handle = module.C_CreateObject(user_session, data_object("empty", b""))
    assert module.C_GetAttributeValue(user_session, handle, [lib.CKA_VALUE]) == [b""]


def test_get_attribute_value_of_no_attributes(module: lowlevel.Module, user_session: int) -> None:
    handle = module.C_CreateObject(user_session, data_object("none-asked"))
    assert module.C_GetAttributeValue(user_session, handle, []) == []


def test_unavailable_attributes_are_none_and_the_rest_still_returned(
    module: lowlevel.Module, user_session: int
) -> None:
    key = aes_key(module, user_session, sensitive=True)
    value, invalid, key_type = module.C_GetAttributeValue(
        user_session, key, [lib.CKA_VALUE, lib.CKA_VENDOR_DEFINED + 0x77, lib.CKA_KEY_TYPE]
    )
    assert value is None  # sensitive
    assert invalid is None  # no such attribute
    assert key_type == ulong(lib.CKK_AES)
    assert module.C_GetAttributeValue(user_session, key, [lib.CKA_VALUE]) == [None]


def test_copy_object_with_changed_attribute(module: lowlevel.Module, user_session: int) -> None:
    original = module.C_CreateObject(user_session, data_object("original", b"same value"))
    copy = module.C_CopyObject(user_session, original, {lib.CKA_LABEL: "copy"})
    assert copy != original
    assert module.C_GetAttributeValue(user_session, copy, [lib.CKA_LABEL, lib.CKA_VALUE]) == [b"copy", b"same value"]
    assert module.C_GetAttributeValue(user_session, original, [lib.CKA_LABEL]) == [b"original"]
    plain = module.C_CopyObject(user_session, original)
    assert module.C_GetAttributeValue(user_session, plain, [lib.CKA_LABEL]) == [b"original"]


def test_destroy_object_makes_handle_invalid(module: lowlevel.Module, user_session: int) -> None:
    handle = module.C_CreateObject(user_session, data_object("doomed"))
    module.C_DestroyObject(user_session, handle)
    with pytest.raises(errors.ObjectHandleInvalid) as info:
        module.C_GetAttributeValue(user_session, handle, [lib.CKA_LABEL])
    assert isinstance(info.value, LookupError)
    with pytest.raises(errors.ObjectHandleInvalid):
        module.C_DestroyObject(user_session, handle)


def test_invalid_object_handle(module: lowlevel.Module, user_session: int) -> None:
    with pytest.raises(errors.ObjectHandleInvalid):
        module.C_GetAttributeValue(user_session, 0xFFFF_FF00, [lib.CKA_LABEL])
    with pytest.raises(errors.ObjectHandleInvalid):
        module.C_CopyObject(user_session, 0xFFFF_FF00)
    with pytest.raises(errors.ObjectHandleInvalid):
        module.C_GetObjectSize(user_session, 0xFFFF_FF00)


def test_object_size_is_none_when_token_does_not_tell(module: lowlevel.Module, user_session: int) -> None:
    handle = module.C_CreateObject(user_session, data_object("sized"))
    # SoftHSM answers CK_UNAVAILABLE_INFORMATION for every object.
    assert module.C_GetObjectSize(user_session, handle) is None


def test_set_attribute_value(module: lowlevel.Module, user_session: int) -> None:
    handle = module.C_CreateObject(user_session, data_object("before"))
    module.C_SetAttributeValue(user_session, handle, {lib.CKA_LABEL: "after"})
    assert module.C_GetAttributeValue(user_session, handle, [lib.CKA_LABEL]) == [b"after"]
    key = aes_key(module, user_session)
    module.C_SetAttributeValue(user_session, key, [(lib.CKA_LABEL, "key"), (lib.CKA_ID, b"\x01\x02")])
    assert module.C_GetAttributeValue(user_session, key, [lib.CKA_LABEL, lib.CKA_ID]) == [b"key", b"\x01\x02"]


def test_set_read_only_attribute_is_refused(module: lowlevel.Module, user_session: int) -> None:
    handle = module.C_CreateObject(user_session, data_object("fixed class"))
    with pytest.raises(errors.AttributeReadOnly):
        module.C_SetAttributeValue(user_session, handle, {lib.CKA_CLASS: lib.CKO_SECRET_KEY})


def test_incomplete_template_raises_template_incomplete(module: lowlevel.Module, user_session: int) -> None:
    with pytest.raises(errors.TemplateIncomplete):
        module.C_CreateObject(user_session, {lib.CKA_TOKEN: False})


def test_unknown_object_class_is_an_invalid_attribute_value(module: lowlevel.Module, user_session: int) -> None:
    with pytest.raises(errors.AttributeValueInvalid):
        module.C_CreateObject(user_session, {lib.CKA_CLASS: 0x7FFF_FFFF, lib.CKA_TOKEN: False})


def test_token_object_in_read_only_session_is_refused(module: lowlevel.Module, slot: int, user_session: int) -> None:
    ro = module.C_OpenSession(slot)
    try:
        with pytest.raises(errors.SessionReadOnly):
            module.C_CreateObject(ro, {**data_object("ro"), lib.CKA_TOKEN: True})
    finally:
        module.C_CloseSession(ro)


def test_private_object_needs_login(module: lowlevel.Module, session: int) -> None:
    with pytest.raises(errors.UserNotLoggedIn):
        module.C_CreateObject(session, {**data_object("private"), lib.CKA_PRIVATE: True})


def test_nested_template_attribute(module: lowlevel.Module, user_session: int) -> None:
    wrap_template = {lib.CKA_EXTRACTABLE: True, lib.CKA_KEY_TYPE: lib.CKK_AES}
    key = aes_key(module, user_session, wrap=True, wrap_template=wrap_template)
    # The raw layer reads a CKF_ARRAY_ATTRIBUTE value's size: two CK_ATTRIBUTEs.
    (raw,) = module.C_GetAttributeValue(user_session, key, [lib.CKA_WRAP_TEMPLATE])
    assert raw is not None
    assert len(raw) == 2 * ffi.sizeof("CK_ATTRIBUTE")


# -- finding ----------------------------------------------------------------------------------------------------


def test_find_objects_in_batches(module: lowlevel.Module, user_session: int) -> None:
    made = {module.C_CreateObject(user_session, data_object("findme", bytes([i]))) for i in range(5)}
    module.C_CreateObject(user_session, data_object("other"))
    module.C_FindObjectsInit(user_session, {lib.CKA_LABEL: "findme", lib.CKA_CLASS: lib.CKO_DATA})
    found: list[int] = []
    while batch := module.C_FindObjects(user_session, 2):
        assert len(batch) <= 2
        found += batch
    module.C_FindObjectsFinal(user_session)
    assert set(found) == made
    assert len(found) == 5


def test_find_all_objects_with_empty_template(module: lowlevel.Module, user_session: int) -> None:
    handle = module.C_CreateObject(user_session, data_object("anything"))
    module.C_FindObjectsInit(user_session)
    found = module.C_FindObjects(user_session, 10_000)
    module.C_FindObjectsFinal(user_session)
    assert handle in found


def test_find_objects_without_init_and_twice(module: lowlevel.Module, user_session: int) -> None:
    with pytest.raises(errors.OperationNotInitialized):
        module.C_FindObjects(user_session)
    module.C_FindObjectsInit(user_session, {lib.CKA_LABEL: "nothing-is-called-this"})
    with pytest.raises(errors.OperationActive):
        module.C_FindObjectsInit(user_session, {})
    assert module.C_FindObjects(user_session) == []
    module.C_FindObjectsFinal(user_session)


def test_find_objects_max_count_must_be_positive(module: lowlevel.Module, user_session: int) -> None:
    with pytest.raises(ValueError):
        module.C_FindObjects(user_session, 0)


# -- key management ---------------------------------------------------------------------------------------------


def test_generate_aes_key(module: lowlevel.Module, user_session: int) -> None:
    key = aes_key(module, user_session)
    cls, key_type, length, local = module.C_GetAttributeValue(
        user_session, key, [lib.CKA_CLASS, lib.CKA_KEY_TYPE, lib.CKA_VALUE_LEN, lib.CKA_LOCAL]
    )
    assert cls == ulong(lib.CKO_SECRET_KEY)
    assert key_type == ulong(lib.CKK_AES)
    assert length == ulong(32)
    assert local == b"\x01"


def test_generate_key_with_bad_template(module: lowlevel.Module, user_session: int) -> None:
    with pytest.raises(errors.AttributeValueInvalid):
        module.C_GenerateKey(user_session, lib.CKM_AES_KEY_GEN, {lib.CKA_VALUE_LEN: 7, lib.CKA_TOKEN: False})


def test_generate_ec_key_pair(module: lowlevel.Module, user_session: int) -> None:
    public, private = ec_pair(module, user_session)
    assert public != private
    (pub_class, point) = module.C_GetAttributeValue(user_session, public, [lib.CKA_CLASS, lib.CKA_EC_POINT])
    assert pub_class == ulong(lib.CKO_PUBLIC_KEY)
    assert point is not None and point[:3] == b"\x04\x41\x04"  # DER OCTET STRING of an uncompressed P-256 point
    (priv_class,) = module.C_GetAttributeValue(user_session, private, [lib.CKA_CLASS])
    assert priv_class == ulong(lib.CKO_PRIVATE_KEY)


def test_wrap_and_unwrap_with_aes_key_wrap(module: lowlevel.Module, user_session: int) -> None:
    wrapping = aes_key(module, user_session, wrap=True, unwrap=True)
    secret = module.C_CreateObject(
        user_session,
        {
            lib.CKA_CLASS: lib.CKO_SECRET_KEY,
            lib.CKA_KEY_TYPE: lib.CKK_AES,
            lib.CKA_TOKEN: False,
            lib.CKA_VALUE: bytes(range(32)),
            lib.CKA_EXTRACTABLE: True,
            lib.CKA_ENCRYPT: True,
        },
    )
    wrapped = module.C_WrapKey(user_session, lib.CKM_AES_KEY_WRAP, wrapping, secret)
    assert len(wrapped) == 40  # RFC 3394: the key plus one 8-byte block
    unwrapped = module.C_UnwrapKey(
        user_session,
        lib.CKM_AES_KEY_WRAP,
        wrapping,
        wrapped,
        {
            lib.CKA_CLASS: lib.CKO_SECRET_KEY,
            lib.CKA_KEY_TYPE: lib.CKK_AES,
            lib.CKA_TOKEN: False,
            lib.CKA_SENSITIVE: False,
            lib.CKA_EXTRACTABLE: True,
        },
    )
    assert module.C_GetAttributeValue(user_session, unwrapped, [lib.CKA_VALUE]) == [bytes(range(32))]
    # SoftHSM answers CKR_GENERAL_ERROR when the RFC 3394 integrity check fails.
    with pytest.raises(errors.GeneralError):
        module.C_UnwrapKey(
            user_session,
            lib.CKM_AES_KEY_WRAP,
            wrapping,
            bytes(40),
            {lib.CKA_CLASS: lib.CKO_SECRET_KEY, lib.CKA_KEY_TYPE: lib.CKK_AES, lib.CKA_TOKEN: False},
        )


def test_wrap_unextractable_key_is_refused(module: lowlevel.Module, user_session: int) -> None:
    wrapping = aes_key(module, user_session, wrap=True)
    secret = aes_key(module, user_session, extractable=False)
    with pytest.raises(errors.KeyUnextractable):
        module.C_WrapKey(user_session, lib.CKM_AES_KEY_WRAP, wrapping, secret)


def test_derive_shared_secret_with_ecdh1(module: lowlevel.Module, user_session: int) -> None:
    a_pub, a_priv = ec_pair(module, user_session, derive=True)
    b_pub, b_priv = ec_pair(module, user_session, derive=True)
    template = {
        lib.CKA_CLASS: lib.CKO_SECRET_KEY,
        lib.CKA_KEY_TYPE: lib.CKK_GENERIC_SECRET,
        lib.CKA_VALUE_LEN: 32,
        lib.CKA_TOKEN: False,
        lib.CKA_SENSITIVE: False,
        lib.CKA_EXTRACTABLE: True,
    }

    def derive(private: int, peer_public: int) -> bytes:
        (point,) = module.C_GetAttributeValue(user_session, peer_public, [lib.CKA_EC_POINT])
        assert point is not None
        raw_point = point[2:]  # strip the DER OCTET STRING header: CKD_NULL takes the raw point
        params = ffi.new("CK_ECDH1_DERIVE_PARAMS *")
        params.kdf = lib.CKD_NULL
        public_data = ffi.from_buffer("CK_BYTE[]", raw_point)
        params.pPublicData = public_data
        params.ulPublicDataLen = len(raw_point)
        mech = lowlevel.Mech(lib.CKM_ECDH1_DERIVE, params, keep=public_data)
        key = module.C_DeriveKey(user_session, mech, private, template)
        (value,) = module.C_GetAttributeValue(user_session, key, [lib.CKA_VALUE])
        assert value is not None
        return value

    shared_a = derive(a_priv, b_pub)
    shared_b = derive(b_priv, a_pub)
    assert shared_a == shared_b
    assert len(shared_a) == 32


def test_derive_with_aes_ecb_encrypt_data(module: lowlevel.Module, user_session: int) -> None:
    base = module.C_CreateObject(
        user_session,
        {
            lib.CKA_CLASS: lib.CKO_SECRET_KEY,
            lib.CKA_KEY_TYPE: lib.CKK_AES,
            lib.CKA_TOKEN: False,
            lib.CKA_VALUE: bytes(16),
            lib.CKA_DERIVE: True,
            lib.CKA_ENCRYPT: True,
        },
    )
    data = bytes(range(16))
    params = ffi.new("CK_KEY_DERIVATION_STRING_DATA *")
    buf = ffi.from_buffer("CK_BYTE[]", data)
    params.pData, params.ulLen = buf, len(data)
    derived = module.C_DeriveKey(
        user_session,
        lowlevel.Mech(lib.CKM_AES_ECB_ENCRYPT_DATA, params, keep=buf),
        base,
        {
            lib.CKA_CLASS: lib.CKO_SECRET_KEY,
            lib.CKA_KEY_TYPE: lib.CKK_AES,
            lib.CKA_VALUE_LEN: 16,
            lib.CKA_TOKEN: False,
            lib.CKA_SENSITIVE: False,
            lib.CKA_EXTRACTABLE: True,
        },
    )
    (value,) = module.C_GetAttributeValue(user_session, derived, [lib.CKA_VALUE])
    # The derived key is the AES-ECB encryption of the data under the base key.
    module.C_EncryptInit(user_session, lib.CKM_AES_ECB, base)
    assert value == module.C_Encrypt(user_session, data)


def test_derive_with_invalid_base_key(module: lowlevel.Module, user_session: int) -> None:
    # SoftHSM says CKR_OBJECT_HANDLE_INVALID where the spec would have CKR_KEY_HANDLE_INVALID.
    with pytest.raises(errors.ObjectHandleInvalid):
        module.C_DeriveKey(user_session, lib.CKM_ECDH1_DERIVE, 0xFFFF_FF00, {})


# -- random -----------------------------------------------------------------------------------------------------


def test_generate_random(module: lowlevel.Module, session: int) -> None:
    first = module.C_GenerateRandom(session, 32)
    second = module.C_GenerateRandom(session, 32)
    assert len(first) == len(second) == 32
    assert first != second
    assert len(module.C_GenerateRandom(session, 1000)) == 1000
    with pytest.raises(ValueError):
        module.C_GenerateRandom(session, -1)


def test_seed_random(module: lowlevel.Module, session: int) -> None:
    module.C_SeedRandom(session, b"some extra entropy")
    module.C_SeedRandom(session, bytearray(64))
    assert len(module.C_GenerateRandom(session, 16)) == 16
    with pytest.raises(TypeError):
        module.C_SeedRandom(session, "not bytes")  # type: ignore[arg-type]
