"""A group's private key as a ``cryptography`` key: :mod:`p11.crypto`'s adapters over a
:class:`~p11.group.GroupPrivateKey` instead of one token's key.

The adapters ask their key for what a :class:`p11.PrivateKey` gives (``sign``, ``decrypt``, ``derive_key``,
``object_class``, ``key[Attribute.EC_PARAMS]``), which a group key gives too; what differs is named here: which
mechanisms the token offers is asked of the group (every serving member), and two adapters are equal when they are
over the same group key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from p11.constants import KeyType, MechanismFlag
from p11.crypto import (
    TokenEd448PrivateKey,
    TokenEd25519PrivateKey,
    TokenEllipticCurvePrivateKey,
    TokenRSAPrivateKey,
    UnsupportedKeyType,
)

if TYPE_CHECKING:
    from p11.crypto.keys import TokenPrivateKey

__all__ = ["adapter_for"]


class _OverGroup:
    """What the adapters do differently over a group key (first in the MRO of each adapter below)."""

    _key: Any

    def _can(self, mechanism: Any, flag: MechanismFlag) -> bool:
        if mechanism is None:
            return False
        try:
            return bool(self._key.group.supports(mechanism, flag))
        except Exception:  # a member that cannot list mechanisms: use the plain ones
            return False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _OverGroup):
            return NotImplemented
        return other._key is self._key

    def __hash__(self) -> int:
        return id(self._key)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self._key!r}>"


class _GroupRSA(_OverGroup, TokenRSAPrivateKey):
    """An RSA key of a token group, as ``cryptography``'s ``RSAPrivateKey``."""


class _GroupEC(_OverGroup, TokenEllipticCurvePrivateKey):
    """An EC key of a token group, as ``cryptography``'s ``EllipticCurvePrivateKey``."""


class _GroupEd25519(_OverGroup, TokenEd25519PrivateKey):
    """An Ed25519 key of a token group, as ``cryptography``'s ``Ed25519PrivateKey``."""


class _GroupEd448(_OverGroup, TokenEd448PrivateKey):
    """An Ed448 key of a token group, as ``cryptography``'s ``Ed448PrivateKey``."""


def adapter_for(key: Any) -> TokenPrivateKey:
    """The ``cryptography`` adapter over a group's private key (a :class:`~p11.group.GroupPrivateKey`; not
    imported here, whose module imports this one): its proven public key given, nothing to read."""
    public = key.public_key()
    as_key: Any = key  # what the adapters use of a p11.PrivateKey, a group key has
    if key.key_type == KeyType.RSA:
        return _GroupRSA(as_key, public)
    if key.key_type == KeyType.EC:
        return _GroupEC(as_key, public)
    if key.key_type == KeyType.EC_EDWARDS:
        if type(public).__name__.startswith("Ed25519"):
            return _GroupEd25519(as_key, public)
        return _GroupEd448(as_key, public)
    raise UnsupportedKeyType(f"{key.key_type.name} keys have no cryptography interface here")
