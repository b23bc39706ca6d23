"""paramiko ``PKey`` classes whose signatures are made on the token (imported only by :func:`ssh.paramiko_key`).

paramiko's own key classes nearly take a ``cryptography`` key already; three things stop a token key:

* ``RSAKey`` reads its public numbers through ``private_numbers().public_numbers``, which a token key refuses (the
  private numbers never leave it): :class:`TokenRSAKey` reads ``public_key().public_numbers()``;
* ``Ed25519Key`` signs with a PyNaCl ``SigningKey`` made from the private seed: :class:`TokenEd25519Key` keeps only
  the PyNaCl ``VerifyKey`` of the public key and signs on the token;
* writing the key to a file would ask the token for its private bytes: every class refuses it up front, with
  :class:`~p11.crypto.KeyNotExportable`, before a file is opened.
"""

from __future__ import annotations

from typing import Any, NoReturn

import nacl.signing
import paramiko
from cryptography.hazmat.primitives import serialization
from paramiko.message import Message

from p11.crypto import (
    KeyNotExportable,
    TokenEd25519PrivateKey,
    TokenEllipticCurvePrivateKey,
    TokenRSAPrivateKey,
    UnsupportedKeyType,
)
from p11.integrations._keys import TokenKey

__all__ = ["TokenECDSAKey", "TokenEd25519Key", "TokenRSAKey", "paramiko_key"]

_NOT_WRITABLE = "the private key lives on the token: write its public key (get_base64()) instead"


class _OnToken:
    """What the three classes share: no private-key files, and the token key they sign with."""

    token_key: Any  # the adapter of the subclass's key type

    def write_private_key_file(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise KeyNotExportable(_NOT_WRITABLE)

    def write_private_key(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise KeyNotExportable(_NOT_WRITABLE)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.token_key!r}>"


class TokenRSAKey(_OnToken, paramiko.RSAKey):  # type: ignore[misc]
    """An RSA key on the token as a paramiko ``RSAKey``: rsa-sha2-256 and rsa-sha2-512 signatures."""

    def __init__(self, key: TokenRSAPrivateKey) -> None:
        super().__init__(key=key)
        self.token_key = key

    @property
    def public_numbers(self) -> Any:
        return self.token_key.public_key().public_numbers()


class TokenECDSAKey(_OnToken, paramiko.ECDSAKey):  # type: ignore[misc]
    """An EC key (P-256, P-384, P-521) on the token as a paramiko ``ECDSAKey``."""

    def __init__(self, key: TokenEllipticCurvePrivateKey) -> None:
        super().__init__(vals=(key, key.public_key()))
        if self.ecdsa_curve is None:
            raise UnsupportedKeyType(f"SSH has no ECDSA key type for curve {key.curve.name}")
        self.token_key = key


class TokenEd25519Key(_OnToken, paramiko.Ed25519Key):  # type: ignore[misc]
    """An Ed25519 key on the token as a paramiko ``Ed25519Key`` (PyNaCl holds only its public key)."""

    def __init__(self, key: TokenEd25519PrivateKey) -> None:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        blob = Message()
        blob.add_string(self.name)
        blob.add_string(raw)
        super().__init__(data=blob.asbytes())  # the public key, as paramiko reads it from the wire
        self.token_key = key

    @property
    def verifying_key(self) -> nacl.signing.VerifyKey:
        key: nacl.signing.VerifyKey = self._verifying_key
        return key

    def can_sign(self) -> bool:
        return True

    def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> Message:
        m = Message()
        m.add_string(self.name)
        m.add_string(self.token_key.sign(bytes(data)))
        return m


def paramiko_key(key: TokenKey) -> paramiko.PKey:
    """The paramiko class for ``key``'s type (see :func:`p11.integrations.ssh.paramiko_key`)."""
    if isinstance(key, TokenRSAPrivateKey):
        return TokenRSAKey(key)
    if isinstance(key, TokenEllipticCurvePrivateKey):
        return TokenECDSAKey(key)
    if isinstance(key, TokenEd25519PrivateKey):
        return TokenEd25519Key(key)
    raise UnsupportedKeyType(f"paramiko has no key class for {type(key).__name__} (it has no Ed448 keys)")
