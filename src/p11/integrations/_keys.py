"""The one way the integrations take a token key: p11's ``cryptography`` adapter of it."""

from __future__ import annotations

from typing import Any

from p11.api.objects import PrivateKey
from p11.crypto import (
    TokenEd448PrivateKey,
    TokenEd25519PrivateKey,
    TokenEllipticCurvePrivateKey,
    TokenRSAPrivateKey,
    token_key,
)

__all__ = ["TokenKey", "adapter", "missing"]

TokenKey = TokenRSAPrivateKey | TokenEllipticCurvePrivateKey | TokenEd25519PrivateKey | TokenEd448PrivateKey
_ADAPTERS = (TokenRSAPrivateKey, TokenEllipticCurvePrivateKey, TokenEd25519PrivateKey, TokenEd448PrivateKey)


def adapter(key: Any) -> TokenKey:
    """``key`` as p11's ``cryptography`` adapter: a :class:`p11.PrivateKey` is wrapped, an adapter kept.

    A software key is refused: the libraries take those directly, and a function named for token keys that quietly
    took one would hide a configuration mistake (the key file used instead of the token).
    """
    if isinstance(key, _ADAPTERS):
        return key
    if isinstance(key, PrivateKey):
        return token_key(key)
    raise TypeError(
        f"expected a token private key (a p11.PrivateKey, or p11.crypto.token_key(...) / p11.open(uri) of one), "
        f"not {type(key).__module__}.{type(key).__qualname__}"
    )


def missing(package: str, extra: str) -> ImportError:
    """The ImportError for an optional package that is not installed: it names the extra that brings it."""
    return ImportError(f"{package} is not installed: pip install 'p11[{extra}]'")
