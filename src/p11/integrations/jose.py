"""JWS (JWT) signing with a key on the token: jwcrypto and josepy (``pip install p11[jose]``).

::

    from jwcrypto import jws, jwt
    from p11.integrations.jose import jwk

    key = jwk(token.get_key(label="signer", object_class=p11.ObjectClass.PRIVATE_KEY))  # or p11.open(uri)
    token = jwt.JWT(header={"alg": "ES256", "kid": key.kid}, claims={"sub": "device-1"})
    token.make_signed_token(key)
    published = key.export_public()          # the JWK verifiers get; key.thumbprint() is its RFC 7638 thumbprint

PyJWT and ``josepy.JWKRSA(key=...)`` take p11's ``cryptography`` adapter (:func:`p11.crypto.token_key`) as they
are; :func:`josepy_jwk` is for josepy code that also asks the private JWK for its thumbprint (ACME's key
authorisation does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from p11.integrations._keys import adapter, missing

if TYPE_CHECKING:
    import josepy.jwk
    from jwcrypto.jwk import JWK

__all__ = ["josepy_jwk", "jwk"]


def jwk(key: Any, **params: Any) -> JWK:
    """A jwcrypto ``JWK`` that signs JWS with the token key ``key``: ES256/384/512 (P-256/384/521), RS*/PS* (RSA),
    EdDSA/Ed25519/Ed448 (Edwards keys); it also decrypts JWE (RSA-OAEP*, ECDH-ES*) on the token.

    Its members are the public key's (``kid`` defaults to the RFC 7638 thumbprint; ``params`` adds or replaces
    members such as ``kid``, ``alg``, ``use``, ``key_ops``); ``export_public()`` and ``public()`` give the key
    verifiers need, and ``export()``/``export_private()`` raise :class:`~p11.crypto.KeyNotExportable`.
    """
    token = adapter(key)
    try:
        from p11.integrations._jwcrypto import TokenJWK
    except ImportError as exc:
        raise missing("jwcrypto", "jose") from exc
    return TokenJWK(token, **params)


def josepy_jwk(key: Any) -> josepy.jwk.JWK:
    """A josepy ``JWK`` (``JWKRSA``/``JWKEC``) for the token key ``key`` whose ``thumbprint()`` works: josepy's own
    classes build the private JSON first and so raise :class:`~p11.crypto.KeyNotExportable`. ``to_json()`` still
    raises (a private JWK's JSON is its private key); ``public_key().to_json()`` is the public JWK."""
    token = adapter(key)
    try:
        from p11.integrations._josepy import josepy_jwk as make
    except ImportError as exc:
        raise missing("josepy", "jose") from exc
    return make(token)
