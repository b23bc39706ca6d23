# Attribute values: Python <-> the C layout of each codec, the markers for refused attributes, and Template.
#
# Included by _native.pyx, after attribute_table.pxi. A template is planned in Python (keys and value types checked,
# values encoded), then laid out in ONE C allocation that never changes afterwards, so it can be reused by any number
# of calls, from any thread, with the GIL released.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.buffer cimport PyObject_CheckBuffer
from cpython.long cimport PyLong_AsUnsignedLong, PyLong_FromUnsignedLong
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.limits cimport ULONG_MAX
from libc.stdint cimport uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

import datetime as _datetime
from collections.abc import Mapping as _Mapping

from p11.lowlevel.marshal import check_template_depth as _attr_check_depth
from p11.lowlevel.marshal import template_path as _attr_template_path

# ------------------------------------------------------------------------------------------------------------------
# Markers for attributes the token will not (or cannot) reveal
# ------------------------------------------------------------------------------------------------------------------

cdef object _MARKER_KEY = object()


cdef class Unavailable:
    """A value the token did not return, in place of the value, so one refused attribute does not fail a whole read.

    Three singletons: :data:`SENSITIVE` (``CKR_ATTRIBUTE_SENSITIVE``: the object holds it but will not reveal it),
    :data:`ABSENT` (``CKR_ATTRIBUTE_TYPE_INVALID``: the object has no such attribute) and :data:`UNAVAILABLE` (the
    token returned ``CK_UNAVAILABLE_INFORMATION`` without saying why). Compare with ``is``. They have no truth value:
    ``if attrs[CKA_EXTRACTABLE]:`` on a marker raises instead of silently reading as false.
    """

    cdef readonly str name
    cdef readonly str reason

    def __cinit__(self, name, reason, key):
        if key is not _MARKER_KEY:
            raise TypeError("Unavailable markers are singletons: use p11._native.SENSITIVE, ABSENT or UNAVAILABLE")
        self.name = name
        self.reason = reason

    def __repr__(self):
        return self.name

    def __bool__(self):
        raise TypeError(f"{self.name} has no truth value: the token did not return this attribute ({self.reason})")

    def __reduce__(self):
        return self.name

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


SENSITIVE = Unavailable("SENSITIVE", "the attribute is sensitive or the key unextractable", _MARKER_KEY)
ABSENT = Unavailable("ABSENT", "the object has no such attribute", _MARKER_KEY)
UNAVAILABLE = Unavailable("UNAVAILABLE", "the token gave no reason", _MARKER_KEY)

cdef enum:
    _PENDING = 0
    _HAVE = 1
    _IS_SENSITIVE = 2
    _IS_ABSENT = 3
    _IS_UNAVAILABLE = 4


cdef inline unsigned char _status_for(CK_RV rv) noexcept nogil:
    if rv == CKR_ATTRIBUTE_SENSITIVE:
        return _IS_SENSITIVE
    if rv == CKR_ATTRIBUTE_TYPE_INVALID:
        return _IS_ABSENT
    return _IS_UNAVAILABLE


cdef object _marker(unsigned char status):
    if status == _IS_SENSITIVE:
        return SENSITIVE
    if status == _IS_ABSENT:
        return ABSENT
    return UNAVAILABLE


# ------------------------------------------------------------------------------------------------------------------
# Encoding: Python value -> bytes in the C layout of the attribute's type
# ------------------------------------------------------------------------------------------------------------------

cdef CK_BBOOL _ck_true = CK_TRUE
cdef CK_BBOOL _ck_false = CK_FALSE
cdef bytes _TRUE = PyBytes_FromStringAndSize(<char*>&_ck_true, sizeof(CK_BBOOL))
cdef bytes _FALSE = PyBytes_FromStringAndSize(<char*>&_ck_false, sizeof(CK_BBOOL))
cdef bytes _EMPTY = b""
_date_type = _datetime.date


cdef inline size_t _align(size_t n) noexcept nogil:
    """Round up to 8 bytes: every value starts aligned for CK_ULONG/pointers, whatever precedes it."""
    return (n + 7) & ~(<size_t>7)


cdef CK_ATTRIBUTE_TYPE _attribute_type(object key, str where) except? <CK_ATTRIBUTE_TYPE>-1:
    """A ``CKA_*`` value from a Python int (IntEnum members included); bools and other types are refused."""
    if not isinstance(key, int) or isinstance(key, bool):
        raise TypeError(f"attribute types are CKA_* ints{where}, got {type(key).__name__}")
    # The range check happens in C: PyLong_AsUnsignedLong refuses negatives and values past ULONG_MAX with
    # OverflowError (two Python comparisons per attribute cost more than the rest of this function).
    try:
        return <CK_ATTRIBUTE_TYPE>PyLong_AsUnsignedLong(key)
    except OverflowError:
        raise ValueError(f"attribute type {key}{where} is out of range for CK_ULONG") from None


cdef inline _wrong_type(CK_ATTRIBUTE_TYPE t, str expected, object value, str where):
    return TypeError(f"{_name(t)}{where} expects {expected}, got {type(value).__name__}")


cdef bytes _pack_ulong(CK_ATTRIBUTE_TYPE t, object value, str where):
    cdef CK_ULONG v
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(t, "int", value, where)
    if value < 0 or value > ULONG_MAX:
        raise ValueError(f"{_name(t)}{where} expects an int in 0..{ULONG_MAX}, got {value}")
    v = <CK_ULONG>value
    return PyBytes_FromStringAndSize(<char*>&v, sizeof(CK_ULONG))


cdef bytes _pack_ulongs(CK_ATTRIBUTE_TYPE t, object value, str where):
    cdef Py_ssize_t i, n
    cdef CK_ULONG v
    cdef bytes out
    cdef char* p
    if isinstance(value, (str, bytes, bytearray, memoryview, _Mapping)) or not hasattr(value, "__iter__"):
        raise _wrong_type(t, "a sequence of int", value, where)
    items = value if isinstance(value, (list, tuple)) else list(value)
    n = len(items)
    out = PyBytes_FromStringAndSize(NULL, n * <Py_ssize_t>sizeof(CK_ULONG))
    p = PyBytes_AS_STRING(out)
    for i in range(n):
        item = items[i]
        if not isinstance(item, int) or isinstance(item, bool):
            raise TypeError(f"{_name(t)}{where} expects a sequence of int, got a {type(item).__name__} in it")
        if item < 0 or item > ULONG_MAX:
            raise ValueError(f"{_name(t)}{where} expects ints in 0..{ULONG_MAX}, got {item}")
        v = <CK_ULONG>item
        memcpy(p + i * sizeof(CK_ULONG), &v, sizeof(CK_ULONG))
    return out


cdef bytes _encode_flat(CK_ATTRIBUTE_TYPE t, int codec, object value, str where):
    """``value`` as the bytes a token expects in ``pValue`` for attribute ``t`` (not for attribute arrays)."""
    if codec == CODEC_BOOL:
        if value is True:
            return _TRUE
        if value is False:
            return _FALSE
        raise _wrong_type(t, "bool", value, where)
    if codec == CODEC_ULONG:
        return _pack_ulong(t, value, where)
    if codec == CODEC_UTF8:
        if not isinstance(value, str):
            raise _wrong_type(t, "str", value, where)
        try:
            # surrogateescape: a label read back from a token that stored non-UTF-8 bytes writes back the same bytes
            return (<str>value).encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise ValueError(f"{_name(t)}{where} cannot be encoded as UTF-8 (it holds a lone surrogate)") from None
    if codec == CODEC_DATE:
        if value is None:
            return _EMPTY
        if not isinstance(value, _date_type):
            raise _wrong_type(t, "datetime.date or None", value, where)
        return f"{value.year:04d}{value.month:02d}{value.day:02d}".encode("ascii")
    if codec == CODEC_MECHANISMS or codec == CODEC_ULONGS:
        return _pack_ulongs(t, value, where)
    # CODEC_BYTES: any bytes-like object, never str (whose encoding would be a guess) nor int (bytes(5) is 5 zeros)
    if type(value) is bytes:
        return <bytes>value
    if isinstance(value, str) or not PyObject_CheckBuffer(value):
        raise _wrong_type(t, "bytes", value, where)
    return memoryview(value).tobytes()


# A template is planned in Python (types checked, values encoded), then laid out in ONE C allocation:
#   [CK_ATTRIBUTE x n][value][value]…[nested CK_ATTRIBUTE x k][nested values]…   each part 8-byte aligned.
# A plan is a list of (type, codec, payload): payload is bytes, or a nested plan for attribute arrays.

cdef list _plan(object mapping, str where, tuple path=()):
    """The plan of ``mapping``; ``path`` holds the ids of the templates enclosing it (nesting is bounded, and a
    template containing itself refused, by ``p11.lowlevel.marshal.template_path``: the one home of that rule)."""
    cdef CK_ATTRIBUTE_TYPE t
    cdef int codec
    if isinstance(mapping, Template):
        return (<Template>mapping)._replan(len(path))
    if not isinstance(mapping, _Mapping):
        raise TypeError(f"a template is a mapping {{CKA_*: value}} or a Template{where}, got {type(mapping).__name__}")
    plan = []
    for key, value in mapping.items():
        t = _attribute_type(key, where)
        codec = _codec_of(t)
        if codec == CODEC_ATTRIBUTES:
            if not isinstance(value, (_Mapping, Template)):
                raise _wrong_type(t, "a mapping of attributes", value, where)
            plan.append((t, codec, _plan(value, f" (in {_name(t)})", _attr_template_path(mapping, path))))
        else:
            plan.append((t, codec, _encode_flat(t, codec, value, where)))
    return plan


cdef size_t _plan_size(list plan):
    cdef size_t size = _align(len(plan) * sizeof(CK_ATTRIBUTE))
    for t, codec, payload in plan:
        if codec == CODEC_ATTRIBUTES:
            size += _plan_size(payload)
        else:
            size += _align(len(<bytes>payload))
    return size


cdef char* _plan_fill(list plan, CK_ATTRIBUTE* out, char* cursor):
    """Write ``plan`` into ``out`` with values from ``cursor`` on; returns the cursor after the last value."""
    cdef Py_ssize_t i = 0, n
    cdef CK_ATTRIBUTE* nested
    for t, codec, payload in plan:
        out[i].type = <CK_ATTRIBUTE_TYPE>t
        if codec == CODEC_ATTRIBUTES:
            n = len(<list>payload)
            nested = <CK_ATTRIBUTE*>cursor
            cursor = _plan_fill(<list>payload, nested, cursor + _align(n * sizeof(CK_ATTRIBUTE)))
            out[i].pValue = nested
            out[i].ulValueLen = n * sizeof(CK_ATTRIBUTE)
        else:
            n = len(<bytes>payload)
            memcpy(cursor, PyBytes_AS_STRING(<bytes>payload), n)
            out[i].pValue = cursor  # never NULL, even for an empty value: some tokens refuse NULL outright
            out[i].ulValueLen = n
            cursor += _align(n)
        i += 1
    return cursor


cdef list _plan_from_c(const CK_ATTRIBUTE* attrs, CK_ULONG count, Py_ssize_t depth):
    """The plan of a template already in C memory (a Template nested ``depth`` levels deep in another one)."""
    plan = []
    cdef CK_ULONG i
    cdef int codec
    for i in range(count):
        codec = _codec_of(attrs[i].type)
        if codec == CODEC_ATTRIBUTES:
            _attr_check_depth(depth)
            plan.append((attrs[i].type, codec,
                         _plan_from_c(<const CK_ATTRIBUTE*>attrs[i].pValue, attrs[i].ulValueLen // sizeof(CK_ATTRIBUTE),
                                      depth + 1)))
        else:
            plan.append((attrs[i].type, codec, PyBytes_FromStringAndSize(<const char*>attrs[i].pValue,
                                                                         attrs[i].ulValueLen)))
    return plan


# ------------------------------------------------------------------------------------------------------------------
# Decoding: bytes in C memory -> Python value
# ------------------------------------------------------------------------------------------------------------------

cdef inline bint _is_digits(const char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] < 48 or p[i] > 57:
            return False
    return True


cdef object _decode_date(const char* p, CK_ULONG n):
    """A ``datetime.date``; None for an empty date (also all-zero or all-blank, as some tokens write it)."""
    cdef CK_ULONG i
    cdef bint blank = True
    if n == 0:
        return None
    if n != sizeof(CK_DATE):
        return PyBytes_FromStringAndSize(p, n)
    for i in range(n):
        if p[i] != 0 and p[i] != 32 and p[i] != 48:
            blank = False
            break
    if blank:
        return None
    if not _is_digits(p, n):
        return PyBytes_FromStringAndSize(p, n)
    year = (p[0] - 48) * 1000 + (p[1] - 48) * 100 + (p[2] - 48) * 10 + (p[3] - 48)
    month = (p[4] - 48) * 10 + (p[5] - 48)
    day = (p[6] - 48) * 10 + (p[7] - 48)
    try:
        return _date_type(year, month, day)
    except ValueError:
        return PyBytes_FromStringAndSize(p, n)


cdef object _decode(CK_ATTRIBUTE_TYPE t, int codec, const char* p, CK_ULONG n, bint deep):
    """The Python value of one attribute; a value whose length does not fit its codec comes back as raw bytes.

    ``deep`` allows attribute arrays inside attribute arrays (our own Templates); values read from a token have
    two levels at most (the nested read stops there), so deeper ones come back as UNAVAILABLE.
    """
    cdef CK_ULONG v, i, k
    cdef CK_BBOOL b
    cdef const CK_ATTRIBUTE* nested
    if n == CK_UNAVAILABLE_INFORMATION:
        return UNAVAILABLE
    if p == NULL and n != 0:
        return UNAVAILABLE
    if codec == CODEC_BOOL:
        if n == sizeof(CK_BBOOL):
            memcpy(&b, p, sizeof(CK_BBOOL))
            return b != CK_FALSE
    elif codec == CODEC_ULONG:
        if n == sizeof(CK_ULONG):
            memcpy(&v, p, sizeof(CK_ULONG))
            return PyLong_FromUnsignedLong(v)
    elif codec == CODEC_UTF8:
        return PyUnicode_DecodeUTF8(p, n, "surrogateescape")
    elif codec == CODEC_DATE:
        return _decode_date(p, n)
    elif codec == CODEC_MECHANISMS or codec == CODEC_ULONGS:
        if n % sizeof(CK_ULONG) == 0:
            k = n // sizeof(CK_ULONG)
            out = []
            for i in range(k):
                memcpy(&v, p + i * sizeof(CK_ULONG), sizeof(CK_ULONG))
                out.append(PyLong_FromUnsignedLong(v))
            return out
    elif codec == CODEC_ATTRIBUTES:
        if n % sizeof(CK_ATTRIBUTE) == 0:
            nested = <const CK_ATTRIBUTE*>p
            k = n // sizeof(CK_ATTRIBUTE)
            result = {}
            for i in range(k):
                result[PyLong_FromUnsignedLong(nested[i].type)] = _decode_nested(&nested[i], deep)
            return result
    return PyBytes_FromStringAndSize(p, n)


cdef object _decode_nested(const CK_ATTRIBUTE* a, bint deep):
    cdef int codec = _codec_of(a.type)
    if _is_array_type(a.type, codec) and not deep:
        return UNAVAILABLE
    return _decode(a.type, codec, <const char*>a.pValue, a.ulValueLen, deep)


def encode(attribute, value):
    """``value`` as the token sees it: the ``pValue`` bytes (a :class:`Template` for attribute arrays).

    Raises TypeError naming the attribute when ``value`` has the wrong Python type.
    """
    cdef CK_ATTRIBUTE_TYPE t = _attribute_type(attribute, "")
    cdef int codec = _codec_of(t)
    if codec == CODEC_ATTRIBUTES:
        if not isinstance(value, (_Mapping, Template)):
            raise _wrong_type(t, "a mapping of attributes", value, "")
        return value if isinstance(value, Template) else Template(value)
    return _encode_flat(t, codec, value, "")


def decode(attribute, data):
    """The Python value of attribute ``attribute`` from its ``pValue`` bytes (or a :class:`Template` for arrays)."""
    cdef CK_ATTRIBUTE_TYPE t = _attribute_type(attribute, "")
    cdef int codec = _codec_of(t)
    if codec == CODEC_ATTRIBUTES:
        if not isinstance(data, Template):
            raise TypeError(f"{_name(t)} holds pointers: decode it from a Template, got {type(data).__name__}")
        return (<Template>data).to_dict()
    if isinstance(data, str) or not PyObject_CheckBuffer(data):
        raise TypeError(f"decode expects bytes, got {type(data).__name__}")
    raw = bytes(data)
    return _decode(t, codec, PyBytes_AS_STRING(raw), len(raw), False)


# ------------------------------------------------------------------------------------------------------------------
# Template: {attribute: value} encoded once into C memory, reusable by every call
# ------------------------------------------------------------------------------------------------------------------

cdef class Template:
    """A ``CK_ATTRIBUTE`` array (nested arrays included) in one C allocation, built from ``{CKA_*: value}``.

    Encode once, pass many times: every function here accepts a Template where it accepts a mapping. For cffi
    callers, :attr:`address` and :attr:`count` are the ``CK_ATTRIBUTE*`` and ``ulCount`` to pass (keep the Template
    alive for the duration of the call). Immutable: the C memory never changes once built, so calls that release the
    GIL may share it between threads. The repr names the attributes but never shows values (they may be secrets).
    """

    cdef CK_ATTRIBUTE* attrs
    cdef CK_ULONG _count
    cdef void* _block
    cdef bint _built

    def __cinit__(self):
        self.attrs = NULL
        self._count = 0
        self._block = NULL
        self._built = False

    def __init__(self, mapping=None):
        if self._built:
            raise TypeError("a Template is immutable once built")
        self._install(_plan({} if mapping is None else mapping, ""))

    cdef _install(self, list plan):
        cdef size_t size = _plan_size(plan)
        cdef void* block = calloc(1, size if size else 1)
        if block == NULL:
            raise MemoryError()
        if plan:
            _plan_fill(plan, <CK_ATTRIBUTE*>block, <char*>block + _align(len(plan) * sizeof(CK_ATTRIBUTE)))
            self.attrs = <CK_ATTRIBUTE*>block
        self._block = block
        self._count = len(plan)
        self._built = True

    cdef list _replan(self, Py_ssize_t depth):
        return _plan_from_c(self.attrs, self._count, depth)

    def __dealloc__(self):
        free(self._block)

    def __len__(self):
        return self._count

    @property
    def count(self):
        """``ulCount`` for this template."""
        return self._count

    @property
    def address(self):
        """The ``CK_ATTRIBUTE*`` as an int (0 for an empty template): ``ffi.cast("CK_ATTRIBUTE *", t.address)``."""
        return <uintptr_t>self.attrs

    @property
    def types(self):
        """The attribute types, in order."""
        cdef CK_ULONG i
        out = []
        for i in range(self._count):
            out.append(PyLong_FromUnsignedLong(self.attrs[i].type))
        return tuple(out)

    def to_dict(self):
        """The values back as Python objects, decoded from the C memory (a check of what a token will receive)."""
        cdef CK_ULONG i
        out = {}
        for i in range(self._count):
            out[PyLong_FromUnsignedLong(self.attrs[i].type)] = _decode(
                self.attrs[i].type, _codec_of(self.attrs[i].type), <const char*>self.attrs[i].pValue,
                self.attrs[i].ulValueLen, True)
        return out

    def __contains__(self, attribute):
        cdef CK_ULONG i
        if not isinstance(attribute, int) or isinstance(attribute, bool) or attribute < 0 or attribute > ULONG_MAX:
            return False
        for i in range(self._count):
            if self.attrs[i].type == <CK_ULONG>attribute:
                return True
        return False

    def __repr__(self):
        cdef CK_ULONG i
        names = []
        for i in range(self._count):
            names.append(_name(self.attrs[i].type))
        return "Template(" + ", ".join(names) + ")"

    def __reduce__(self):
        raise TypeError("a Template is C memory and cannot be pickled; pickle the mapping it was built from")


cdef inline Template _as_template(object template):
    """``template`` itself if it is a Template, else a Template built from the mapping."""
    if type(template) is Template:
        return <Template>template
    return Template(template)
