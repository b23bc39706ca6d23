"""Proving that a member holds the same key as the rest of its group, before it serves.

A label or an id is a name, not a key: two tokens may hold different keys under one label (a re-generated key, a
half-done rollout, a store restored from another backup). A group that sent one caller's signature to the one key
and the next to the other would hand out signatures that do not verify. So each member's key proves itself:

* private keys: the member's public half (read from the token, :func:`p11.crypto.export_public_key`) must be the
  reference public key, and the private key must do what only that key can: sign a fixed challenge that the
  reference public key verifies (or, for an RSA key that may only decrypt, decrypt a challenge encrypted to the
  reference public key). Reading the public half alone is not enough: a token may hold a public-key object that does
  not belong to its private key;
* public keys: the same public key;
* secret keys: the same MAC of a fixed message (``CKA_SIGN``: HMAC, CMAC), else the same full-block key check value
  (``CKA_ENCRYPT`` AES: a zero block encrypted with a zero IV), else the same ``CKA_CHECK_VALUE``; a secret key that
  can do none of these cannot prove itself and is refused.

The reference is the public key the caller gave (``group.get_key(..., public_key=...)``), else the first member's.
"""

from __future__ import annotations

import hmac
import os
from typing import TYPE_CHECKING, Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding

from p11 import errors
from p11.constants import Attribute, KeyType, ObjectClass
from p11.crypto import export_public_key, token_key
from p11.mechanisms import CBC

if TYPE_CHECKING:
    from p11.api.objects import Key

__all__ = ["CHALLENGE", "KeyMismatch", "KeyNotProvable", "Proof", "fingerprint", "prove", "public_der"]

#: What every member's key signs (or MACs) to prove it is the same key.
CHALLENGE: Final = b"p11.TokenGroup: prove that this member holds the group's key (v1)"


class KeyMismatch(errors.P11Error, ValueError):
    """A member holds a different key under the same name: it never serves that key. Raised by
    :meth:`TokenGroup.get_key <p11.group.TokenGroup.get_key>` when a member that answers holds another key."""


class KeyNotProvable(errors.P11Error, ValueError):
    """A member's key cannot prove it is the group's key (a secret key that may neither sign nor encrypt and has no
    ``CKA_CHECK_VALUE``; a private key whose public half cannot be read and that may neither sign nor decrypt)."""


def public_der(public_key: Any) -> bytes:
    """A ``cryptography`` public key as DER SubjectPublicKeyInfo: what two keys are compared by."""
    return bytes(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


class Proof:
    """What a group key's members are compared with: ``public`` (a ``cryptography`` public key) for key pairs,
    ``value`` (a MAC or check value) for secret keys. Set by the first member that proves itself, unless given."""

    def __init__(self, public: Any = None) -> None:
        self.public = public
        self.value: bytes | None = None
        self.how: str | None = None  # for secret keys: which way the value was made ("mac", "kcv", "check-value")


def fingerprint(key: Key) -> tuple[str, bytes]:
    """A secret key's proof: ``(how, value)``. ``KeyNotProvable`` when it has none."""
    attrs = key.get_attributes([Attribute.SIGN, Attribute.ENCRYPT, Attribute.CHECK_VALUE])
    if attrs[Attribute.SIGN] is True:
        return "mac", bytes(key.sign(CHALLENGE))  # type: ignore[attr-defined]
    if attrs[Attribute.ENCRYPT] is True and key.key_type == KeyType.AES:
        return "kcv", bytes(key.encrypt(bytes(16), CBC(bytes(16), pad=False)))  # type: ignore[attr-defined]
    check = attrs[Attribute.CHECK_VALUE]
    if isinstance(check, bytes | bytearray) and check:
        return "check-value", bytes(check)
    raise KeyNotProvable(
        f"secret key {key.label!r} can neither sign nor encrypt and has no CKA_CHECK_VALUE: a group cannot tell "
        "whether its members hold the same key"
    )


def _challenge_signature(key: Key, public: Any) -> bool | None:
    """Whether the private ``key`` signs (or decrypts) the challenge as ``public``'s private key does; ``None``
    when the key may do neither."""
    usage = key.get_attributes([Attribute.SIGN, Attribute.DECRYPT])
    adapter: Any = token_key(key, public_key=public)  # type: ignore[arg-type]
    if usage[Attribute.SIGN] is True:
        try:
            if isinstance(public, rsa.RSAPublicKey):
                signature = adapter.sign(CHALLENGE, asym_padding.PKCS1v15(), hashes.SHA256())
                public.verify(signature, CHALLENGE, asym_padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(public, ec.EllipticCurvePublicKey):
                signature = adapter.sign(CHALLENGE, ec.ECDSA(hashes.SHA256()))
                public.verify(signature, CHALLENGE, ec.ECDSA(hashes.SHA256()))
            elif isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
                public.verify(adapter.sign(CHALLENGE), CHALLENGE)
            else:
                return None
        except InvalidSignature:
            return False
        return True
    if usage[Attribute.DECRYPT] is True and isinstance(public, rsa.RSAPublicKey):
        secret = os.urandom(32)
        ciphertext = public.encrypt(secret, asym_padding.PKCS1v15())
        try:
            return hmac.compare_digest(adapter.decrypt(ciphertext, asym_padding.PKCS1v15()), secret)
        except ValueError:  # DecryptionFailed: another key
            return False
    return None


def prove(key: Key, proof: Proof, where: str) -> None:
    """Check that ``key`` (one member's) is the key ``proof`` describes, filling ``proof`` in if it is still empty.
    Raises :class:`KeyMismatch` (another key), :class:`KeyNotProvable`, or the member's own error (a member that
    does not answer: the caller decides what that means)."""
    object_class = ObjectClass(key.object_class)
    if object_class == ObjectClass.SECRET_KEY:
        how, value = fingerprint(key)
        if proof.value is None:
            proof.how, proof.value = how, value
        elif how != proof.how or not hmac.compare_digest(value, proof.value):
            raise KeyMismatch(f"{where} holds another secret key under this name (its {how} differs)")
        return
    if object_class not in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
        raise TypeError(f"a {object_class.name} object is not a key a group can serve")
    try:
        public = export_public_key(key)
    except (errors.P11Error, ValueError, TypeError):
        public = None  # e.g. an EC private key with no public-key object beside it: the challenge decides
    if proof.public is None:
        if public is None:
            raise KeyNotProvable(f"{where}: the public half of this key cannot be read from the token; give the "
                                 "group the public key (get_key(..., public_key=...))")
        proof.public = public
    elif public is not None and public_der(public) != public_der(proof.public):
        raise KeyMismatch(f"{where} holds another key under this name (its public key differs)")
    if object_class == ObjectClass.PRIVATE_KEY:
        verdict = _challenge_signature(key, proof.public)
        if verdict is False:
            raise KeyMismatch(f"{where}: its private key is not the group's (the challenge does not verify)")
        if verdict is None and public is None:
            raise KeyNotProvable(f"{where}: this private key may neither sign nor decrypt and its public half "
                                 "cannot be read: it cannot prove it is the group's key")
