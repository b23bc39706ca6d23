"""The RFC 7512 URI of a loaded library, a slot, a token or an object: what ``token.uri`` and ``obj.uri`` say.

:mod:`p11.uri` parses and matches URIs without loading anything; this module goes the other way, from the values a
module reports (``C_GetInfo``, ``C_GetSlotInfo``, ``C_GetTokenInfo``, an object's ``CKA_CLASS``/``CKA_LABEL``/
``CKA_ID``) to the mappings the URI matchers take and to :class:`~p11.uri.URI` objects.

What a URI holds, by default (the shape p11-kit and GnuTLS's ``p11tool`` print, so URIs move between tools):

* a token: ``token`` (the label), ``manufacturer``, ``model``, ``serial``;
* an object: its token's attributes plus ``object`` (``CKA_LABEL``), ``type`` (from ``CKA_CLASS``) and ``id``
  (``CKA_ID``).

``slot-id`` is left out unless asked for (``include_slot=True``): modules renumber slots (SoftHSM does whenever a
token is initialised), so a URI that names a slot id stops working when nothing else changed. The ``library-*``
attributes and ``module-path`` are also opt-in (``include_library``, ``include_module``): a URI that should survive
a move to another machine names the module by ``module-name`` or leaves it to the reader. Empty values (an object
without a label, a token with a blank model) are left out rather than written as ``object=``, which would
select only objects whose label is empty.

No URI built here holds a PIN unless one is passed in (``pin_value=``), and even then ``str(uri)`` leaves it out:
only ``uri.format(include_pin=True)`` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from p11.constants import Attribute, ObjectClass
from p11.encodings.attributes import is_marker
from p11.lowlevel.types import TokenInfo
from p11.uri import URI, ObjectType

if TYPE_CHECKING:
    from p11.interfaces import LibraryLike, ObjectLike, SlotLike, TokenLike
    from p11.lowlevel.types import Info, SlotInfo

__all__ = [
    "CLASS_FOR_TYPE",
    "TYPE_FOR_CLASS",
    "library_attributes",
    "object_attributes",
    "slot_attributes",
    "token_attributes",
    "uri_for_library",
    "uri_for_object",
    "uri_for_slot",
    "uri_for_token",
]

#: RFC 7512 ``type`` values and the ``CKO_*`` class each names.
CLASS_FOR_TYPE: Final[Mapping[ObjectType, ObjectClass]] = {
    "public": ObjectClass.PUBLIC_KEY,
    "private": ObjectClass.PRIVATE_KEY,
    "cert": ObjectClass.CERTIFICATE,
    "secret-key": ObjectClass.SECRET_KEY,
    "data": ObjectClass.DATA,
}
#: The ``type`` for each class that has one (other classes, such as ``CKO_HW_FEATURE``, have no URI type).
TYPE_FOR_CLASS: Final[Mapping[int, ObjectType]] = {int(c): t for t, c in CLASS_FOR_TYPE.items()}


# -- mappings the URI matchers take (RFC names → values) ---------------------------------------------------------


def library_attributes(info: Info) -> dict[str, Any]:
    """``library-manufacturer``, ``library-description``, ``library-version`` from a ``CK_INFO``."""
    return {
        "library-manufacturer": info.manufacturer_id,
        "library-description": info.library_description,
        "library-version": (info.library_version.major, info.library_version.minor),
    }


def slot_attributes(slot_id: int, info: SlotInfo) -> dict[str, Any]:
    """``slot-manufacturer``, ``slot-description``, ``slot-id`` from a slot id and its ``CK_SLOT_INFO``."""
    return {
        "slot-manufacturer": info.manufacturer_id,
        "slot-description": info.slot_description,
        "slot-id": int(slot_id),
    }


def token_attributes(info: TokenInfo | TokenLike) -> dict[str, Any]:
    """``token``, ``manufacturer``, ``model``, ``serial`` from a ``CK_TOKEN_INFO`` or a :class:`~p11.Token`
    (whose values were read when it was found)."""
    if isinstance(info, TokenInfo):
        return {
            "token": info.label,
            "manufacturer": info.manufacturer_id,
            "model": info.model,
            "serial": info.serial_number,
        }
    return {"token": info.label, "manufacturer": info.manufacturer, "model": info.model, "serial": info.serial}


def object_attributes(obj: ObjectLike) -> dict[str, Any]:
    """``object``, ``id``, ``type`` of a token object, read in one call; an attribute the object lacks (a data
    object has no ``CKA_ID``) or hides is left out, and so is ``type`` for a class RFC 7512 has no name for."""
    values = obj.get_attributes((Attribute.CLASS, Attribute.LABEL, Attribute.ID))
    out: dict[str, Any] = {}
    label = values[Attribute.LABEL]
    if not is_marker(label):
        out["object"] = str(label)
    ident = values[Attribute.ID]
    if not is_marker(ident):
        out["id"] = bytes(ident)
    cls = values[Attribute.CLASS]
    if not is_marker(cls) and int(cls) in TYPE_FOR_CLASS:
        out["type"] = TYPE_FOR_CLASS[int(cls)]
    return out


# -- URIs --------------------------------------------------------------------------------------------------------


def _present(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """URI keywords (``-`` → ``_``) for the non-empty values."""
    return {name.replace("-", "_"): value for name, value in attrs.items() if value not in ("", b"", None)}


def _module_keywords(library: LibraryLike, include_library: bool, include_module: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if include_library:
        out.update(_present(library_attributes(library.info)))
    if include_module:
        out["module_path"] = library.path
    return out


def uri_for_library(library: LibraryLike, *, include_module: bool = False) -> URI:
    """The URI of a loaded module: its ``library-*`` attributes (and ``module-path`` if asked)."""
    return URI(**_module_keywords(library, True, include_module))


def uri_for_slot(slot: SlotLike, *, include_library: bool = False, include_module: bool = False) -> URI:
    """The URI of a slot: ``slot-manufacturer``, ``slot-description``, ``slot-id``."""
    keywords = _module_keywords(slot.library, include_library, include_module)
    keywords.update(_present(slot_attributes(slot.id, slot.info)))
    return URI(**keywords)


def uri_for_token(
    token: TokenLike,
    *,
    include_library: bool = False,
    include_slot: bool = False,
    include_module: bool = False,
    pin_value: str | None = None,
) -> URI:
    """The URI of a token: ``token``, ``manufacturer``, ``model``, ``serial`` (see the module docstring for the
    options). ``pin_value`` adds that PIN, which ``str()`` still leaves out."""
    keywords = _module_keywords(token.library, include_library, include_module)
    if include_slot:
        keywords["slot_id"] = token.slot.id
    keywords.update(_present(token_attributes(token)))
    if pin_value is not None:
        keywords["pin_value"] = pin_value
    return URI(**keywords)


def uri_for_object(
    obj: ObjectLike,
    *,
    include_token: bool = True,
    include_library: bool = False,
    include_slot: bool = False,
    include_module: bool = False,
    pin_value: str | None = None,
) -> URI:
    """The URI of a token object: its token's URI (unless ``include_token=False``) plus ``object``, ``type`` and
    ``id``. ``pin_value`` adds that PIN, which ``str()`` still leaves out; without it the URI names no PIN, so
    opening a private object from it needs the PIN from elsewhere (``p11.open(uri, pin=...)``)."""
    token = obj.session.token
    keywords = _module_keywords(token.library, include_library, include_module)
    if include_slot:
        keywords["slot_id"] = token.slot.id
    if include_token:
        keywords.update(_present(token_attributes(token)))
    keywords.update(_present(object_attributes(obj)))
    if pin_value is not None:
        keywords["pin_value"] = pin_value
    return URI(**keywords)
