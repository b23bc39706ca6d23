"""p11 through p11-kit's proxy module, in front of a private SoftHSM store: slots are the proxy's, the token and
its keys are SoftHSM's, and what the token signs verifies in ``cryptography``."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.interop.harness import P11KitProxyToken
from tests.interop.helpers import Child, public_key, run_check, verify_ecdsa_sha256

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def via_proxy(proxy_token: P11KitProxyToken) -> Child:
    """Slots and the token by label, seen through the proxy."""
    return run_check(proxy_token, "slots")


@pytest.fixture(scope="module")
def direct(proxy_token: P11KitProxyToken) -> Child:
    """The same store seen by loading SoftHSM itself (no proxy, no mount namespace)."""
    return run_check(proxy_token.backend, "slots")


def test_proxy_module_is_p11_kit_in_front_of_softhsm(via_proxy: Child) -> None:
    assert via_proxy["library_manufacturer"] == "PKCS#11 Kit"
    assert via_proxy["token_manufacturer"] == "SoftHSM project"


def test_proxy_renumbers_slots_of_the_same_token(via_proxy: Child, direct: Child) -> None:
    assert via_proxy["token_serial"] == direct["token_serial"]
    assert via_proxy["token_slot_id"] != direct["token_slot_id"]
    assert set(via_proxy["slot_ids"]).isdisjoint(direct["slot_ids"])
    assert len(via_proxy["slot_ids"]) == len(direct["slot_ids"])


def test_proxy_finds_token_by_label(proxy_token: P11KitProxyToken, via_proxy: Child) -> None:
    assert via_proxy["token_label"] == proxy_token.label
    assert via_proxy["token_slot_id"] in via_proxy["slot_ids"]


def test_proxy_ec_p256_signature_verifies_in_cryptography(proxy_token: P11KitProxyToken) -> None:
    child = run_check(proxy_token, "sign-ec")
    assert child["curve"] == "secp256r1"
    assert child["verified_on_token"] is True
    assert child["tampered_verifies_on_token"] is False
    key = verify_ecdsa_sha256(child["public_der"], child["signature"])
    assert isinstance(key.curve, ec.SECP256R1)


def test_proxy_certificate_signed_with_token_key_verifies(proxy_token: P11KitProxyToken) -> None:
    child = run_check(proxy_token, "certificate")
    cert = x509.load_pem_x509_certificate(child["certificate_pem"].encode())
    cert.verify_directly_issued_by(cert)  # self-signed: its signature checks out with its own public key
    certified = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token_public = public_key(child["token_public_der"]).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert certified == token_public
