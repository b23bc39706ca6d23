"""josepy ``JWK`` classes for token keys (imported only by :func:`jose.josepy_jwk`).

josepy's ``JWKRSA``/``JWKEC`` already sign with a token key's ``cryptography`` adapter; what fails is everything
that serialises the key, ``thumbprint()`` included, because josepy builds the private JSON (``d``, ``p`` ...)
first. An RFC 7638 thumbprint is made of the public members only, so here it is the public key's (the same
value); ``to_json()`` of the private key, hashing and comparing by private numbers are refused or done on the
public key, never by pretending there are private numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes
from josepy.jwk import JWK, JWKEC, JWKRSA

from p11.crypto import KeyNotExportable, TokenEllipticCurvePrivateKey, TokenRSAPrivateKey, UnsupportedKeyType
from p11.integrations._keys import TokenKey

__all__ = ["TokenJWKEC", "TokenJWKRSA", "josepy_jwk"]

_NOT_EXPORTABLE = "the private key of this JWK lives on the token: serialise public_key() instead"


class _OnToken:
    __slots__ = ()
    key: Any
    _public_class: type[JWK]

    def public_key(self) -> JWK:
        return self._public_class(key=self.key.public_key())

    def thumbprint(self, hash_function: Callable[[], hashes.HashAlgorithm] = hashes.SHA256) -> bytes:
        return bytes(self.public_key().thumbprint(hash_function))

    def fields_to_partial_json(self) -> NoReturn:
        raise KeyNotExportable(_NOT_EXPORTABLE)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _OnToken):
            return NotImplemented
        return bool(self.public_key() == other.public_key())

    def __hash__(self) -> int:
        return hash((type(self), self.public_key()))


class TokenJWKRSA(_OnToken, JWKRSA):  # type: ignore[misc]
    """josepy's RSA JWK for an RSA key on the token (RS256/384/512, PS256/384/512)."""

    __slots__ = ("key",)  # josepy's ImmutableMap takes exactly the slots as arguments
    _public_class = JWKRSA


class TokenJWKEC(_OnToken, JWKEC):  # type: ignore[misc]
    """josepy's EC JWK for an EC key (P-256/384/521) on the token (ES256/384/512)."""

    __slots__ = ("key",)
    _public_class = JWKEC


def josepy_jwk(key: TokenKey) -> JWK:
    if isinstance(key, TokenRSAPrivateKey):
        return TokenJWKRSA(key=key)
    if isinstance(key, TokenEllipticCurvePrivateKey):
        return TokenJWKEC(key=key)
    raise UnsupportedKeyType(f"josepy has no JWK class for {type(key).__name__} (it knows RSA and EC keys only)")
