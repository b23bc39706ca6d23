"""Inputs outside the contract raise TypeError/ValueError naming the argument (or a p11 error), never a crash,
OverflowError, MemoryError, BufferError or bare RuntimeError (issue 10 items 4, 5 and 9; issue 11 items 5 and 6):
sizes are range-checked before they reach malloc or a CK_ULONG, GCM batches refuse empty and repeated IVs,
template nesting is bounded, and ``Raw`` refuses bytes where the module would read a struct with pointers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

import p11
from p11 import _native, errors, lowlevel
from p11._cffi import ffi
from p11.constants import Attribute, Mechanism, ObjectClass
from p11.lowlevel.marshal import MAX_TEMPLATE_DEPTH
from p11.mechanisms import CTR, GCM, PSS, Raw
from p11.testing import SoftHSM
from tests.support import USER_PIN, TokenKeys, python, token_with_keys, unique_label


@pytest.fixture(scope="module")
def keys(softhsm: SoftHSM) -> Iterator[TokenKeys]:
    """A token of the module's, its pool of 4 logged in, with session-object keys."""
    with token_with_keys(softhsm, "limits", token_objects=False, max_size=4) as made:
        yield made


# -- sizes ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2**70, 2**40, _native.MAX_RANDOM_BYTES + 1, -1])
def test_generate_random_sizes_out_of_range(keys: TokenKeys, n: int) -> None:
    with pytest.raises(ValueError, match=r"^n must be between 0 and 16777216"):
        keys.token.pool.generate_random(n)
    with keys.token.open() as session, pytest.raises(ValueError, match=r"^n must be between 0 and 16777216"):
        session.generate_random(n)


def test_generate_random_up_to_the_limit(keys: TokenKeys) -> None:
    assert _native.MAX_RANDOM_BYTES == lowlevel.marshal.MAX_RANDOM_BYTES == 16 * 1024 * 1024
    assert len(keys.token.pool.generate_random(_native.MAX_RANDOM_BYTES)) == _native.MAX_RANDOM_BYTES
    with pytest.raises(TypeError, match="n must be an int"):
        keys.token.pool.generate_random(2.0)


@pytest.mark.parametrize("max_size", [2**62, 2**70, _native.MAX_POOL_SIZE + 1, 0])
def test_login_pool_size_out_of_range(softhsm: SoftHSM, max_size: int) -> None:
    spec = softhsm.add_token(unique_label("limits-login"), user_pin=USER_PIN)
    token = p11.load(softhsm.module_path).get_token(label=spec.label)
    with pytest.raises(ValueError, match=r"^max_size must be between 1 and 4096"):
        token.login(USER_PIN, max_size=max_size)
    with pytest.raises(ValueError, match=r"^max_size must be between 1 and 4096"):
        token.configure_pool(max_size=max_size)
    token.login(USER_PIN)  # the refused size was not kept: the next pool gets the default
    assert token.pool.max_size == _native.DEFAULT_POOL_SIZE
    token.close_pool()


@pytest.mark.parametrize("iv_length", [2**62, 2**40, _native.MAX_IV_LENGTH + 1, 0])
def test_encrypt_many_iv_length_out_of_range(keys: TokenKeys, iv_length: int) -> None:
    with pytest.raises(ValueError, match=r"^iv_length must be between 1 and 1024"):
        keys.aes.encrypt_many([b"x"], iv_length=iv_length)
    with pytest.raises(ValueError, match=r"^iv_len must be between 1 and 1024"):
        keys.token.pool.encrypt_many(keys.aes.handle, [b"x"], iv_len=iv_length)


def test_encrypt_many_iv_length_at_the_limit(keys: TokenKeys) -> None:
    (iv, ciphertext), = keys.aes.encrypt_many([b"long iv"], iv_length=_native.MAX_IV_LENGTH)
    assert len(iv) == _native.MAX_IV_LENGTH
    assert keys.aes.decrypt(ciphertext, GCM(iv)) == b"long iv"


@pytest.mark.parametrize("workers", [2**70, _native.MAX_POOL_SIZE + 1, 0, -1])
def test_workers_out_of_range(keys: TokenKeys, workers: int) -> None:
    with pytest.raises(ValueError, match=r"^workers must be between 1 and 4096"):
        keys.hmac.sign_many([b"a", b"b"], Mechanism.SHA256_HMAC, workers=workers)
    with pytest.raises(TypeError, match="workers must be an int"):
        keys.hmac.sign_many([b"a"], Mechanism.SHA256_HMAC, workers="2")  # type: ignore[arg-type]
    with keys.token.open() as session:  # an explicit session's parallel batch (a private pool) names it too
        key = session.get_key(label="hmac")
        with pytest.raises(ValueError, match=r"^workers must be between 1 and 4096"):
            key.sign_many([b"a", b"b"], Mechanism.SHA256_HMAC, workers=workers)


def test_pss_salt_length_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"^salt_length must be between 0 and"):
        PSS(salt_length=2**70)
    with pytest.raises(ValueError, match=r"^salt_length must be between 0 and"):
        PSS(salt_length=-1)
    with pytest.raises(TypeError, match="salt_length must be an int"):
        PSS(salt_length=True)
    assert PSS(salt_length=0).salt_length == 0


def test_pool_give_back_and_discard_refuse_impossible_handles(keys: TokenKeys) -> None:
    pool = keys.token.pool
    for bad in (-1, 2**70):
        with pytest.raises(ValueError, match=r"^handle must be between 0 and"):
            pool.give_back(bad)
        with pytest.raises(ValueError, match=r"^handle must be between 0 and"):
            pool.discard(bad)
    with pytest.raises(ValueError, match="not borrowed"):
        pool.give_back(123456)  # in range, but not ours: the pool's own check


def test_lowlevel_ulong_arguments_out_of_range(softhsm: SoftHSM) -> None:
    module = lowlevel.load(softhsm.module_path)
    with pytest.raises(ValueError, match=rf"^session must be between 0 and {2**64 - 1}, not {2**70}$"):
        module.C_GetSessionInfo(2**70)
    with pytest.raises(ValueError, match=r"^slot must be between 0 and .*not -1$"):
        module.C_GetSlotInfo(-1)
    with pytest.raises(errors.SessionHandleInvalid):
        module.C_GetSessionInfo(2**32 - 1)  # in range: the module's own answer
    with pytest.raises(ValueError, match=r"^an int attribute value must be between 0 and"):
        lowlevel.marshal.template({Attribute.VALUE_LEN: 2**70})
    with pytest.raises(ValueError, match=r"^an attribute type must be between 0 and"):
        lowlevel.marshal.template({-1: b""})
    with pytest.raises(ValueError, match=r"^mechanism must be between 0 and"):
        lowlevel.marshal.mechanism(2**70)
    with pytest.raises(ValueError, match=r"^mechanism must be between 0 and"):
        _native.mechanism_for(2**70)
    session = module.C_OpenSession(module.C_GetSlotList(True)[0])
    try:
        for length in (2**40, 2**70, lowlevel.marshal.MAX_RANDOM_BYTES + 1):
            with pytest.raises(ValueError, match=r"^length must be between 0 and 16777216"):
                module.C_GenerateRandom(session, length)
        assert len(module.C_GenerateRandom(session, 16)) == 16
    finally:
        module.C_CloseSession(session)


def test_module_path_too_long_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="module path is 100000 characters long"):
        p11.load("/x" * 50_000)
    with pytest.raises(ValueError, match="module path is 100000 characters long"):
        lowlevel.Module("/x" * 50_000)


def test_non_contiguous_buffers_are_copied(keys: TokenKeys) -> None:
    strided = memoryview(b"0123456789abcdef")[::2]
    expected = keys.hmac.sign(strided.tobytes(), Mechanism.SHA256_HMAC)
    assert keys.hmac.sign(strided, Mechanism.SHA256_HMAC) == expected
    assert keys.hmac.sign_many([strided, b"x"], Mechanism.SHA256_HMAC)[0] == expected
    assert keys.hmac.verify_many([strided], [expected], Mechanism.SHA256_HMAC) == [True]


def test_async_outside_an_event_loop_is_a_p11_error(keys: TokenKeys) -> None:
    with pytest.raises(errors.NoEventLoop, match="needs a running asyncio event loop") as caught:
        keys.hmac.sign_async(b"x", Mechanism.SHA256_HMAC)  # type: ignore[unused-awaitable]
    assert isinstance(caught.value, errors.P11Error)
    assert "call sign() directly" in str(caught.value)


# -- GCM IVs in a batch --------------------------------------------------------------------------------------------


def test_encrypt_many_refuses_empty_ivs(keys: TokenKeys) -> None:
    with pytest.raises(ValueError, match=r"^iv 0 is empty"):
        keys.aes.encrypt_many([b"a", b"b"], ivs=[b"", b""])
    with pytest.raises(ValueError, match=r"^iv 1 is empty"):
        keys.aes.encrypt_many([b"a", b"b"], ivs=[b"x" * 12, bytearray()])


def test_encrypt_many_refuses_a_repeated_iv_naming_the_index(keys: TokenKeys) -> None:
    iv = b"\x01" * 12
    with pytest.raises(ValueError, match=r"^iv 2 repeats iv 0"):
        keys.aes.encrypt_many([b"a", b"b", b"c"], ivs=[iv, b"\x02" * 12, bytearray(iv)])
    with pytest.raises(ValueError, match=r"^iv 1 repeats iv 0"):
        keys.token.pool.encrypt_many(keys.aes.handle, [b"a", b"b"], ivs=[iv, memoryview(iv)])
    sealed = keys.aes.encrypt_many([b"a", b"b"], ivs=[iv, b"\x02" * 12])  # distinct IVs: fine
    assert [keys.aes.decrypt(ct, GCM(v)) for v, ct in sealed] == [b"a", b"b"]


# -- templates -----------------------------------------------------------------------------------------------------


def nested(depth: int) -> dict[int, Any]:
    """A template with ``depth`` levels of CKA_WRAP_TEMPLATE below the top one."""
    top: dict[int, Any] = {Attribute.LABEL: "top"}
    current = top
    for _ in range(depth):
        inner: dict[int, Any] = {Attribute.LABEL: "inner"}
        current[Attribute.WRAP_TEMPLATE] = inner
        current = inner
    return top


def test_self_containing_templates_are_refused_everywhere(keys: TokenKeys) -> None:
    cyclic: dict[int, Any] = {Attribute.CLASS: ObjectClass.SECRET_KEY}
    cyclic[Attribute.WRAP_TEMPLATE] = cyclic
    indirect: dict[int, Any] = {Attribute.LABEL: "a"}
    indirect[Attribute.UNWRAP_TEMPLATE] = {Attribute.WRAP_TEMPLATE: indirect}
    for template in (cyclic, indirect):
        with pytest.raises(ValueError, match="contains itself"):
            _native.Template(template)
        with pytest.raises(ValueError, match="contains itself"):
            keys.token.create_object(template)
        with pytest.raises(ValueError, match="contains itself"):
            lowlevel.marshal.template(template)


def test_template_depth_is_bounded_everywhere(keys: TokenKeys) -> None:
    assert MAX_TEMPLATE_DEPTH == 8
    assert len(_native.Template(nested(MAX_TEMPLATE_DEPTH))) == 2  # at the limit: fine
    assert lowlevel.marshal.template(nested(MAX_TEMPLATE_DEPTH))[1] == 2
    for depth in (MAX_TEMPLATE_DEPTH + 1, 100_000):
        deep = nested(depth)
        with pytest.raises(ValueError, match="nest at most 8 levels"):
            _native.Template(deep)
        with pytest.raises(ValueError, match="nest at most 8 levels"):
            keys.token.create_object(deep)
        with pytest.raises(ValueError, match="nest at most 8 levels"):
            lowlevel.marshal.template(deep)
    # A built Template nested in a mapping counts its own depth too (templates built from templates).
    built = _native.Template(nested(MAX_TEMPLATE_DEPTH))
    with pytest.raises(ValueError, match="nest at most 8 levels"):
        _native.Template({Attribute.WRAP_TEMPLATE: built})
    assert len(_native.Template({Attribute.WRAP_TEMPLATE: _native.Template(nested(MAX_TEMPLATE_DEPTH - 1))})) == 1


def test_pathological_templates_do_not_crash_a_process(softhsm: SoftHSM, keys: TokenKeys) -> None:
    code = f"""
        import p11
        from p11.constants import Attribute
        token = p11.load({softhsm.module_path!r}).get_token(label={keys.token.label!r})
        token.login({USER_PIN!r})
        cyclic = {{Attribute.LABEL: "c"}}
        cyclic[Attribute.WRAP_TEMPLATE] = cyclic
        deep = top = {{}}
        for _ in range(100_000):
            deep[Attribute.WRAP_TEMPLATE] = deep = {{}}
        for template in (cyclic, top):
            try:
                token.create_object(template)
            except ValueError as exc:
                print("ValueError:", exc)
        token.close_pool()
    """
    proc = python(code, env=softhsm.env)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout.count("ValueError:") == 2


# -- Raw -----------------------------------------------------------------------------------------------------------


def test_raw_refuses_bytes_for_a_struct_with_pointers_naming_the_builder() -> None:
    with pytest.raises(ValueError, match=r"CK_GCM_PARAMS, which holds pointers; use p11\.mechanisms\.GCM"):
        Raw(Mechanism.AES_GCM, b"A" * 48)
    with pytest.raises(ValueError, match=r"CK_RSA_PKCS_PSS_PARAMS of 24 bytes, not 16; use p11\.mechanisms\.PSS"):
        Raw(Mechanism.SHA256_RSA_PKCS_PSS, b"\x00" * 16)
    with pytest.raises(ValueError, match=r"use p11\.mechanisms\.OAEP"):
        Raw(Mechanism.RSA_PKCS_OAEP, b"\x00" * 40)
    with pytest.raises(ValueError, match="does not know this mechanism's parameter layout"):
        Raw(Mechanism.ECDSA, b"\x00" * 8)
    with pytest.raises(ValueError, match="does not know this mechanism's parameter layout"):
        Raw(0x8000_1234, b"\x00" * 8)  # vendor-defined


def test_raw_takes_bytes_where_the_parameter_is_bytes_or_a_pointer_free_struct(keys: TokenKeys) -> None:
    iv = bytes(range(16))
    ctr = CTR(iv)
    counter_address = ffi.cast("char *", ctr.build().parameter_address)
    counter_block = bytes(ffi.buffer(counter_address, ffi.sizeof("CK_AES_CTR_PARAMS")))
    assert keys.aes.encrypt(b"ctr", Raw(Mechanism.AES_CTR, counter_block)) == keys.aes.encrypt(b"ctr", ctr)
    with pytest.raises(ValueError, match=r"CK_AES_CTR_PARAMS of 24 bytes, not 16; use p11\.mechanisms\.CTR"):
        Raw(Mechanism.AES_CTR, iv)
    assert Raw(Mechanism.AES_CBC_PAD, iv).mechanism == Mechanism.AES_CBC_PAD
    pss = PSS("sha256")  # CK_RSA_PKCS_PSS_PARAMS holds no pointer: its exact bytes are a valid Raw parameter
    pss_address = ffi.cast("char *", pss.build().parameter_address)
    pss_bytes = bytes(ffi.buffer(pss_address, ffi.sizeof("CK_RSA_PKCS_PSS_PARAMS")))
    assert Raw(Mechanism.SHA256_RSA_PKCS_PSS, pss_bytes).mechanism == Mechanism.SHA256_RSA_PKCS_PSS
    assert Raw(Mechanism.SHA256_HMAC_GENERAL, (16).to_bytes(ffi.sizeof("CK_ULONG"), sys.byteorder)) is not None
    # A cffi struct is explicit about its layout: any mechanism takes one.
    params = ffi.new("CK_GCM_PARAMS *")
    params_iv = ffi.new("CK_BYTE[]", b"\x07" * 12)
    params.pIv, params.ulIvLen, params.ulIvBits, params.ulTagBits = params_iv, 12, 96, 128
    raw = Raw(Mechanism.AES_GCM, params)
    assert keys.aes.encrypt(b"gcm", raw) == keys.aes.encrypt(b"gcm", GCM(b"\x07" * 12))


def test_raw_gcm_bytes_do_not_kill_the_process(softhsm: SoftHSM, keys: TokenKeys) -> None:
    code = f"""
        import p11
        from p11.constants import KeyType, Mechanism
        from p11.mechanisms import Raw
        token = p11.load({softhsm.module_path!r}).get_token(label={keys.token.label!r})
        token.login({USER_PIN!r})
        aes = token.generate_key(KeyType.AES, 256, token=False)
        try:
            aes.encrypt(b"data", Raw(Mechanism.AES_GCM, b"A" * 48))
        except ValueError as exc:
            print("ValueError:", exc)
        token.close_pool()
    """
    proc = python(code, env=softhsm.env)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert "ValueError: Raw(CKM_AES_GCM, bytes)" in proc.stdout
