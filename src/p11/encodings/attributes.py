"""Attribute names and templates for the key layer: ``label="x"`` → ``{Attribute.LABEL: "x"}`` → C.

Users name attributes the short way (keyword arguments are the :class:`~p11.constants.Attribute` member names in
lower case, with ``object_class`` for ``CKA_CLASS``) or with ``Attribute`` members. Every value is encoded and
decoded by the codecs of :mod:`p11._native` (one table says which attribute holds which kind of value), so this
module only resolves names and hands templates to the calls that need them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from p11._native import ABSENT as _ABSENT
from p11._native import SENSITIVE as _SENSITIVE
from p11._native import UNAVAILABLE as _UNAVAILABLE
from p11._native import Unavailable as _Unavailable
from p11._native import attribute_name as _attribute_name
from p11._native import encode as _encode
from p11.constants import Attribute

__all__ = [
    "ABSENT",
    "SENSITIVE",
    "UNAVAILABLE",
    "Unavailable",
    "attribute",
    "attribute_name",
    "describe",
    "is_marker",
    "keyword",
    "merge",
    "raw_template",
    "template",
]

SENSITIVE = _SENSITIVE
"""Marker in a read result: the token holds the attribute but will not reveal it."""
ABSENT = _ABSENT
"""Marker in a read result: the object has no such attribute."""
UNAVAILABLE = _UNAVAILABLE
"""Marker in a read result: the token returned no value and gave no reason."""
Unavailable = _Unavailable

_ALIASES = {"object_class": Attribute.CLASS, "class": Attribute.CLASS, "class_": Attribute.CLASS}


def attribute(key: Attribute | int | str) -> Attribute:
    """The :class:`Attribute` for a member, a ``CKA_*`` value or a name (``"label"``, ``"object_class"``,
    ``"CKA_LABEL"``)."""
    if isinstance(key, Attribute):
        return key
    if isinstance(key, bool):
        raise TypeError("an attribute is an Attribute, an int or a name, not bool")
    if isinstance(key, int):
        return Attribute(key)
    if isinstance(key, str):
        alias = _ALIASES.get(key)
        if alias is not None:
            return alias
        name = key.upper()
        if name.startswith("CKA_"):
            name = name[4:]
        try:
            return Attribute[name]
        except KeyError:
            raise ValueError(f"unknown attribute name {key!r}") from None
    raise TypeError(f"an attribute is an Attribute, an int or a name, not {type(key).__name__}")


def attribute_name(key: Attribute | int) -> str:
    """``CKA_LABEL`` for ``Attribute.LABEL`` (vendor attributes named relative to ``CKA_VENDOR_DEFINED``)."""
    return str(_attribute_name(int(key)))


def keyword(key: Attribute | int) -> str:
    """The keyword a user writes for an attribute: ``label``, ``id``, ``object_class`` (for ``CKA_CLASS``),
    ``key_type``; a vendor attribute by its ``CKA_`` name."""
    member = Attribute(int(key))
    if member == Attribute.CLASS:
        return "object_class"
    if member.name in Attribute.__members__:
        return member.name.lower()
    return attribute_name(member)


def describe(criteria: Mapping[Any, Any]) -> str:
    """Attribute criteria as an error message shows them: ``label='nope', object_class=ObjectClass.PRIVATE_KEY``
    (keywords as :func:`template` takes them, enum values by name; ``no attributes`` when empty). Every message
    that prints a template goes through here, so none shows a bare ``CKA_*`` number."""
    parts = []
    for key, value in criteria.items():
        shown = f"{type(value).__name__}.{value.name}" if isinstance(value, enum.Enum) else repr(value)
        parts.append(f"{keyword(attribute(key))}={shown}")
    return ", ".join(parts) or "no attributes"


def is_marker(value: object) -> bool:
    """Whether ``value`` is one of the markers a read leaves where the token gave no value."""
    return isinstance(value, _Unavailable)


def template(
    mapping: Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None = None, **attrs: Any
) -> dict[Attribute, Any]:
    """``{Attribute: value}`` from a mapping (keys as :func:`attribute` accepts) and keyword attributes."""
    out: dict[Attribute, Any] = {}
    if mapping is not None:
        items = mapping.items() if isinstance(mapping, Mapping) else mapping
        for key, value in items:
            out[attribute(key)] = value
    for key, value in attrs.items():
        out[attribute(key)] = value
    return out


def merge(base: Mapping[Attribute, Any], *overrides: Mapping[Any, Any] | None) -> dict[Attribute, Any]:
    """``base`` updated by each override in turn (their keys resolved by :func:`attribute`)."""
    out = dict(base)
    for override in overrides:
        if override:
            out.update(template(override))
    return out


def raw_template(mapping: Mapping[Any, Any]) -> dict[int, Any]:
    """The template as :mod:`p11.lowlevel` takes it: ``{CKA_*: encoded bytes}``, each value encoded by the
    :mod:`p11._native` codec for its attribute (nested templates, ``CKA_WRAP_TEMPLATE`` and friends, stay
    nested). Raises TypeError naming the attribute for a value of the wrong type."""
    out: dict[int, Any] = {}
    for key, value in mapping.items():
        kind = int(attribute(key))
        if isinstance(value, Mapping):
            out[kind] = raw_template(value)
        else:
            out[kind] = _encode(kind, value)
    return out
