"""What the listing subcommands show of a token or an object, as JSON-ready dictionaries (the keys are the
stable ones docs/cli.md lists). Values are read through the library; nothing here talks to the module directly.
A token's strings are shown through :func:`p11.cli.output.printable` (bytes that are not UTF-8 as ``\\xNN``); the
``uri`` beside them holds the exact bytes."""

from __future__ import annotations

from typing import Any

from p11 import Key, Object, Slot, Token
from p11.attributes import USAGE_NAMES, is_marker
from p11.cli.output import printable
from p11.constants import Attribute, ObjectClass, SlotFlag, TokenFlag
from p11.opener import TYPE_FOR_CLASS

__all__ = ["flag_names", "object_info", "slot_info", "token_info"]

_USAGE_ATTRS = tuple(Attribute[name.upper()] for name in USAGE_NAMES)
_KEY_FLAGS = (Attribute.PRIVATE, Attribute.SENSITIVE, Attribute.EXTRACTABLE)


def flag_names(flags: int, kind: Any) -> list[str]:
    """The names of the members of the ``IntFlag`` class ``kind`` set in ``flags``."""
    return [member.name for member in kind if member.value and flags & member.value == member.value]


def token_info(token: Token) -> dict[str, Any]:
    info = token.info()
    return {
        "label": printable(info.label),
        "serial": printable(info.serial_number),
        "manufacturer": printable(info.manufacturer_id),
        "model": printable(info.model),
        "slot": token.slot.id,
        "uri": str(token.uri),
        "initialized": bool(info.flags & TokenFlag.TOKEN_INITIALIZED),
        "flags": flag_names(info.flags, TokenFlag),
        "min_pin_len": info.min_pin_len,
        "max_pin_len": info.max_pin_len,
        "free_public_memory": info.free_public_memory,
        "total_public_memory": info.total_public_memory,
        "free_private_memory": info.free_private_memory,
        "total_private_memory": info.total_private_memory,
    }


def slot_info(slot: Slot) -> dict[str, Any]:
    info = slot.info
    token = slot.token
    return {
        "id": slot.id,
        "description": printable(info.slot_description),
        "manufacturer": printable(info.manufacturer_id),
        "flags": flag_names(info.flags, SlotFlag),
        "token": token_info(token) if token is not None else None,
    }


def object_info(obj: Object) -> dict[str, Any]:
    """URI, class, RFC 7512 type, key type and size, label, id (hex), usages and key protection flags."""
    cls = obj.object_class
    out: dict[str, Any] = {
        "uri": str(obj.uri),
        "class": cls.name,
        "type": TYPE_FOR_CLASS.get(int(cls)),
        "label": printable(obj.label),
        "id": obj.id.hex(),
        "key_type": None,
        "key_size": None,
        "usages": [],
    }
    if isinstance(obj, Key):
        out["key_type"] = obj.key_type.name
        out["key_size"] = obj.key_size
        values = obj.get_attributes(_USAGE_ATTRS + _KEY_FLAGS)
        out["usages"] = [a.name.lower() for a in _USAGE_ATTRS if not is_marker(values[a]) and values[a]]
        if cls != ObjectClass.PUBLIC_KEY:
            for attr in _KEY_FLAGS:
                value = values[attr]
                out[attr.name.lower()] = None if is_marker(value) else bool(value)
    return out
