"""Python values to Cryptoki arguments and back: buffers, PINs, mechanisms, templates, and two-call outputs.

Everything a call needs is built here as cffi cdata that owns (or pins) its memory, so it lives exactly as long as
the Python objects holding it: callers keep the returned ``keep`` objects referenced until the call returns.
Templates are raw and 1:1 (``bytes``/``bool``/``int``/``str`` values, no attribute-aware codec: that is the job of
the layers above). Error messages name argument kinds and types, never values, so PINs and key material cannot leak
through them.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias, TypeVar

from p11._cffi import ffi, lib
from p11.constants import Mechanism
from p11.errors import error_class

__all__ = [
    "CK_ULONG_MAX",
    "MAX_RANDOM_BYTES",
    "MAX_TEMPLATE_DEPTH",
    "AttributeValue",
    "BytesLike",
    "Mech",
    "MechanismLike",
    "Template",
    "check_template_depth",
    "data_in",
    "fetch",
    "fetch_ulongs",
    "mechanism",
    "param_in",
    "pin_in",
    "raise_for",
    "size_arg",
    "template",
    "template_path",
    "ulong_args",
]

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""Any object with the buffer protocol is accepted where this is asked for; these are the usual ones."""

AttributeValue: TypeAlias = "bytes | bytearray | memoryview | bool | int | str | Template"
Template: TypeAlias = "Mapping[int, AttributeValue] | Iterable[tuple[int, AttributeValue]]"
MechanismLike: TypeAlias = "int | Mech | Any"

NULL = ffi.NULL
CKR_OK = int(lib.CKR_OK)
CKR_BUFFER_TOO_SMALL = int(lib.CKR_BUFFER_TOO_SMALL)

_BYTES_T = ffi.typeof("CK_BYTE[]")
_ULONG_P = ffi.typeof("CK_ULONG *")
_ULONG_A = ffi.typeof("CK_ULONG[]")
_MECH_P = ffi.typeof("CK_MECHANISM *")
_ATTR_A = ffi.typeof("CK_ATTRIBUTE[]")
_ULONG_SIZE = ffi.sizeof("CK_ULONG")
_ATTR_SIZE = ffi.sizeof("CK_ATTRIBUTE")
# An empty template is passed as a valid pointer with a count of 0, never NULL_PTR: SoftHSM (and others) answer
# CKR_ARGUMENTS_BAD to a NULL template even when the count is 0.
_EMPTY_TEMPLATE = ffi.new("CK_ATTRIBUTE[1]")
_TRUE = ffi.new("CK_BBOOL *", 1)  # shared, read-only to every module: template values are inputs
_FALSE = ffi.new("CK_BBOOL *", 0)

CK_ULONG_MAX = (1 << (8 * _ULONG_SIZE)) - 1

# The most random bytes one C_GenerateRandom call is asked for (here and in p11._native): a size that is a mistake
# (2**40) is a ValueError, not a terabyte allocation. Ask again for more.
MAX_RANDOM_BYTES = 16 * 1024 * 1024

# How deep templates may nest (CKA_WRAP_TEMPLATE inside CKA_DERIVE_TEMPLATE inside ...): real ones nest one or two
# levels; the bound turns a self-containing or absurdly deep template into a ValueError instead of a C stack
# overflow. The native Template builder (p11._native) uses the same bound.
MAX_TEMPLATE_DEPTH = 8

# How many times an output-producing call is retried when the module answers CKR_BUFFER_TOO_SMALL to a buffer of
# the size it asked for itself (a module whose output grows between the two calls, e.g. a slot list).
_MAX_RETRIES = 8
# The largest output a module may ask for (one call's result held in memory): a larger size is a broken or
# corrupted reply, answered with a MemoryError that says so rather than an attempt to allocate it.
MAX_OUTPUT = 1 << 30


def raise_for(rv: int, function: str, detail: str | None = None) -> None:
    """Raise the typed exception for a failed call (``rv`` is never ``CKR_OK`` here)."""
    raise error_class(rv)(rv, function, detail)


def size_arg(value: Any, what: str, minimum: int = 0, maximum: int = CK_ULONG_MAX) -> int:
    """``value`` as an int in ``[minimum, maximum]``, else TypeError/ValueError naming the argument ``what``.

    The one check for every integer argument that becomes a size (``malloc``), a count or a ``CK_ULONG``: an
    out-of-range value must never reach C as a wrapped-around or truncated number, nor surface as OverflowError
    or MemoryError. The native layer calls this on its slow path, so the messages are the same everywhere."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None
    if not minimum <= number <= maximum:
        raise ValueError(f"{what} must be between {minimum} and {maximum}, not {number}")
    return number


_F = TypeVar("_F", bound=Callable[..., Any])
_C = TypeVar("_C", bound=type)


def _ulong_guard(fn: _F) -> _F:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OverflowError:
            bound = signature.bind_partial(*args, **kwargs)
            for name, value in bound.arguments.items():
                if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= CK_ULONG_MAX:
                    size_arg(value, name)
            raise ValueError(f"{fn.__name__}: an integer argument does not fit a CK_ULONG") from None

    return call  # type: ignore[return-value]


def ulong_args(cls: _C) -> _C:
    """Class decorator for the 1:1 function classes: an int argument a ``CK_ULONG`` cannot carry (a handle of
    ``2**70``, a negative slot id) raises ValueError naming the argument, not cffi's OverflowError."""
    for name, fn in list(vars(cls).items()):
        if name.startswith("C_") and callable(fn):
            setattr(cls, name, _ulong_guard(fn))
    return cls


def data_in(data: Any, what: str = "data") -> tuple[Any, int]:
    """``(pointer, length)`` for any bytes-like input; ``bytes`` is passed through without a copy."""
    if type(data) is bytes:
        return data, len(data)
    try:
        buf = ffi.from_buffer(_BYTES_T, data)
    except TypeError:
        raise TypeError(f"{what} must be a bytes-like object, not {type(data).__name__}") from None
    except BufferError:
        copy = memoryview(data).tobytes()  # not contiguous (a strided memoryview): pass a contiguous copy
        return copy, len(copy)
    return buf, len(buf)


def pin_bytes(pin: str | bytes | bytearray | memoryview, what: str = "PIN") -> bytes:
    """The bytes Cryptoki is given for a PIN, the one rule for every place that hands one over or compares one:
    ``str`` as UTF-8, its surrogate escapes as the bytes they stand for (a PIN that is not UTF-8, read from a URI's
    ``pin-value`` or from the environment, keeps its bytes), bytes-like as is. So ``"1234"`` and ``b"1234"`` are one
    PIN. A ``str`` holding a surrogate that stands for no byte raises ``ValueError``; no error holds any of the
    PIN, not even in its exception context."""
    if isinstance(pin, str):
        try:
            return pin.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            pass  # raised below, outside the handler: the UnicodeEncodeError would carry the whole PIN
        raise ValueError(f"the {what} holds a lone surrogate, which stands for no byte: give it as bytes")
    if isinstance(pin, bytes | bytearray | memoryview):
        return bytes(pin)
    raise TypeError(f"{what} must be str or bytes, not {type(pin).__name__}")


def pin_in(pin: str | bytes | None, what: str = "PIN") -> tuple[Any, int]:
    """A PIN as ``(pointer, length)``: ``str`` as :func:`pin_bytes` says, ``None`` is ``NULL_PTR`` (protected
    authentication path)."""
    if pin is None:
        return NULL, 0
    if isinstance(pin, str):
        raw = pin_bytes(pin, what)
        return raw, len(raw)
    if isinstance(pin, (bytes, bytearray, memoryview)):
        return data_in(pin, what)
    raise TypeError(f"{what} must be str, bytes or None, not {type(pin).__name__}")


def _cdata_param(param: Any) -> tuple[Any, int]:
    """A cdata parameter block: a pointer to a struct (its size is the struct's) or an array (its whole size)."""
    ctype = ffi.typeof(param)
    if ctype.kind == "array":
        return ffi.cast("void *", param), ffi.sizeof(param)
    if ctype.kind == "pointer" and ctype.item.kind in ("struct", "union", "primitive", "array"):
        if param == NULL:
            return NULL, 0
        return ffi.cast("void *", param), ffi.sizeof(ctype.item)
    raise TypeError(f"a parameter cdata must point to a struct or be an array, not {ctype.cname!r}")


def param_in(param: Any, *, writable: bool = False) -> tuple[Any, int, Any]:
    """``(void pointer, length, owner)`` for a mechanism or message parameter.

    ``bytes``-like values are the raw parameter block; a cffi cdata pointer to a parameter struct (or a cdata array)
    is passed by address. With ``writable`` (message functions may write back into their parameter, e.g. a
    generated IV), read-only ``bytes`` are copied so the module never writes into an immutable object.
    """
    if param is None:
        return NULL, 0, None
    if isinstance(param, ffi.CData):
        ptr, size = _cdata_param(param)
        return ptr, size, param
    if writable and isinstance(param, bytes):
        if not param:
            return NULL, 0, None
        copy = ffi.new(_BYTES_T, len(param))
        ffi.memmove(copy, param, len(param))
        return ffi.cast("void *", copy), len(param), copy
    ptr, size = data_in(param, "mechanism parameter")
    if type(ptr) is bytes:
        ptr = ffi.from_buffer(_BYTES_T, ptr)
    return ffi.cast("void *", ptr), size, ptr


class Mech:
    """A mechanism with a parameter: ``Mech(CKM_AES_CBC_PAD, iv)`` or ``Mech(CKM_ECDH1_DERIVE, params_cdata)``.

    ``param`` is the raw parameter block (``bytes``-like) or a cffi cdata pointer to a parameter struct (its size
    is taken from the struct type). ``keep`` holds anything the parameter points into (an IV buffer referenced by a
    struct, say) alive as long as this object. The ``CK_MECHANISM`` is built once, on first use, and reused: a
    ``Mech`` can be passed to many calls cheaply. Mechanisms without a parameter are passed as plain ``int``.
    """

    __slots__ = ("_c", "_keep", "param", "type")

    def __init__(self, type: int, param: Any = None, *, keep: Any = ()) -> None:
        self.type = int(type)
        self.param = param
        self._keep = keep
        self._c: Any = None

    def cdata(self) -> Any:
        """The ``CK_MECHANISM *`` for this mechanism (built on first use, then cached)."""
        c = self._c
        if c is None:
            ptr, size, owner = param_in(self.param)
            c = ffi.new(_MECH_P)
            c.mechanism = self.type
            c.pParameter = ptr
            c.ulParameterLen = size
            self._keep = (self._keep, owner)
            self._c = c
        return c

    def __repr__(self) -> str:
        name = Mechanism(self.type).name
        if self.param is None:
            return f"Mech({name})"
        # Parameters may hold secrets (a PBKDF password, a key-derivation salt): show only their shape.
        if isinstance(self.param, ffi.CData):
            return f"Mech({name}, <{ffi.typeof(self.param).cname}>)"
        return f"Mech({name}, <{len(memoryview(self.param).cast('B'))} bytes>)"


# CK_MECHANISMs for parameterless mechanisms, one per type, built on first use and shared: modules only read them.
_PLAIN_MECHS: dict[int, Any] = {}


def mechanism(mech: Any) -> Any:
    """A ``CK_MECHANISM *`` for an ``int`` mechanism type, a :class:`Mech`, or a ready ``CK_MECHANISM *`` cdata."""
    if isinstance(mech, int):
        c = _PLAIN_MECHS.get(mech)
        if c is None:
            c = ffi.new(_MECH_P)
            c.mechanism = size_arg(mech, "mechanism")
            if len(_PLAIN_MECHS) < 4096:
                _PLAIN_MECHS[int(mech)] = c
        return c
    if isinstance(mech, Mech):
        return mech._c if mech._c is not None else mech.cdata()
    if isinstance(mech, ffi.CData) and ffi.typeof(mech) is _MECH_P:
        return mech
    # A prepared p11._native.Mechanism (what p11.mechanisms' parameter objects build): its CK_MECHANISM by address.
    # Imported here, not above: p11._native imports this module as it starts. The caller holds the mechanism for
    # the call, and with it the parameter the address points into.
    from p11._native import Mechanism as _Native

    if isinstance(mech, _Native):
        return ffi.cast(_MECH_P, mech.address)
    raise TypeError(
        "mechanism must be an int, a lowlevel.Mech, a p11._native.Mechanism or a CK_MECHANISM * cdata, not "
        f"{type(mech).__name__}"
    )


def check_template_depth(depth: int) -> None:
    """ValueError when a template nested ``depth`` levels deep would get a nested template of its own."""
    if depth >= MAX_TEMPLATE_DEPTH:
        raise ValueError(f"templates nest at most {MAX_TEMPLATE_DEPTH} levels deep (CKA_WRAP_TEMPLATE and friends)")


def template_path(tmpl: Any, path: tuple[int, ...]) -> tuple[int, ...]:
    """Called when ``tmpl`` (enclosed by the templates whose ids are ``path``) holds a nested template: the path
    of that nested one, or ValueError when ``tmpl`` contains itself (a cycle) or the nesting would be deeper than
    :data:`MAX_TEMPLATE_DEPTH`. The one check every template builder makes before it descends (this module's and
    ``p11._native.Template``), so a self-containing or absurdly deep template never overflows the C stack."""
    if id(tmpl) in path:
        raise ValueError("a template contains itself (a nested template refers back to an enclosing one)")
    check_template_depth(len(path))
    return (*path, id(tmpl))


def _value(value: Any, keep: list[Any]) -> tuple[Any, int]:
    if value is True:
        return _TRUE, 1
    if value is False:
        return _FALSE, 1
    if isinstance(value, bytes):
        buf = ffi.from_buffer(_BYTES_T, value)
        keep.append(buf)
        return buf, len(value)
    if isinstance(value, int):
        c = ffi.new(_ULONG_P, size_arg(value, "an int attribute value"))
        keep.append(c)
        return c, _ULONG_SIZE
    if isinstance(value, str):
        raw = value.encode("utf-8")
        buf = ffi.from_buffer(_BYTES_T, raw)
        keep.append(buf)
        return buf, len(raw)
    try:
        buf = ffi.from_buffer(_BYTES_T, value)
    except TypeError:
        raise TypeError(
            "attribute value must be bytes, bool, int, str or a nested template, not " + type(value).__name__
        ) from None
    keep.append(buf)
    return buf, len(buf)


def _build(tmpl: Any, keep: list[Any], path: tuple[int, ...] = ()) -> tuple[Any, int]:
    items = list(tmpl.items()) if isinstance(tmpl, Mapping) else list(tmpl)
    if not items:
        return _EMPTY_TEMPLATE, 0
    arr = ffi.new(_ATTR_A, len(items))
    keep.append(arr)
    for i, item in enumerate(items):
        try:
            kind, value = item
        except (TypeError, ValueError):
            raise TypeError("a template is a mapping or an iterable of (attribute type, value) pairs") from None
        attr = arr[i]
        attr.type = size_arg(kind, "an attribute type")
        if isinstance(value, (Mapping, list, tuple)):
            nested, count = _build(value, keep, template_path(tmpl, path))
            attr.pValue, attr.ulValueLen = nested, count * _ATTR_SIZE
        else:
            attr.pValue, attr.ulValueLen = _value(value, keep)
    return arr, len(items)


def template(tmpl: Any) -> tuple[Any, int, list[Any]]:
    """``(CK_ATTRIBUTE array, count, keep)`` for a raw template; ``keep`` owns every value buffer.

    Values: ``bytes``-like (raw), ``bool`` (``CK_BBOOL``), ``int`` (``CK_ULONG``), ``str`` (UTF-8), or a nested
    template (a mapping or list of pairs, for ``CKA_WRAP_TEMPLATE`` and friends).
    """
    if tmpl is None:
        return _EMPTY_TEMPLATE, 0, []
    keep: list[Any] = []
    arr, count = _build(tmpl, keep)
    return arr, count, keep


def fetch(fn: Callable[..., int], function: str, *head: Any, tail: tuple[Any, ...] = ()) -> bytes:
    """Call ``fn(*head, buffer, &length, *tail)`` the Cryptoki way and return the output bytes.

    First with a ``NULL_PTR`` buffer for the length (this never ends an operation), then with a buffer of that size,
    growing it while the module answers ``CKR_BUFFER_TOO_SMALL``. The second call is made even for an empty output,
    because only that call completes the operation (``C_EncryptFinal`` with nothing left to return, say).
    """
    size = ffi.new(_ULONG_P)
    rv = fn(*head, NULL, size, *tail)
    if rv != CKR_OK:
        raise_for(rv, function)
    for _ in range(_MAX_RETRIES):
        n = int(size[0])
        if n > MAX_OUTPUT:
            raise MemoryError(f"{function}: the module reports an output of {n} bytes (more than 1 GiB)")
        buf = ffi.new(_BYTES_T, n or 1)
        rv = fn(*head, buf, size, *tail)
        if rv == CKR_OK:
            out: bytes = ffi.buffer(buf, min(int(size[0]), n))[:]
            return out
        if rv != CKR_BUFFER_TOO_SMALL:
            raise_for(rv, function)
        if int(size[0]) <= n:  # the module did not say how much it needs: grow it ourselves
            size[0] = max(2 * n, 64)
    raise_for(CKR_BUFFER_TOO_SMALL, function, f"output still too small after {_MAX_RETRIES} retries")
    raise AssertionError("unreachable")


def fetch_ulongs(fn: Callable[..., int], function: str, *head: Any) -> list[int]:
    """Like :func:`fetch` for a ``CK_ULONG`` array output (slot and mechanism lists)."""
    count = ffi.new(_ULONG_P)
    rv = fn(*head, NULL, count)
    if rv != CKR_OK:
        raise_for(rv, function)
    for _ in range(_MAX_RETRIES):
        n = int(count[0])
        if n == 0:
            return []
        if n > MAX_OUTPUT // ffi.sizeof("CK_ULONG"):
            raise MemoryError(f"{function}: the module reports a list of {n} entries")
        arr = ffi.new(_ULONG_A, n)
        rv = fn(*head, arr, count)
        if rv == CKR_OK:
            return list(arr[0 : min(int(count[0]), n)])
        if rv != CKR_BUFFER_TOO_SMALL:
            raise_for(rv, function)
        if int(count[0]) <= n:
            count[0] = 2 * n
    raise_for(CKR_BUFFER_TOO_SMALL, function, f"list still too small after {_MAX_RETRIES} retries")
    raise AssertionError("unreachable")
