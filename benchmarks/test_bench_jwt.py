"""pytest-benchmark: what a JWT costs when its key is on the token, next to the same JWT with a software key.

One call is ``jwt.encode(claims, key, algorithm=...)`` (PyJWT), a user's whole signing path: JSON, base64url, the
hash, the signature and, for the token, p11's ``cryptography`` adapter and the crossing into SoftHSM. Groups are
``jwt_<alg>``; each has a ``token`` and a ``software`` benchmark (P-256, RSA-2048, Ed25519 keys; the bench token's
pooled EC and RSA keys, an Ed25519 session key made here). Each checks that its JWT verifies.

    python -m pytest benchmarks/test_bench_jwt.py -p no:cacheprovider      # the figures (docs/integrations.md)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from benchmarks.conftest import Bench

CLAIMS = {"sub": "device-0001", "iss": "https://issuer.example", "aud": "api", "iat": 1700000000, "exp": 1700003600}
ALGORITHMS = {"ES256": "ec", "RS256": "rsa", "PS256": "rsa", "EdDSA": "ed25519"}


@pytest.fixture(scope="module")
def keys(bench: Bench) -> dict[tuple[str, str], Any]:
    """(where, kind) -> private key: the token's (p11's cryptography adapter) and a software one of each kind."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from p11.constants import KeyType
    from p11.crypto import token_key

    _, ed_private = bench.session.generate_keypair(KeyType.EC_EDWARDS, curve="ed25519", token=False, label="jwt-ed")
    return {
        ("token", "ec"): token_key(bench.ec),
        ("token", "rsa"): token_key(bench.rsa),
        ("token", "ed25519"): token_key(ed_private),
        ("software", "ec"): ec.generate_private_key(ec.SECP256R1()),
        ("software", "rsa"): rsa.generate_private_key(65537, 2048),
        ("software", "ed25519"): ed25519.Ed25519PrivateKey.generate(),
    }


@pytest.mark.parametrize("where", ["token", "software"])
@pytest.mark.parametrize("alg", list(ALGORITHMS))
def test_jwt_encode(benchmark: Any, keys: dict[tuple[str, str], Any], alg: str, where: str) -> None:
    import jwt

    benchmark.group = f"jwt_{alg}"
    key = keys[where, ALGORITHMS[alg]]
    token = benchmark(jwt.encode, CLAIMS, key, algorithm=alg)
    decoded = jwt.decode(token, key.public_key(), algorithms=[alg], audience="api", options={"verify_exp": False})
    assert decoded == CLAIMS


@pytest.mark.parametrize("alg", list(ALGORITHMS))
def test_token_signature_alone(benchmark: Any, keys: dict[tuple[str, str], Any], alg: str) -> None:
    """The token's part of a JWT: one ``key.sign`` of a JWT's signing input with the mechanism the adapter uses
    (over a digest for ES256, as SoftHSM has only CKM_ECDSA), without PyJWT and the adapter around it."""
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    from p11.constants import Mechanism
    from p11.crypto import raw_to_der
    from p11.mechanisms import PSS

    benchmark.group = f"jwt_{alg}"
    adapter = keys["token", ALGORITHMS[alg]]
    public = adapter.public_key()
    signing_input = b"eyJhbGciOiJFUzI1NiJ9." + b"e" * 160  # as long as a JWT's header.claims
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    data, mechanism, verify = {
        "ES256": (hashlib.sha256(signing_input).digest(), Mechanism.ECDSA,
                  lambda sig: public.verify(raw_to_der(sig), signing_input, ec.ECDSA(hashes.SHA256()))),
        "RS256": (signing_input, Mechanism.SHA256_RSA_PKCS,
                  lambda sig: public.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())),
        "PS256": (signing_input, PSS("sha256", "sha256", 32),
                  lambda sig: public.verify(sig, signing_input, pss, hashes.SHA256())),
        "EdDSA": (signing_input, Mechanism.EDDSA, lambda sig: public.verify(sig, signing_input)),
    }[alg]
    verify(benchmark(adapter.token_object.sign, data, mechanism))  # raises InvalidSignature if wrong
