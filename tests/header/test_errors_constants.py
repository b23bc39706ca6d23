"""Exceptions and enums are generated from the header: every CKR has its class, every CKM/CKA its member."""

from __future__ import annotations

import pickle

import pytest

from p11 import errors
from p11._cffi import lib
from p11.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, ReturnValue, TokenFlag


def _names(prefix: str) -> list[str]:
    return [n for n in dir(lib) if n.startswith(prefix)]


def test_every_return_value_has_a_typed_exception() -> None:
    for name in _names("CKR_"):
        rv = getattr(lib, name)
        if name in ("CKR_OK", "CKR_VENDOR_DEFINED"):
            continue
        cls = errors.error_class(rv)
        assert issubclass(cls, errors.CryptokiError), name
        assert cls is not errors.CryptokiError, f"{name} has no class of its own"
        assert cls.rv == rv


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("CKR_PIN_INCORRECT", errors.PinError),
        ("CKR_PIN_LOCKED", errors.PinError),
        ("CKR_USER_NOT_LOGGED_IN", errors.LoginError),
        ("CKR_SESSION_HANDLE_INVALID", errors.SessionError),
        ("CKR_OBJECT_HANDLE_INVALID", errors.ObjectHandleError),
        ("CKR_KEY_HANDLE_INVALID", errors.ObjectHandleError),
        ("CKR_MECHANISM_INVALID", errors.MechanismError),
        ("CKR_SIGNATURE_INVALID", errors.SignatureError),
        ("CKR_TEMPLATE_INCOMPLETE", errors.TemplateError),
        ("CKR_ATTRIBUTE_SENSITIVE", errors.AttributeValueError),
        ("CKR_DEVICE_REMOVED", errors.DeviceError),
        ("CKR_TOKEN_NOT_PRESENT", errors.TokenError),
        ("CKR_CRYPTOKI_NOT_INITIALIZED", errors.LibraryStateError),
        ("CKR_OPERATION_ACTIVE", errors.OperationError),
        ("CKR_DATA_LEN_RANGE", errors.DataError),
    ],
)
def test_return_values_are_grouped_under_catchable_bases(name: str, base: type[Exception]) -> None:
    assert issubclass(errors.error_class(getattr(lib, name)), base)


def test_check_raises_with_rv_name_and_function() -> None:
    with pytest.raises(errors.PinIncorrect) as info:
        errors.check(lib.CKR_PIN_INCORRECT, "C_Login")
    exc = info.value
    assert (exc.rv, exc.name, exc.function) == (lib.CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", "C_Login")
    assert str(exc).startswith("C_Login: CKR_PIN_INCORRECT (0x000000A0)")
    errors.check(lib.CKR_OK, "C_Login")  # no exception


def test_function_not_supported_is_its_own_class() -> None:
    with pytest.raises(errors.FunctionNotSupported):
        errors.check(lib.CKR_FUNCTION_NOT_SUPPORTED, "C_WaitForSlotEvent")


def test_vendor_and_unknown_return_values_are_named() -> None:
    vendor = lib.CKR_VENDOR_DEFINED + 0x42
    with pytest.raises(errors.CryptokiError, match=r"CKR_VENDOR_DEFINED\+0x42"):
        errors.check(vendor, "C_Sign")
    assert errors.rv_name(0x7FFFFFF) == "CKR_UNKNOWN_0x7FFFFFF"


def test_exceptions_pickle_round_trip() -> None:
    exc = errors.error_class(lib.CKR_SESSION_CLOSED)(lib.CKR_SESSION_CLOSED, "C_Sign")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and back.function == "C_Sign" and str(back) == str(exc)
    mns = errors.MechanismNotSupported(Mechanism.ECDSA_SHA256, "tok", "sign")
    assert "CKM_ECDSA_SHA256" in str(mns) and "'tok'" in str(mns)
    assert str(pickle.loads(pickle.dumps(mns))) == str(mns)


def test_enums_cover_every_define_of_their_prefix() -> None:
    for enum_cls, prefix in ((Mechanism, "CKM_"), (Attribute, "CKA_"), (ReturnValue, "CKR_"),
                             (KeyType, "CKK_"), (ObjectClass, "CKO_")):
        values = {getattr(lib, n) for n in _names(prefix)}
        assert {int(m) for m in enum_cls} == values, enum_cls.__name__
    assert Mechanism.ECDSA == lib.CKM_ECDSA
    assert Attribute.LABEL == lib.CKA_LABEL


def test_vendor_values_convert_to_named_pseudo_members() -> None:
    member = Mechanism(lib.CKM_VENDOR_DEFINED + 5)
    assert int(member) == lib.CKM_VENDOR_DEFINED + 5
    assert member.name == "VENDOR_DEFINED+0x5"
    with pytest.raises(ValueError):
        Mechanism(-1)


def test_flag_enums_take_values_from_the_header() -> None:
    assert TokenFlag.LOGIN_REQUIRED == lib.CKF_LOGIN_REQUIRED
    assert MechanismFlag.SIGN | MechanismFlag.VERIFY == lib.CKF_SIGN | lib.CKF_VERIFY
    assert TokenFlag(lib.CKF_RNG | 0x80000000000) & TokenFlag.RNG  # unknown bits are kept


def test_profiles_and_pbkdf2_prfs_are_separate_value_spaces() -> None:
    from p11.constants import PBKDF2PRF, Profile

    assert "PKCS5_PBKD2_HMAC_SHA1" not in Profile.__members__
    assert Profile.BASELINE_PROVIDER.name == "BASELINE_PROVIDER"
    assert PBKDF2PRF.HMAC_SHA256 == lib.CKP_PKCS5_PBKD2_HMAC_SHA256
