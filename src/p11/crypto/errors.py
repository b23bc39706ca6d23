"""Exceptions of ``p11.crypto``: each a :class:`p11.errors.P11Error`; bad input is a ``ValueError``/``TypeError`` too.

Messages name the kind of thing that failed (a PEM block type, a curve, a key type), never a password, PIN or
any key bytes.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm

from p11.errors import P11Error

__all__ = [
    "DecryptionFailed",
    "InvalidKeyData",
    "KeyNotExportable",
    "PasswordRequired",
    "TokenRefusedAlgorithm",
    "UnsupportedCurve",
    "UnsupportedKeyType",
    "WrongPassword",
]


class InvalidKeyData(P11Error, ValueError):
    """Bytes that should hold a key or certificate (PEM or DER) cannot be parsed as one."""


class PasswordRequired(InvalidKeyData, TypeError):
    """The private key is encrypted and no password was given."""


class WrongPassword(InvalidKeyData):
    """The password does not decrypt the private key (or a password was given for a key not encrypted)."""


class UnsupportedKeyType(P11Error, TypeError):
    """The key is of a type p11.crypto cannot put on a token or wrap (DSA, DH, X25519 …)."""


class UnsupportedCurve(P11Error, ValueError):
    """The elliptic curve (or its ``CKA_EC_PARAMS`` encoding) is not one p11.crypto knows."""


class KeyNotExportable(P11Error, TypeError):
    """A token private key was asked for its private bytes or numbers: they never leave the token."""


class DecryptionFailed(P11Error, ValueError):
    """The token could not decrypt the ciphertext (``cryptography`` raises ``ValueError`` for that; some tokens,
    SoftHSM among them, report a bad ciphertext as ``CKR_GENERAL_ERROR``). The token's error is the ``__cause__``."""


class TokenRefusedAlgorithm(UnsupportedAlgorithm, P11Error):
    """The token cannot do what a ``cryptography`` call asked of its key: it lacks the mechanism, or refuses its
    parameters (SoftHSM's RSA-PSS takes no SHA-3 hash), or the key's ``CKA_ALLOWED_MECHANISMS`` leave it out.

    It is ``cryptography``'s ``UnsupportedAlgorithm``, which callers of a ``cryptography`` key catch (signxml,
    PyJWT, pyHanko ...), and a :class:`p11.errors.P11Error`; the token's own error is the ``__cause__``."""
