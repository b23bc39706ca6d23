"""What a token cannot do with a key reaches ``cryptography`` callers as ``UnsupportedAlgorithm``; what p11 can do
honestly in software (hash first, then sign the digest) it does; every other token error stays p11's own."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from p11 import errors
from p11.api.session import Session
from p11.constants import Attribute, KeyType, Mechanism
from p11.crypto import TokenRefusedAlgorithm, token_key


def _rsa(hsm: Session, **private_attrs: Any) -> Any:
    attrs = {Attribute[name.upper()]: value for name, value in private_attrs.items()}
    _, private = hsm.generate_keypair(KeyType.RSA, 2048, token=False, label="refusals", private_attrs=attrs or None)
    return token_key(private)


def _pss(hash_algorithm: hashes.HashAlgorithm) -> padding.PSS:
    return padding.PSS(padding.MGF1(hash_algorithm), hash_algorithm.digest_size)


def test_rsa_pss_with_a_hash_the_token_lacks_is_unsupported_algorithm(hsm: Session) -> None:
    """SoftHSM's CKM_RSA_PKCS_PSS takes no SHA-3 hash (CKR_ARGUMENTS_BAD from C_SignInit): what signxml's RSA-PSS
    with SHA3-256 asks for."""
    key = _rsa(hsm)
    with pytest.raises(UnsupportedAlgorithm) as info:
        key.sign(b"data", _pss(hashes.SHA3_256()), hashes.SHA3_256())
    assert isinstance(info.value, TokenRefusedAlgorithm) and isinstance(info.value, errors.P11Error)
    assert isinstance(info.value.__cause__, errors.ArgumentsError)
    assert info.value.__cause__.function == "C_SignInit"
    assert "token key 'refusals' cannot sign with PSS(" in str(info.value) and "sha3_256" in str(info.value)


def test_hash_then_sign_is_done_here_where_that_is_honest(hsm: Session) -> None:
    """SHA-3 with PKCS#1 v1.5 and ECDSA: the digest is computed here and the token signs it (CKM_RSA_PKCS over a
    DigestInfo, CKM_ECDSA): the signatures verify as the software key's would."""
    key = _rsa(hsm)
    signature = key.sign(b"data", padding.PKCS1v15(), hashes.SHA3_256())
    key.public_key().verify(signature, b"data", padding.PKCS1v15(), hashes.SHA3_256())
    _, private = hsm.generate_keypair(KeyType.EC, curve="P-256", token=False)
    ec_key = token_key(private)
    ec_key.public_key().verify(ec_key.sign(b"data", ec.ECDSA(hashes.SHA3_256())), b"data", ec.ECDSA(hashes.SHA3_256()))


def test_a_mechanism_the_key_is_not_allowed_is_unsupported_algorithm(hsm: Session) -> None:
    key = _rsa(hsm, allowed_mechanisms=[Mechanism.SHA256_RSA_PKCS_PSS])
    key.public_key().verify(key.sign(b"data", _pss(hashes.SHA256()), hashes.SHA256()), b"data",
                            _pss(hashes.SHA256()), hashes.SHA256())
    for pad, algorithm in ((padding.PKCS1v15(), hashes.SHA256()), (_pss(hashes.SHA384()), hashes.SHA384())):
        with pytest.raises(UnsupportedAlgorithm) as info:
            key.sign(b"data", pad, algorithm)
        assert isinstance(info.value.__cause__, errors.MechanismError)


def test_other_token_errors_stay_p11_errors(hsm: Session) -> None:
    """A key that may not sign at all, and a key whose session is gone: not an algorithm question."""
    _, private = hsm.generate_keypair(KeyType.EC, curve="P-256", token=False, private_attrs={Attribute.SIGN: False})
    with pytest.raises(errors.KeyCapabilityError) as info:
        token_key(private).sign(b"data", ec.ECDSA(hashes.SHA256()))
    assert not isinstance(info.value, UnsupportedAlgorithm)
    other = hsm.token.open(rw=True)
    _, private = other.generate_keypair(KeyType.EC, curve="P-256", token=False)
    key = token_key(private)
    other.close()  # its session objects go with it
    with pytest.raises(errors.P11Error) as closed:
        key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    assert not isinstance(closed.value, UnsupportedAlgorithm)


def test_an_unlabelled_key_is_named_by_its_handle(hsm: Session) -> None:
    _, private = hsm.generate_keypair(KeyType.RSA, 2048, token=False)
    with pytest.raises(UnsupportedAlgorithm, match=r"token key \(handle \d+\) cannot sign"):
        token_key(private).sign(b"data", _pss(hashes.SHA3_512()), hashes.SHA3_512())
