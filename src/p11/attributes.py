"""The words of object attributes, public: attribute names, key type names, usage names, and the markers a read
returns where the token gave no value.

The ``p11`` command and programs that take key types and usages from their users (a configuration file's
``key_type = "ed25519"``, ``usages = ["derive"]``) need the same vocabulary
:meth:`p11.Session.generate_key` understands; this is its one home. The attribute names and markers are the
ones every template is resolved with, published here so that code outside the core need not reach into it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from p11._native import codec_of
from p11.constants import Attribute, KeyType, ObjectClass
from p11.defaults import USAGE_FLAGS
from p11.encodings.attributes import ABSENT, SENSITIVE, UNAVAILABLE, attribute, attribute_name, is_marker

__all__ = [
    "ABSENT",
    "SENSITIVE",
    "UNAVAILABLE",
    "USAGE_NAMES",
    "attribute",
    "attribute_name",
    "is_marker",
    "key_type",
    "usage_attributes",
    "value_kind",
]

_NAMES: Final[dict[str, tuple[KeyType, str | None]]] = {
    "rsa": (KeyType.RSA, None),
    "ec": (KeyType.EC, None),
    "ecdsa": (KeyType.EC, None),
    "eddsa": (KeyType.EC_EDWARDS, None),
    "edwards": (KeyType.EC_EDWARDS, None),
    "ed25519": (KeyType.EC_EDWARDS, "ed25519"),
    "ed448": (KeyType.EC_EDWARDS, "ed448"),
    "x25519": (KeyType.EC_MONTGOMERY, "x25519"),
    "x448": (KeyType.EC_MONTGOMERY, "x448"),
    "aes": (KeyType.AES, None),
    "hmac": (KeyType.GENERIC_SECRET, None),
    "generic": (KeyType.GENERIC_SECRET, None),
    "secret": (KeyType.GENERIC_SECRET, None),
}


def key_type(value: KeyType | int | str) -> tuple[KeyType, str | None]:
    """``(KeyType, implied curve)`` for a member or a name: ``"rsa"``, ``"ec"``, ``"ed25519"``, ``"aes"``,
    ``"hmac"``, or any ``KeyType`` member name (``"generic_secret"``). A name such as ``"ed448"`` also names the
    curve, which key generation then uses."""
    if isinstance(value, KeyType):
        return value, None
    if isinstance(value, str):
        norm = value.lower().replace("-", "_")
        if norm in _NAMES:
            return _NAMES[norm]
        member = KeyType.__members__.get(norm.upper())
        if member is not None:
            return member, None
        raise ValueError(f"unknown key type {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        return KeyType(value), None
    raise TypeError(f"key_type must be a KeyType or a name, not {type(value).__name__}")


USAGE_NAMES: Final = tuple(a.name.lower() for a in USAGE_FLAGS[ObjectClass.SECRET_KEY])
"""The usage flags by name, as ``usage_attributes`` takes them: sign, verify, encrypt, decrypt, wrap, unwrap, derive."""


def usage_attributes(usages: Iterable[str], object_class: ObjectClass) -> dict[Attribute, bool]:
    """The usage flags among ``usages`` (names as in :data:`USAGE_NAMES`) that an object of ``object_class`` has,
    each ``True``: how a caller widens the least-privilege defaults (``sign`` goes to a private key, ``verify`` to
    its public key; a secret key takes them all). An unknown name raises ``ValueError`` listing the known ones;
    one name given as a string (``"sign"``, not ``["sign"]``) raises ``TypeError`` rather than being read letter
    by letter."""
    if isinstance(usages, str | bytes):
        raise TypeError(f"usages must be a list of names such as [{usages!r}], not one {type(usages).__name__}")
    wanted: set[Attribute] = set()
    for name in usages:
        if name.lower() not in USAGE_NAMES:
            raise ValueError(f"unknown usage {name!r}; known: {', '.join(USAGE_NAMES)}")
        wanted.add(Attribute[name.upper()])
    kinds = USAGE_FLAGS.get(object_class, USAGE_FLAGS[ObjectClass.SECRET_KEY])  # the one table, p11.defaults
    return {attr: True for attr in kinds if attr in wanted}


def value_kind(key: Attribute | int | str) -> str:
    """What an attribute holds, as its value is given and read: ``"utf8"`` (``str``), ``"bytes"``, ``"bool"``,
    ``"ulong"`` (``int``), ``"date"`` (``datetime.date``), ``"attributes"`` (a template), ``"mechanisms"`` or
    ``"ulongs"`` (lists). From the one codec table the values are encoded with, so a program that reads values
    as text (a command line, a configuration file) can parse them as the token will take them."""
    return codec_of(int(attribute(key)))
