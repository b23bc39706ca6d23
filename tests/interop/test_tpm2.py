"""p11 on tpm2-pkcs11 (a software TPM through tpm2-abrmd): RSA and EC signatures, the token's quirks as typed
errors, and tpm2-pkcs11 and SoftHSM loaded side by side in one process."""

from __future__ import annotations

import pytest

from p11 import errors
from p11._cffi import lib
from tests.interop.harness import SoftHSMStore, TPM2Token
from tests.interop.helpers import error_class, run_check, verify_ecdsa_sha256, verify_rsa_sha256

pytestmark = pytest.mark.interop


def test_tpm2_rsa2048_sign_verify(tpm2_token: TPM2Token) -> None:
    child = run_check(tpm2_token, "sign-rsa")
    assert child["key_size"] == 2048
    assert child["verified_on_token"] is True
    assert child["tampered_verifies_on_token"] is False
    key = verify_rsa_sha256(child["public_der"], child["signature"])
    assert key.key_size == 2048


def test_tpm2_ec_p256_sign_verify(tpm2_token: TPM2Token) -> None:
    child = run_check(tpm2_token, "sign-ec")
    assert child["curve"] == "secp256r1"
    assert child["verified_on_token"] is True
    assert child["tampered_verifies_on_token"] is False
    verify_ecdsa_sha256(child["public_der"], child["signature"])


def test_tpm2_ec_p256_keygen_with_default_template(tpm2_token: TPM2Token) -> None:
    child = run_check(tpm2_token, "sign-ec")
    verify_ecdsa_sha256(child["public_der"], child["signature"])


def test_tpm2_refusal_of_false_encryption_flags_is_discovered_not_hard_coded(tpm2_token: TPM2Token) -> None:
    child = run_check(tpm2_token, "default-usages")
    # tpm2-pkcs11 1.9 sets the TPM "decrypt" bit on every key and refuses ENCRYPT/DECRYPT false (CKR_GENERAL_ERROR):
    # p11.defaults retried once without the flags meaningless for EC and remembers that for this token.
    assert child["refused_before"] == {}
    learnt = {"EC PUBLIC_KEY": ["ENCRYPT", "VERIFY_RECOVER"], "EC PRIVATE_KEY": ["DECRYPT", "SIGN_RECOVER"]}
    assert child["refused_after"] == child["refused_at_end"] == learnt
    # What the token then makes: the meaningful flags as the table says; ENCRYPT/DECRYPT the token's own (true).
    for suffix in ("", "_2"):
        assert child["ec_public" + suffix] == ["ENCRYPT", "VERIFY"]
        assert child["ec_private" + suffix] == ["DECRYPT", "SIGN"]
    # RSA pairs are untouched by what was learnt for EC: exactly the table's usages.
    assert child["rsa_public"] == ["ENCRYPT", "VERIFY", "WRAP"]
    assert child["rsa_private"] == ["DECRYPT", "SIGN", "UNWRAP"]
    verify_ecdsa_sha256(child["public_der"], child["signature"])


def test_tpm2_verify_needs_login(tpm2_token: TPM2Token) -> None:
    child = run_check(tpm2_token, "verify-needs-login")
    assert child["state_before_login"] == "RO_PUBLIC_SESSION"
    refused = child["error_without_login"]
    assert error_class(refused) is errors.error_class(int(lib.CKR_USER_NOT_LOGGED_IN))
    assert issubclass(error_class(refused), errors.LoginError)
    assert refused["function"] == "C_VerifyInit"
    assert child["verified_after_login"] is True
    verify_ecdsa_sha256(child["public_der"], child["signature"])


def test_tpm2_aes_keygen_refused_with_typed_error(tpm2_token: TPM2Token) -> None:
    child = run_check(tpm2_token, "aes-keygen")
    assert child["aes_key_gen_listed"] is True  # listed, and yet refused
    refused = child["error"]
    assert error_class(refused) is errors.FunctionNotSupported
    assert refused["rv"] == int(lib.CKR_FUNCTION_NOT_SUPPORTED)
    assert refused["function"] == "C_GenerateKey"


def test_tpm2_and_softhsm_in_one_process(tpm2_token: TPM2Token, softhsm_store: SoftHSMStore) -> None:
    env = {
        **softhsm_store.env,
        "P11_INTEROP_SOFTHSM_PIN": softhsm_store.user_pin,
    }
    child = run_check(tpm2_token, "two-modules", softhsm_store.module, softhsm_store.label, env=env)
    assert softhsm_store.user_pin not in child.output
    assert child["same_library_object"] is False
    assert tpm2_token.label in child["labels_a"] and tpm2_token.label not in child["labels_b"]
    assert softhsm_store.label in child["labels_b"] and softhsm_store.label not in child["labels_a"]
    assert error_class(child["foreign_lookup_a"]) is errors.NoSuchToken
    assert error_class(child["foreign_lookup_b"]) is errors.NoSuchToken
    for side in ("a", "b"):
        assert child[side]["verified_on_token"] is True
        assert child[side]["tampered_verifies_on_token"] is False
        verify_ecdsa_sha256(child[side]["public_der"], child[side]["signature"])
    assert child["a"]["public_der"] != child["b"]["public_der"]
    verify_ecdsa_sha256(child["b"]["public_der"], child["b_interleaved"])
    assert child["b_closed"] is True and child["a_closed"] is False
    verify_ecdsa_sha256(child["a"]["public_der"], child["a_after_b_closed"])  # tpm2 still works after SoftHSM closed
