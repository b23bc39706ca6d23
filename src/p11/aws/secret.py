"""``import_secret``: the long-term AWS secret access key, stored once in the token as the SigV4 root key.

What the token stores is ``"AWS4" + secret`` (the key of the first HMAC in the SigV4 derivation), as a generic secret
that is sensitive, never extractable and may only SIGN/VERIFY (p11.crypto's secret-key template: one home for those
defaults). After the import the secret need not exist anywhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from p11.constants import KeyType
from p11.crypto import import_secret as _import_secret_key

if TYPE_CHECKING:
    from p11.api.objects import SecretKey
    from p11.api.session import Session

__all__ = ["import_secret"]


def import_secret(session: Session, secret_access_key: str, *, label: str) -> SecretKey:
    """Store ``"AWS4" + secret_access_key`` in the token (read-write session, logged in) and return the key for
    :class:`p11.aws.SigV4Signer`. The secret never appears in an error message."""
    if not isinstance(secret_access_key, str):
        raise TypeError(f"secret_access_key must be a str, not {type(secret_access_key).__name__}")
    if not secret_access_key or not secret_access_key.isascii() or not secret_access_key.isprintable():
        raise ValueError("secret_access_key must be a non-empty printable ASCII string")
    if any(c.isspace() for c in secret_access_key):
        raise ValueError("secret_access_key must not contain white space")
    if not isinstance(label, str) or not label:
        raise ValueError("label must be a non-empty string")
    return _import_secret_key(session, b"AWS4" + secret_access_key.encode("ascii"), KeyType.GENERIC_SECRET, label=label)
