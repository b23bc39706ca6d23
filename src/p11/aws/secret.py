"""``import_secret``: the long-term AWS secret access key, stored once in the token as the SigV4 root key.

What the token stores is ``"AWS4" + secret`` (the key of the first HMAC in the SigV4 derivation), as a generic secret
that is sensitive, never extractable and may only SIGN/VERIFY (p11.crypto's secret-key template: one home for those
defaults). After the import the secret need not exist anywhere else.

A label names one SigV4 key: a secret key with the same label already on the token is a refusal, not a second key
(``pkcs11:object=LABEL`` would then name two, and the first import would be hard to tell from the second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from p11.constants import KeyType, ObjectClass
from p11.crypto import import_secret as _import_secret_key

if TYPE_CHECKING:
    from p11.api.objects import SecretKey
    from p11.api.session import Session

__all__ = ["import_secret"]


def import_secret(session: Session, secret_access_key: str, *, label: str, id: bytes | None = None) -> SecretKey:
    """Store ``"AWS4" + secret_access_key`` in the token (read-write session, logged in) under ``label`` (and
    ``id``, the ``CKA_ID``, when given) and return the key for :class:`p11.aws.SigV4Signer`. A secret key already
    labelled ``label`` is a ``ValueError``. The secret never appears in an error message."""
    if not isinstance(secret_access_key, str):
        raise TypeError(f"secret_access_key must be a str, not {type(secret_access_key).__name__}")
    if not secret_access_key or not secret_access_key.isascii() or not secret_access_key.isprintable():
        raise ValueError("the secret access key must be non-empty printable ASCII text")
    if any(c.isspace() for c in secret_access_key):
        raise ValueError("the secret access key must not contain white space")
    if not isinstance(label, str) or not label:
        raise ValueError("label must be a non-empty string")
    with session.find(object_class=ObjectClass.SECRET_KEY, label=label) as search:
        taken = next(iter(search), None) is not None
    if taken:
        raise ValueError(
            f"token {session.token.label!r} already holds a secret key labelled {label!r}: choose another label, or "
            "delete that key first"
        )
    material = b"AWS4" + secret_access_key.encode("ascii")
    return _import_secret_key(session, material, KeyType.GENERIC_SECRET, label=label, id=id)
