"""p11.mechanisms.mechanism_by_name: the names a command line or a configuration file uses."""

from __future__ import annotations

import pytest

from p11.constants import Mechanism
from p11.mechanisms import CBC, GCM, OAEP, PSS, mechanism_by_name


@pytest.mark.parametrize("text", ["ECDSA_SHA256", "ecdsa-sha256", "CKM_ECDSA_SHA256", "ckm-ecdsa-sha256"])
def test_ckm_names_in_any_spelling(text):
    assert mechanism_by_name(text) is Mechanism.ECDSA_SHA256


def test_families_build_their_parameters():
    pss = mechanism_by_name("pss", hash="sha384")
    assert isinstance(pss, PSS) and pss.mechanism is Mechanism.SHA384_RSA_PKCS_PSS
    assert isinstance(mechanism_by_name("OAEP"), OAEP)
    gcm = mechanism_by_name("aes-gcm", iv=b"\0" * 12, aad=b"hdr")
    assert isinstance(gcm, GCM) and gcm.aad == b"hdr"
    assert isinstance(mechanism_by_name("aes_cbc", iv=b"\0" * 16), CBC)


def test_unknown_names_and_missing_iv_say_what_is_accepted():
    with pytest.raises(ValueError, match=r"unknown mechanism 'sha-999'.*ECDSA_SHA256.*aes-gcm"):
        mechanism_by_name("sha-999")
    with pytest.raises(ValueError, match="needs an iv"):
        mechanism_by_name("aes-gcm")
