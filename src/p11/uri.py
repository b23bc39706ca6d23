"""RFC 7512 PKCS #11 URIs: parse, format and match, in pure Python.

A PKCS #11 URI names a library, slot, token or object by the values a Cryptoki module reports for them::

    pkcs11:token=My%20Token;object=signing-key;type=private?pin-source=file:/run/pin

:class:`URI` is an immutable, hashable mapping from the RFC's own attribute names to typed values, built
either by :meth:`URI.parse` or from keyword arguments.  It formats back to text with :meth:`URI.format`
(``str(uri)``) and matches the mappings the higher layers build from ``C_GetInfo``, ``C_GetSlotInfo``,
``C_GetTokenInfo`` and object attributes (:meth:`URI.matches_token` and friends, with a ``mismatch_*`` twin
that says what differed).

This module is standalone on purpose: it imports nothing from the rest of p11, so a URI can be checked (for
example in a configuration file) without loading any Cryptoki module.

Decisions, where RFC 7512 leaves room or where we follow p11-kit's ``uri.c``:

* **White space** is ignored wherever it appears (space, tab, CR, LF, VT, FF), as RFC 7512 asks for its
  wrapped examples by way of RFC 3986 appendix C, so a URI wrapped over several lines parses.  p11-kit does
  the same (minus tab and FF).  A space that belongs to a value must therefore be written ``%20``:
  ``token=My Token`` means ``MyToken``.
* The **scheme** is case-insensitive (``PKCS11:`` is accepted, RFC 3986 section 3.1); ``pkcs11:`` is
  written.  **Attribute names** are case-sensitive and lower-case: ``Token=x`` is refused rather than taken
  as a vendor attribute or silently as ``token``.
* **Vendor attributes**: RFC 7512 (final text) lets any name made of letters, digits, ``-`` and ``_`` that
  is not one of its own be a vendor-specific attribute, in the path or in the query (its example uses
  ``vendor-aaa``; the older ``x-`` prefix is allowed but not required).  They are kept as ``str``, in order,
  and round-tripped.  Any other name is an unknown attribute and refused, as is an RFC path attribute
  written in the query, or ``module-name``/``module-path`` in the path.
* **The PIN in the path**: ``pin-value`` and ``pin-source`` are query attributes, but OpenSSL's pkcs11 engine
  documents ``pkcs11:token=T;object=K;type=private;pin-value=1234`` and p11-kit accepts that older form, so they
  are taken in the path too (their value may then hold what a query value may, ``/`` included, but not ``;``
  or ``?``) and written back in the query, where RFC 7512 puts them.
* Every attribute may appear **once** in the whole URI; a repeat (also the same vendor name in path and
  query) is refused, whereas p11-kit keeps the last value.
* Characters: a path value may hold *pk11-pchar* unencoded (RFC 3986 unreserved plus ``:[]@!$'()*+,=&``), a
  query value *pk11-qchar* (unreserved plus ``:[]@!$'()*+,=/?|``); anything else must be percent-encoded and
  is refused raw.  ``%XX`` escapes decode to bytes; ``id`` stays raw bytes, text attributes become ``str``
  (below).  ``slot-id``, ``library-version`` and ``type`` are literal by the ABNF (no escapes).  One
  trailing separator (``pkcs11:serial=1;``) is tolerated, as p11-kit and OpenSSH do; an empty attribute
  elsewhere is refused.
* **Text is bytes.** Tokens carry labels that are not UTF-8 (a Latin-1 label written by ``pkcs11-tool``), so a
  text value is the exact bytes the URI spells: valid UTF-8 decodes as usual, any other byte is kept as a
  surrogate escape (Python's ``surrogateescape``: byte 0xE9 becomes U+DCE9, as ``os.fsdecode`` does for file
  names), and formatting writes the same bytes back (``token=caf%E9``). p11 reads the token's own strings the
  same way, so such a URI matches its token, byte for byte, as p11-kit's would. A ``str`` given as a keyword is
  stored in that canonical form (escapes that spell valid UTF-8 become the characters they spell), so two values
  are equal exactly when their bytes are; a lone surrogate that stands for no byte is refused.
* ``library-version`` is ``M`` or ``M.N`` in decimal, each part a ``CK_BYTE`` (0..255); ``"1"`` means
  ``(1, 0)``.  ``slot-id`` is a decimal ``CK_ULONG`` (0..2**64-1 where ``unsigned long`` is 64 bits).
* Output: ``id`` is always fully percent-encoded; other values encode what they may not hold raw, ``%``
  included, with upper-case hex.  Attributes keep the order they were parsed or given in; equality ignores
  order.
* The **PIN** (``pin-value``) is omitted by ``str(uri)`` and ``format()``, redacted by ``repr``, and never
  appears in an error or mismatch message (not even one character of it).

Matching (RFC 7512's matching guidelines and p11-kit): an attribute absent from the URI matches anything; an
attribute the URI has must be present in the given mapping with an equal value. A key missing from the
mapping (or ``None``) does not match, because nothing proves it would. Vendor path attributes are not
understood by p11, so, as p11-kit does with any unrecognised part, a URI holding one matches nothing unless
the caller puts that vendor key in the mapping. Query attributes never take part in matching. Cryptoki's
blank-padded strings must be given with the trailing spaces already stripped (``label.rstrip(" ")``);
comparison is exact otherwise, on the bytes a text value stands for (a mapping may give them as ``bytes``).
"""

from __future__ import annotations

import difflib
import re
import struct
from collections.abc import Iterator, Mapping
from typing import Final, Literal, NoReturn, TypedDict, Unpack, cast
from urllib.parse import unquote_to_bytes

from p11._exception import URIError

__all__ = [
    "OBJECT_TYPES",
    "PATH_ATTRIBUTES",
    "QUERY_ATTRIBUTES",
    "SLOT_ID_MAX",
    "URI",
    "AttributeValue",
    "ObjectType",
    "URIAttributes",
    "URIError",
    "is_vendor_attribute_name",
]

#: The values of a URI's ``type`` attribute.
ObjectType = Literal["public", "private", "cert", "secret-key", "data"]
#: What a URI attribute holds: text (``str``), exact bytes (``id``, or a label that is not UTF-8), a slot ID
#: (``int``), or a library version (``(major, minor)``).
AttributeValue = str | bytes | int | tuple[int, int]

#: The ``type`` values RFC 7512 defines, in the RFC's order (CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_CERTIFICATE,
#: CKO_SECRET_KEY, CKO_DATA).
OBJECT_TYPES: Final[tuple[ObjectType, ...]] = ("public", "private", "cert", "secret-key", "data")

#: The largest ``slot-id``: a ``CK_SLOT_ID`` is a C ``unsigned long`` on this platform.
SLOT_ID_MAX: Final[int] = 2 ** (8 * struct.calcsize("L")) - 1

# Path attributes in the order a URI built from keywords writes them (library, slot, token, object), with the
# kind of value each holds.
_PATH_KINDS: Final[dict[str, str]] = {
    "library-manufacturer": "text",
    "library-description": "text",
    "library-version": "version",
    "slot-manufacturer": "text",
    "slot-description": "text",
    "slot-id": "slot-id",
    "token": "text",
    "manufacturer": "text",
    "model": "text",
    "serial": "text",
    "object": "text",
    "type": "type",
    "id": "id",
}
#: Every path attribute RFC 7512 defines.
PATH_ATTRIBUTES: Final[tuple[str, ...]] = tuple(_PATH_KINDS)
#: Every query attribute RFC 7512 defines.
QUERY_ATTRIBUTES: Final[tuple[str, ...]] = ("pin-source", "pin-value", "module-name", "module-path")
_STANDARD: Final[frozenset[str]] = frozenset(PATH_ATTRIBUTES + QUERY_ATTRIBUTES)
_PIN: Final = "pin-value"
# Query attributes also taken in the path (the form OpenSSL's pkcs11 engine documents), moved to the query.
_PATH_TOLERATED: Final = frozenset({"pin-value", "pin-source"})

_LIBRARY_SCOPE: Final = ("library-manufacturer", "library-description", "library-version")
_SLOT_SCOPE: Final = ("slot-manufacturer", "slot-description", "slot-id")
_TOKEN_SCOPE: Final = ("token", "manufacturer", "model", "serial")
_OBJECT_SCOPE: Final = ("object", "id", "type")

# Character classes of RFC 7512's ABNF, on top of RFC 3986's "unreserved".
_UNRESERVED: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_RES_AVAIL: Final = ":[]@!$'()*+,="
_PATH_SAFE: Final = frozenset(_UNRESERVED + _RES_AVAIL + "&")  # pk11-pchar minus pct-encoded
_QUERY_SAFE: Final = frozenset(_UNRESERVED + _RES_AVAIL + "/?|")  # pk11-qchar minus pct-encoded
_PATH_PIN_SAFE: Final = _PATH_SAFE | _QUERY_SAFE  # pin-value / pin-source written in the path
_PATH_SAFE_BYTES: Final = frozenset(ord(c) for c in _PATH_SAFE)
_QUERY_SAFE_BYTES: Final = frozenset(ord(c) for c in _QUERY_SAFE)
_NO_SAFE_BYTES: Final[frozenset[int]] = frozenset()
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_WHITESPACE: Final = frozenset(" \t\n\r\v\f")

_NAME_RE: Final = re.compile(r"[A-Za-z0-9_-]+")  # 1*pk11-v-attr-nm-char
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
_DIGITS_RE: Final = re.compile(r"[0-9]+")
_VERSION_RE: Final = re.compile(r"([0-9]+)(?:\.([0-9]+))?")

# Python keyword names (``slot_id``) to RFC names (``slot-id``).
_KEYWORDS: Final[dict[str, str]] = {
    name.replace("-", "_"): name for name in PATH_ATTRIBUTES + QUERY_ATTRIBUTES
}


class URIAttributes(TypedDict, total=False):
    """Keyword arguments of :class:`URI` and :meth:`URI.replace`: the RFC names with ``_`` for ``-``, plus
    ``vendor`` (vendor path attributes) and ``vendor_query`` (vendor query attributes); ``None`` is absent.
    """

    library_manufacturer: str | None
    library_description: str | None
    library_version: tuple[int, int] | str | None
    slot_manufacturer: str | None
    slot_description: str | None
    slot_id: int | None
    token: str | None
    manufacturer: str | None
    model: str | None
    serial: str | None
    object: str | None
    type: ObjectType | None
    id: bytes | bytearray | memoryview | None
    pin_source: str | None
    pin_value: str | None
    module_name: str | None
    module_path: str | None
    vendor: Mapping[str, str | None] | None
    vendor_query: Mapping[str, str | None] | None


def _shorten(text: str, limit: int = 40) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters, for error messages that echo what they refuse."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _percent_encode(data: bytes, safe: frozenset[int]) -> str:
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in data)


def _format_value(value: AttributeValue, safe: frozenset[int]) -> str:
    """The text of one attribute value as it appears in a URI."""
    if isinstance(value, bytes):  # id
        return _percent_encode(value, _NO_SAFE_BYTES)
    if isinstance(value, tuple):  # library-version
        return f"{value[0]}.{value[1]}"
    if isinstance(value, int):  # slot-id
        return str(value)
    return _percent_encode(value.encode("utf-8", "surrogateescape"), safe)


def _show(name: str, value: object) -> str:
    """A value as a mismatch message shows it: ids percent-encoded, versions ``M.N``, text quoted."""
    if isinstance(value, bytes):
        return _percent_encode(value, _NO_SAFE_BYTES) if value else "''"
    if name == "library-version" and isinstance(value, tuple) and len(value) == 2:
        return f"{value[0]}.{value[1]}"
    if isinstance(value, str):
        return _shorten(value, 80)
    return repr(value)


def _classify_name(name: str, component: str) -> str | None:
    """Why ``name`` cannot be an attribute of ``component`` ("path"/"query"), or ``None`` when it can."""
    if name in _STANDARD:
        if component == "path" and name in QUERY_ATTRIBUTES and name not in _PATH_TOLERATED:
            return f"{name} is a query attribute: write it after '?'"
        if component == "query" and name in _PATH_KINDS:
            return f"{name} is a path attribute: write it before '?'"
        return None
    if name.lower() in _STANDARD:
        return f"attribute names are case-sensitive: {name!r} must be written {name.lower()!r}"
    if not _NAME_RE.fullmatch(name):
        return (
            f"unknown attribute {_shorten(name)}: not an RFC 7512 attribute, and a vendor attribute name is "
            "made of letters, digits, '-' and '_' only"
        )
    close = _near_standard(name)
    if close:
        return (
            f"unknown attribute {_shorten(name)}: did you mean {close!r}? "
            "(vendor attributes that look like standard ones must start with 'x-')"
        )
    return None


def _near_standard(name: str) -> str | None:
    """The standard name that ``name`` (not 'x-…') is a near miss of.

    RFC 7512 lets any other name be a vendor attribute (its own example has 'vendor-aaa'), but a near miss of a
    standard name is far likelier a typo that would silently match nothing, so it is refused unless it says 'x-'.
    """
    if name.startswith("x-"):
        return None
    close = difflib.get_close_matches(name, sorted(_STANDARD), n=1, cutoff=0.8)
    return close[0] if close else None


def is_vendor_attribute_name(name: str) -> bool:
    """Whether ``name`` is accepted as a vendor attribute: well formed, not standard, not a near miss of one."""
    return name not in _STANDARD and name.lower() not in _STANDARD and bool(_NAME_RE.fullmatch(name)) and (
        _near_standard(name) is None
    )


def _text_bytes(name: str, value: str) -> bytes:
    """The bytes a text value stands for (see "Text is bytes" in the module docstring)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        bad = exc.start
    # Raised outside the handler, so no exception context keeps the value (it may be a PIN) alive.
    where = "" if name == _PIN else f" (U+{ord(value[bad]):04X} at index {bad})"
    raise URIError(f"{name} holds a lone surrogate{where}, which stands for no byte", attribute=name)


def _canonical_text(name: str, value: str) -> str:
    """``value`` in the one form its bytes decode to, so equal bytes make equal values."""
    return _text_bytes(name, value).decode("utf-8", "surrogateescape")


def _version_from_text(text: str, position: int | None) -> tuple[int, int]:
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        raise URIError(
            f"library-version must be M or M.N in decimal (like 2 or 2.6), got {_shorten(text)}"
            + _where(position),
            position=position,
            attribute="library-version",
        )
    return _version_parts(match.group(1), match.group(2) or "0", position)


def _version_parts(major: str | int, minor: str | int, position: int | None) -> tuple[int, int]:
    parts = []
    for label, part in (("major", major), ("minor", minor)):
        number = part if isinstance(part, int) else _bounded_int(part, 3)
        if number is None or not 0 <= number <= 255:
            raise URIError(
                f"library-version {label} part {_shorten(str(part))} is out of range 0..255 (a CK_BYTE)"
                + _where(position),
                position=position,
                attribute="library-version",
            )
        parts.append(number)
    return parts[0], parts[1]


def _bounded_int(digits: str, max_digits: int) -> int | None:
    """``int(digits)`` for ASCII decimal digits, or ``None`` when it has more than ``max_digits`` significant
    digits (which also keeps huge inputs away from ``int()``'s conversion limit)."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= max_digits else None


def _where(position: int | None) -> str:
    return "" if position is None else f" at offset {position}"


def _coerce(name: str, value: object) -> AttributeValue:
    """Check a keyword value for attribute ``name`` as parsing would; return it in its stored type."""
    kind = _PATH_KINDS.get(name, "text")
    if kind == "text":
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        return _canonical_text(name, value)
    if kind == "id":
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"id must be bytes, not {type(value).__name__}")
        return bytes(value)
    if kind == "slot-id":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"slot-id must be an int, not {type(value).__name__}")
        if not 0 <= value <= SLOT_ID_MAX:
            raise URIError(
                f"slot-id {value} is out of range 0..{SLOT_ID_MAX} (a CK_SLOT_ID)", attribute="slot-id"
            )
        return value
    if kind == "version":
        if isinstance(value, str):
            return _version_from_text(value, None)
        if isinstance(value, tuple | list) and len(value) == 2:
            major, minor = value
            if all(isinstance(p, int) and not isinstance(p, bool) for p in (major, minor)):
                return _version_parts(major, minor, None)
        raise TypeError(f"library-version must be a (major, minor) tuple of ints or 'M.N', not {value!r}")
    # kind == "type"
    if not isinstance(value, str):
        raise TypeError(f"type must be a str, not {type(value).__name__}")
    if value not in OBJECT_TYPES:
        raise URIError(
            f"type must be one of {', '.join(OBJECT_TYPES)}; got {_shorten(value)}", attribute="type"
        )
    return value


def _vendor_items(component: str, vendor: object) -> Iterator[tuple[str, str | None]]:
    """The (name, value) pairs of a ``vendor``/``vendor_query`` keyword, checked; ``None`` values kept."""
    if not isinstance(vendor, Mapping):
        raise TypeError(f"vendor attributes must be a mapping of str to str, not {type(vendor).__name__}")
    for name, value in vendor.items():
        if not isinstance(name, str):
            raise TypeError(f"vendor attribute names must be str, not {type(name).__name__}")
        if name in _STANDARD:
            raise URIError(f"{name} is an RFC 7512 attribute, not a vendor attribute", attribute=name)
        problem = _classify_name(name, component)
        if problem is not None:
            raise URIError(problem, attribute=name)
        if value is not None:
            _coerce(name, value)
        yield name, value


class _Parser:
    """One parse of one text: white space dropped, offsets kept so errors point into the original text."""

    def __init__(self, text: str) -> None:
        kept = [(i, c) for i, c in enumerate(text) if c not in _WHITESPACE]
        self.s = "".join(c for _, c in kept)
        self.offsets = [i for i, _ in kept] + [len(text)]
        self.seen: dict[str, int] = {}

    def at(self, index: int) -> int:
        """The offset in the original text of ``index`` in the white-space-free text."""
        return self.offsets[min(index, len(self.offsets) - 1)]

    def fail(self, message: str, index: int, attribute: str | None = None) -> NoReturn:
        position = self.at(index)
        raise URIError(f"{message} at offset {position}", position=position, attribute=attribute)

    def parse(self) -> URI:
        s = self.s
        colon = s.find(":")
        scheme = s[:colon] if colon >= 0 else ""
        if colon < 0 or not scheme.isascii() or scheme.lower() != "pkcs11":
            if colon > 0 and _SCHEME_RE.fullmatch(scheme):
                self.fail(f"not a PKCS#11 URI: the scheme is {scheme!r}, not 'pkcs11'", 0)
            self.fail("not a PKCS#11 URI: it must start with 'pkcs11:'", 0)
        question = s.find("?", colon + 1)
        path_end = len(s) if question < 0 else question
        path = self.component(colon + 1, path_end, "path")
        query = [] if question < 0 else self.component(question + 1, len(s), "query")
        moved = [item for item in path if item[0] in _PATH_TOLERATED]  # written back in the query
        if moved:
            path = [item for item in path if item[0] not in _PATH_TOLERATED]
        return URI._build(path, moved + query)

    def component(self, start: int, end: int, component: str) -> list[tuple[str, AttributeValue]]:
        separator = ";" if component == "path" else "&"
        items: list[tuple[str, AttributeValue]] = []
        if start == end:
            return items
        segment_start = start
        while True:
            segment_end = self.s.find(separator, segment_start, end)
            last = segment_end < 0
            if last:
                segment_end = end
            if segment_start == segment_end:
                if not (last and items):  # one trailing separator is tolerated
                    self.fail(f"empty {component} attribute (a stray {separator!r})", segment_start)
            else:
                items.append(self.attribute(segment_start, segment_end, component))
            if last:
                return items
            segment_start = segment_end + 1

    def attribute(self, start: int, end: int, component: str) -> tuple[str, AttributeValue]:
        s = self.s
        equals = s.find("=", start, end)
        if equals < 0:
            name = s[start:end]
            shown = f" {name}" if name in _STANDARD else ""
            self.fail(f"{component} attribute{shown} has no '=' and value", start, name if shown else None)
        if equals == start:
            self.fail(f"{component} attribute with an empty name", start)
        name = s[start:equals]
        problem = _classify_name(name, component)
        if problem is not None:
            self.fail(problem, start, name if _NAME_RE.fullmatch(name) else None)
        if name in self.seen:
            self.fail(
                f"attribute {name} is repeated (first at offset {self.at(self.seen[name])})", start, name
            )
        self.seen[name] = start
        return name, self.value(name, equals + 1, end, component)

    def value(self, name: str, start: int, end: int, component: str) -> AttributeValue:
        raw = self.s[start:end]
        kind = _PATH_KINDS.get(name, "text") if component == "path" else "text"
        if kind == "slot-id":
            if not _DIGITS_RE.fullmatch(raw):
                self.fail(f"slot-id must be a decimal number, got {_shorten(raw)}", start, name)
            number = _bounded_int(raw, 20)
            if number is None or number > SLOT_ID_MAX:
                self.fail(
                    f"slot-id {_shorten(raw)} is out of range 0..{SLOT_ID_MAX} (a CK_SLOT_ID)", start, name
                )
            return number
        if kind == "version":
            return _version_from_text(raw, self.at(start))
        if kind == "type":
            if raw not in OBJECT_TYPES:
                self.fail(f"type must be one of {', '.join(OBJECT_TYPES)}; got {_shorten(raw)}", start, name)
            return raw
        safe = _QUERY_SAFE if component == "query" else _PATH_PIN_SAFE if name in _PATH_TOLERATED else _PATH_SAFE
        self.check_characters(name, start, end, safe, component)
        data = unquote_to_bytes(raw)
        if kind == "id":
            return data
        return data.decode("utf-8", "surrogateescape")

    def check_characters(self, name: str, start: int, end: int, safe: frozenset[str], component: str) -> None:
        s = self.s
        secret = name == _PIN
        i = start
        while i < end:
            c = s[i]
            if c == "%":
                escape = s[i : min(i + 3, end)]
                if len(escape) < 3 or escape[1] not in _HEX or escape[2] not in _HEX:
                    shown = "" if secret else f" {escape!r}"
                    self.fail(
                        f"bad percent-escape{shown} in the value of {name}: "
                        "'%' must be followed by two hex digits",
                        i,
                        name,
                    )
                i += 3
                continue
            if c not in safe:
                if secret:
                    self.fail(f"the value of {name} holds a character that must be percent-encoded", i, name)
                try:
                    raw = c.encode("utf-8", "surrogateescape")  # a surrogate escape: the byte it stands for
                except UnicodeEncodeError:
                    raw = c.encode("utf-8", "surrogatepass")
                encoded = _percent_encode(raw, _NO_SAFE_BYTES)
                self.fail(
                    f"character {c!r} must be percent-encoded as {encoded} in a {component} value ({name})",
                    i,
                    name,
                )
            i += 1


class URI(Mapping[str, AttributeValue]):
    """An RFC 7512 PKCS #11 URI: an immutable mapping from the RFC's attribute names to typed values.

    ``uri["token"]`` and the other text attributes are ``str`` (bytes that are not UTF-8 as surrogate escapes:
    ``uri["token"].encode("utf-8", "surrogateescape")`` is the exact bytes); ``uri["id"]`` is ``bytes``;
    ``uri["slot-id"]`` an ``int``; ``uri["library-version"]`` a ``(major, minor)`` tuple; ``uri["type"]``
    one of :data:`OBJECT_TYPES`; query and vendor attributes are ``str``.  Iteration yields the names
    present, path first, in URI order.  A URI is always true, even ``pkcs11:`` (which has no attribute and
    matches everything).

    Build one with :meth:`parse` or with keywords (``-`` becomes ``_``); the PIN is left out unless asked for:

    >>> uri = URI(token="My Token", object="k", type="private", id=b"\\x01", slot_id=3, library_version=(1, 2),
    ...           pin_value="1234", module_path="/usr/lib/softhsm/libsofthsm2.so", vendor={"x-foo": "bar"})
    >>> print(uri)
    pkcs11:library-version=1.2;slot-id=3;token=My%20Token;object=k;type=private;id=%01;x-foo=bar?module-path=/usr/lib/softhsm/libsofthsm2.so
    >>> uri["token"], uri["id"], uri == URI.parse(uri.format(include_pin=True))
    ('My Token', b'\\x01', True)

    ``vendor`` holds vendor path attributes, ``vendor_query`` vendor query attributes.  Keyword values are
    checked as parsing checks text: a wrong value raises :class:`URIError`, a wrong type :class:`TypeError`.
    """

    __slots__ = ("_hash", "_index", "_path", "_query")

    _path: tuple[tuple[str, AttributeValue], ...]
    _query: tuple[tuple[str, str], ...]
    _index: dict[str, AttributeValue]
    _hash: int

    def __init__(self, **attributes: Unpack[URIAttributes]) -> None:
        given: dict[str, object] = dict(attributes)
        path: list[tuple[str, AttributeValue]] = []
        query: list[tuple[str, AttributeValue]] = []
        for keyword in given:
            if keyword not in _KEYWORDS and keyword not in ("vendor", "vendor_query"):
                raise TypeError(f"URI() got an unexpected keyword argument {keyword!r}")
        for keyword, name in _KEYWORDS.items():
            value = given.get(keyword)
            if value is not None:
                (path if name in _PATH_KINDS else query).append((name, _coerce(name, value)))
        for keyword, component, target in (("vendor", "path", path), ("vendor_query", "query", query)):
            vendor = given.get(keyword)
            if vendor is not None:
                target.extend((n, v) for n, v in _vendor_items(component, vendor) if v is not None)
        self._setup(path, query)

    # -- construction --------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> URI:
        """Parse ``text`` as a PKCS #11 URI; :class:`URIError` says what is wrong and at which offset."""
        if not isinstance(text, str):
            raise TypeError(f"URI.parse() takes a str, not {type(text).__name__}")
        return _Parser(text).parse()

    @classmethod
    def _build(cls, path: list[tuple[str, AttributeValue]], query: list[tuple[str, AttributeValue]]) -> URI:
        uri = cls.__new__(cls)
        uri._setup(path, query)
        return uri

    def _setup(self, path: list[tuple[str, AttributeValue]], query: list[tuple[str, AttributeValue]]) -> None:
        names = [n for n, _ in path] + [n for n, _ in query]
        if len(set(names)) != len(names):
            repeated = next(n for n in names if names.count(n) > 1)
            raise URIError(f"attribute {repeated} appears in both the path and the query", attribute=repeated)
        set_ = object.__setattr__
        set_(self, "_path", tuple(path))
        set_(self, "_query", tuple(cast("list[tuple[str, str]]", query)))
        set_(self, "_index", dict(path + query))
        set_(self, "_hash", hash((frozenset(path), frozenset(query))))

    def replace(self, **changes: Unpack[URIAttributes]) -> URI:
        """A copy with the given attributes set, or removed where the value is ``None``.

        ``vendor``/``vendor_query`` merge into the existing vendor attributes (a ``None`` value removes that
        one; ``vendor=None`` removes all vendor path attributes).  Changed attributes keep their place; new
        ones go last.
        """
        path: dict[str, AttributeValue] = dict(self._path)
        query: dict[str, AttributeValue] = dict(self._query)
        for keyword, value in cast("dict[str, object]", changes).items():
            if keyword in ("vendor", "vendor_query"):
                target, component = (path, "path") if keyword == "vendor" else (query, "query")
                if value is None:
                    for name in [n for n in target if n not in _STANDARD]:
                        del target[name]
                    continue
                for vendor_name, vendor_value in _vendor_items(component, value):
                    if vendor_value is None:
                        target.pop(vendor_name, None)
                    else:
                        target[vendor_name] = vendor_value
                continue
            rfc_name = _KEYWORDS.get(keyword)
            if rfc_name is None:
                raise TypeError(f"replace() got an unexpected keyword argument {keyword!r}")
            target = path if rfc_name in _PATH_KINDS else query
            if value is None:
                target.pop(rfc_name, None)
            else:
                target[rfc_name] = _coerce(rfc_name, value)
        return URI._build(list(path.items()), list(query.items()))

    # -- formatting --------------------------------------------------------------------------------

    def format(self, *, include_pin: bool = False) -> str:
        """The URI as text.  ``pin-value`` is left out unless ``include_pin`` is true."""
        return self._format(pin="include" if include_pin else "omit")

    def _format(self, *, pin: Literal["include", "omit", "redact"]) -> str:
        path = ";".join(f"{n}={_format_value(v, _PATH_SAFE_BYTES)}" for n, v in self._path)
        query_parts = []
        for name, value in self._query:
            if name == _PIN and pin != "include":
                if pin == "redact":
                    query_parts.append(f"{_PIN}=<redacted>")
                continue
            query_parts.append(f"{name}={_format_value(value, _QUERY_SAFE_BYTES)}")
        return "pkcs11:" + path + ("?" + "&".join(query_parts) if query_parts else "")

    def __str__(self) -> str:
        return self._format(pin="omit")

    def __repr__(self) -> str:
        return f"URI({self._format(pin='redact')!r})"

    # -- mapping -----------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> AttributeValue:
        return self._index[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __bool__(self) -> bool:
        return True

    def path_attributes(self) -> dict[str, AttributeValue]:
        """The path attributes (what the URI selects), RFC names to values, in URI order."""
        return dict(self._path)

    def query_attributes(self) -> dict[str, str]:
        """The query attributes (how to get there: PIN, module), RFC names to values, in URI order.

        This holds ``pin-value`` when the URI has one: it is data for the caller, not for a log line.
        """
        return dict(self._query)

    # -- value semantics ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, URI):
            return NotImplemented
        return (
            self._hash == other._hash
            and frozenset(self._path) == frozenset(other._path)
            and frozenset(self._query) == frozenset(other._query)
        )

    def __hash__(self) -> int:
        return self._hash

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("URI is immutable; use replace() to make a changed copy")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("URI is immutable; use replace() to make a changed copy")

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (URI.parse, (self.format(include_pin=True),))

    def __copy__(self) -> URI:
        return self

    def __deepcopy__(self, memo: object) -> URI:
        return self

    # -- matching ----------------------------------------------------------------------------------

    def matches_library(self, info: Mapping[str, object]) -> bool:
        """Whether ``info`` (library-manufacturer, library-description, library-version) matches."""
        return self.mismatch_library(info) is None

    def matches_slot(self, info: Mapping[str, object]) -> bool:
        """Whether ``info`` (``slot-manufacturer``, ``slot-description``, ``slot-id``) matches."""
        return self.mismatch_slot(info) is None

    def matches_token(self, info: Mapping[str, object]) -> bool:
        """Whether ``info`` (``token``, ``manufacturer``, ``model``, ``serial``) matches."""
        return self.mismatch_token(info) is None

    def matches_object(self, attrs: Mapping[str, object]) -> bool:
        """Whether ``attrs`` (``object``, ``id``, ``type``) matches."""
        return self.mismatch_object(attrs) is None

    def mismatch_library(self, info: Mapping[str, object]) -> str | None:
        """The first library attribute of this URI that ``info`` does not match, as a sentence, or ``None``.

        ``library-version`` may be given as a ``(major, minor)`` pair or as anything with ``major`` and
        ``minor`` attributes (a ``CK_VERSION``).
        """
        return self._mismatch(_LIBRARY_SCOPE, "library", info)

    def mismatch_slot(self, info: Mapping[str, object]) -> str | None:
        """The first slot attribute of this URI that ``info`` does not match, as a sentence, or ``None``."""
        return self._mismatch(_SLOT_SCOPE, "slot", info)

    def mismatch_token(self, info: Mapping[str, object]) -> str | None:
        """The first token attribute of this URI that ``info`` does not match, e.g. ``"token='abc' (token has
        'xyz')"``, or ``None`` when it matches."""
        return self._mismatch(_TOKEN_SCOPE, "token", info)

    def mismatch_object(self, attrs: Mapping[str, object]) -> str | None:
        """The first object attribute of this URI that ``attrs`` does not match, as a sentence, or ``None``.

        ``type`` must be given as one of :data:`OBJECT_TYPES`, ``id`` as bytes.
        """
        return self._mismatch(_OBJECT_SCOPE, "object", attrs)

    def _mismatch(self, scope: tuple[str, ...], subject: str, info: Mapping[str, object]) -> str | None:
        for name, wanted in self._path:
            vendor = name not in _PATH_KINDS
            if not vendor and name not in scope:
                continue
            actual = info.get(name)
            if actual is None:
                if vendor:
                    return self._vendor_mismatch(name, wanted, subject)
                return f"{name}={_show(name, wanted)} ({subject} has no {name})"
            actual = _normalise(name, actual)
            if actual != wanted:
                return f"{name}={_show(name, wanted)} ({subject} has {_show(name, actual)})"
        return None

    @staticmethod
    def _vendor_mismatch(name: str, wanted: AttributeValue, subject: str) -> str:
        hint = difflib.get_close_matches(name, PATH_ATTRIBUTES, n=1)
        guess = f"; did you mean {hint[0]}?" if hint else ""
        return (
            f"{name}={_show(name, wanted)} (a vendor attribute p11 does not understand, so the URI "
            f"matches no {subject}{guess})"
        )


def _normalise(name: str, value: object) -> object:
    """A value from a caller's mapping in the type the URI stores, so ``==`` compares like with like."""
    if name == "id" and isinstance(value, bytearray | memoryview):
        return bytes(value)
    if _PATH_KINDS.get(name, "text") == "text":  # text is compared as the bytes it stands for
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8", "surrogateescape")
        if isinstance(value, str):
            try:
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                return value  # stands for no bytes: equal to nothing the URI holds
    if name == "library-version":
        if hasattr(value, "major") and hasattr(value, "minor"):
            return (value.major, value.minor)
        if isinstance(value, list):
            return tuple(value)
    return value
