"""Token groups: the same key on several tokens (several HSMs), used as one key with failover.

Two tokens holding one key (here two SoftHSM tokens of one store; in a fleet, HSMs each behind a module of its
own):

>>> import p11
>>> from cryptography.hazmat.primitives import hashes
>>> from cryptography.hazmat.primitives.asymmetric import ec
>>> from p11.crypto import import_private_key
>>> lib = p11.load("/usr/lib/softhsm/libsofthsm2.so")
>>> tokens = [lib.get_token(label="my-token"), lib.get_token(label="ca-token")]
>>> private = ec.generate_private_key(ec.SECP256R1())
>>> for token in tokens:  # the same key on each (an HSM fleet unwraps it from a backup)
...     with token.open(user_pin="1234", rw=True) as session:
...         _ = import_private_key(session, private, label="group-signer")
>>> group = p11.TokenGroup(tokens)
>>> group.login("1234", keep_pin=True)
>>> key = group.get_key(label="group-signer", object_class=p11.ObjectClass.PRIVATE_KEY)  # proven on each member
>>> signature = key.as_cryptography().sign(b"data", ec.ECDSA(hashes.SHA256()))  # on one member
>>> private.public_key().verify(signature, b"data", ec.ECDSA(hashes.SHA256()))
>>> len(key.sign_many([bytes(32)] * 8, p11.Mechanism.ECDSA))  # split over the members
8
>>> [member.state for member in group.members]
['serving', 'serving']
>>> group.close()

* Where calls go: to the serving members that hold the key, the one with the fewest calls in flight first.
* A member whose calls fail with device, session or connection errors (:data:`MEMBER_FAILURES`) is taken out at
  once and probed back in with backoff (``module.health.probe``, ``Module.renew``, the group's login, every key
  proven again); the group also hears its module's own health checks (``module.health.on_change``).
* A call that failed because its member failed is tried once on another member when repeating it is harmless:
  ``sign``, ``verify``, ``decrypt``, ``encrypt`` (with the caller's IV), never calls that make or destroy objects,
  never a stream the first attempt consumed.
* Before a member serves a key it proves it holds the same key (:class:`KeyMismatch` otherwise).

What a group cannot do, and how it behaves over ``p11-kit``'s remote tokens and a network: docs/network.md.
"""

from __future__ import annotations

from p11.group._calls import MemberTimeout
from p11.group._group import GroupUnavailable, TokenGroup
from p11.group._keys import GroupKey, GroupPrivateKey, GroupPublicKey, GroupSecretKey
from p11.group._members import MEMBER_FAILURES, Member, is_member_failure
from p11.group._proof import CHALLENGE, KeyMismatch, KeyNotProvable

__all__ = [
    "CHALLENGE",
    "MEMBER_FAILURES",
    "GroupKey",
    "GroupPrivateKey",
    "GroupPublicKey",
    "GroupSecretKey",
    "GroupUnavailable",
    "KeyMismatch",
    "KeyNotProvable",
    "Member",
    "MemberTimeout",
    "TokenGroup",
    "is_member_failure",
]
