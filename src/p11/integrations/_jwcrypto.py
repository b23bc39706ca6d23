"""A jwcrypto ``JWK`` whose private operations are the token key's (imported only by :func:`jose.jwk`).

jwcrypto keeps a key as its JSON members and makes a ``cryptography`` key from them when an operation asks
(``get_op_key``); ``JWK.from_pyca`` reads the private numbers to get there, which a token key refuses. Here the
JSON members are the public key's only (so ``thumbprint()``, ``export_public()``, ``public()`` and ``kid`` are
what they would be for the same key in software), and the key handed to signing — and to JWE decryption and key
unwrapping — is the token key itself. Exporting the private key raises :class:`~p11.crypto.KeyNotExportable`
rather than return the public members where a private key was asked for.
"""

from __future__ import annotations

from typing import Any, NoReturn

from jwcrypto import jwk as _jwk

from p11.crypto import KeyNotExportable, TokenEllipticCurvePrivateKey
from p11.integrations._keys import TokenKey

__all__ = ["TokenJWK"]

_NOT_EXPORTABLE = "the private key of this JWK lives on the token: export_public() or public() is what can be exported"


class TokenJWK(_jwk.JWK):  # type: ignore[misc]
    """A JWK for a token private key: JWS signing (ES*, RS*, PS*, EdDSA/Ed25519/Ed448) on the token."""

    def __init__(self, key: TokenKey, **params: Any) -> None:
        super().__init__()
        self.import_from_pyca(key.public_key())  # kty and the public members, kid = the RFC 7638 thumbprint
        own = {"kty", *_jwk.JWKValuesRegistry[self["kty"]]}
        for name, value in params.items():
            if name in own:  # n, e, crv, x, y, d ...: the key's own members come from the token key, or not at all
                raise ValueError(f"{name!r} is a member of the key itself: it comes from the token key")
            self[name] = value
        object.__setattr__(self, "token_key", key)

    @property
    def has_private(self) -> bool:
        return True

    def _get_private_key(self, arg: Any = None) -> TokenKey:
        key: TokenKey = self.token_key
        if isinstance(key, TokenEllipticCurvePrivateKey):
            self._get_curve_by_name(arg, ctype="EC")  # the curve an algorithm asks for must be this key's
        return key

    def export(self, private_key: bool = True, as_dict: bool = False) -> Any:
        if private_key:
            raise KeyNotExportable(_NOT_EXPORTABLE)
        return self.export_public(as_dict)

    def export_private(self, as_dict: bool = False) -> NoReturn:
        raise KeyNotExportable(_NOT_EXPORTABLE)
