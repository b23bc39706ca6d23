"""The same checks on every token: SoftHSM2, p11-kit's proxy, pkcs11-spy, tpm2-pkcs11 and openCryptoki's soft token.

One child run per token (``child.py matrix``) tries each capability the token's mechanism list offers and
reports what happened; the tests here assert on it and verify what was signed with ``cryptography``. Nothing is
known per token in advance: a capability the token does not list skips with the token's own words (its
manufacturer, model and the missing mechanisms), and one it lists but refuses skips with the Cryptoki error it
answered — only where that refusal is the token's documented word (:data:`LISTED_BUT_REFUSED`), else it fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from p11 import errors
from p11.lowlevel.types import Info, Version
from p11.quirks import quirks_for
from tests.interop.child import MESSAGE
from tests.interop.harness import InteropToken
from tests.interop.helpers import Child, error_class, run_check, verify_ecdsa_sha256, verify_rsa_sha256

pytestmark = pytest.mark.interop

TOKENS = ("softhsm_store", "proxy_token", "spy_token", "tpm2_token", "ock_token")

# A capability a token lists and then refuses: the errors that mean "this token does not do it" (tpm2-pkcs11 1.9
# lists CKM_AES_KEY_GEN yet answers C_GenerateKey with CKR_FUNCTION_NOT_SUPPORTED). Any other error fails the test.
LISTED_BUT_REFUSED = (errors.FunctionNotSupported, errors.MechanismNotSupported)


@pytest.fixture(scope="module", params=TOKENS)
def token(request: pytest.FixtureRequest) -> InteropToken:
    started: InteropToken = request.getfixturevalue(request.param)
    return started


@pytest.fixture(scope="module")
def matrix(token: InteropToken) -> Child:
    return run_check(token, "matrix")


def ran(matrix: Child, name: str) -> dict[str, Any]:
    """The facts of capability ``name``; skips with the token's reason when it does not offer it."""
    facts: dict[str, Any] = matrix[name]
    if "skip" in facts:
        pytest.skip(facts["skip"])
    if "refused" in facts:
        refused = facts["refused"]
        if not issubclass(error_class(refused), LISTED_BUT_REFUSED):
            pytest.fail(f"{name}: the token listed it, then {refused['function']} raised {refused['message']}")
        who = f"{matrix['token_manufacturer'].strip()} {matrix['token_model'].strip()}"
        pytest.skip(f"{who} lists the {name} mechanisms, but {refused['message']}")
    return facts


def test_token_describes_itself(token: InteropToken, matrix: Child) -> None:
    assert matrix["library_manufacturer"]
    assert matrix["token_manufacturer"]
    assert "TOKEN_INITIALIZED" in matrix["token_flags"]
    assert "USER_PIN_INITIALIZED" in matrix["token_flags"]
    low, high = matrix["pin_length"]
    assert low <= len(token.user_pin) <= high
    assert len(matrix["mechanisms"]) > 10
    assert matrix["random_length"] == 32


def test_quirk_profile_of_the_module_is_applied(matrix: Child) -> None:
    # What p11.quirks says about this module (from its CK_INFO, as the child saw it) is what the child's module did.
    info = Info(
        cryptoki_version=Version(2, 40),
        manufacturer_id=matrix["library_manufacturer"],
        flags=0,
        library_description=matrix["library_description"],
        library_version=Version(*matrix["library_version"]),
    )
    assert matrix["calls_serialized"] is quirks_for(info).one_call_at_a_time


def test_anonymous_digest_or_login_required(matrix: Child) -> None:
    import hashlib

    facts = matrix["anonymous_digest"]
    if "refused" in facts:  # tpm2-pkcs11: C_DigestInit needs a logged-in session
        assert issubclass(error_class(facts["refused"]), errors.LoginError)
        assert facts["refused"]["function"] == "C_DigestInit"
    else:
        assert facts["digest"] == hashlib.sha256(MESSAGE).hexdigest()


def test_ec_p256_sign_verify(matrix: Child) -> None:
    facts = ran(matrix, "ec")
    assert facts["curve"] == "secp256r1"
    assert facts["verified_on_token"] is True and facts["tampered_verifies_on_token"] is False
    verify_ecdsa_sha256(facts["public_der"], facts["signature"])


def test_rsa2048_sha256_sign_verify(matrix: Child) -> None:
    facts = ran(matrix, "rsa")  # SHA-256 hashed in software where only CKM_RSA_PKCS is listed (openCryptoki 3.8)
    assert facts["key_size"] == 2048
    assert facts["verified_on_token"] is True and facts["tampered_verifies_on_token"] is False
    assert verify_rsa_sha256(facts["public_der"], facts["signature"]).key_size == 2048


def test_rsa_oaep_sha256_decrypts_what_cryptography_encrypted(matrix: Child) -> None:
    facts = ran(matrix, "rsa_oaep")
    assert facts["decrypted"] == MESSAGE.decode()


def test_aes_cbc_pad_round_trip(matrix: Child) -> None:
    facts = ran(matrix, "aes")
    assert facts["key_size"] == 256
    assert facts["ciphertext_length"] == (len(MESSAGE) // 16 + 1) * 16
    assert facts["decrypted"] == MESSAGE.decode()


def test_hmac_sha256_sign_verify(matrix: Child) -> None:
    facts = ran(matrix, "hmac")
    assert facts["tag_length"] == 32
    assert facts["verified_on_token"] is True and facts["tampered_verifies_on_token"] is False


def test_attributes_read_back_and_set(matrix: Child) -> None:
    facts = ran(matrix, "attributes")
    assert facts["label"] == "matrix-rsa"
    assert (facts["key_type"], facts["key_size"]) == ("RSA", 2048)
    assert facts["private"] is True and facts["sensitive"] is True
    assert facts["usages"] == ["DECRYPT", "SIGN", "UNWRAP"]
    assert facts["label_after_set"] == "matrix-rsa-renamed"


def test_pool_signs_from_threads(matrix: Child) -> None:
    facts = ran(matrix, "pool")
    assert facts["errors"] == []
    assert facts["signatures"] == facts["verified"] == 12
