# The attribute codec table: which kind of value each CKA_* holds, and the attribute names for messages.
#
# Included by _native.pyx. _ATTRIBUTE_TABLE is the single source of truth, keyed by header NAME and resolved to
# values through p11._cffi.lib at import, so no CKA_* value is ever retyped. The resolved table is also kept as a
# sorted C array, so the hot paths find a codec by binary search without the GIL.

from libc.stdlib cimport malloc

import types as _types

from p11._cffi import lib as _lib

# ------------------------------------------------------------------------------------------------------------------
# Codecs
# ------------------------------------------------------------------------------------------------------------------

cdef enum:
    CODEC_BYTES = 0       # byte array; also every unknown or vendor attribute
    CODEC_BOOL = 1        # CK_BBOOL
    CODEC_ULONG = 2       # CK_ULONG and its aliases (CK_OBJECT_CLASS, CK_KEY_TYPE, CK_MECHANISM_TYPE, CK_FLAGS …)
    CODEC_UTF8 = 3        # RFC 2279 string, not NUL-terminated
    CODEC_DATE = 4        # CK_DATE, or empty
    CODEC_ATTRIBUTES = 5  # CK_ATTRIBUTE array (CKA_WRAP_TEMPLATE …)
    CODEC_MECHANISMS = 6  # CK_MECHANISM_TYPE array (CKA_ALLOWED_MECHANISMS)
    CODEC_ULONGS = 7      # other CK_ULONG arrays (CKA_HSS_LMS_TYPES …)

_CODEC_NAMES = ("bytes", "bool", "ulong", "utf8", "date", "attributes", "mechanisms", "ulongs")
_CODEC_BY_NAME = {name: i for i, name in enumerate(_CODEC_NAMES)}

# Every CKA_* of the header with a type in the PKCS#11 3.1 specification (Base + Current Mechanisms). Deprecated
# aliases (CKA_ECDSA_PARAMS, CKA_SUB_PRIME_BITS) share their value with a name below. Big integers (modulus,
# exponents, primes) stay bytes here: the key layer converts them.
_ATTRIBUTE_TABLE = {
    # Common object and storage attributes
    "CKA_CLASS": "ulong",
    "CKA_TOKEN": "bool",
    "CKA_PRIVATE": "bool",
    "CKA_LABEL": "utf8",
    "CKA_UNIQUE_ID": "utf8",
    "CKA_MODIFIABLE": "bool",
    "CKA_COPYABLE": "bool",
    "CKA_DESTROYABLE": "bool",
    # Data objects
    "CKA_APPLICATION": "utf8",
    "CKA_VALUE": "bytes",
    "CKA_OBJECT_ID": "bytes",
    # Certificates
    "CKA_CERTIFICATE_TYPE": "ulong",
    "CKA_ISSUER": "bytes",
    "CKA_SERIAL_NUMBER": "bytes",
    "CKA_AC_ISSUER": "bytes",
    "CKA_OWNER": "bytes",
    "CKA_ATTR_TYPES": "bytes",
    "CKA_TRUSTED": "bool",
    "CKA_CERTIFICATE_CATEGORY": "ulong",
    "CKA_JAVA_MIDP_SECURITY_DOMAIN": "ulong",
    "CKA_URL": "utf8",
    "CKA_HASH_OF_SUBJECT_PUBLIC_KEY": "bytes",
    "CKA_HASH_OF_ISSUER_PUBLIC_KEY": "bytes",
    "CKA_NAME_HASH_ALGORITHM": "ulong",
    "CKA_CHECK_VALUE": "bytes",
    # Keys
    "CKA_KEY_TYPE": "ulong",
    "CKA_SUBJECT": "bytes",
    "CKA_ID": "bytes",
    "CKA_SENSITIVE": "bool",
    "CKA_ENCRYPT": "bool",
    "CKA_DECRYPT": "bool",
    "CKA_WRAP": "bool",
    "CKA_UNWRAP": "bool",
    "CKA_SIGN": "bool",
    "CKA_SIGN_RECOVER": "bool",
    "CKA_VERIFY": "bool",
    "CKA_VERIFY_RECOVER": "bool",
    "CKA_DERIVE": "bool",
    "CKA_START_DATE": "date",
    "CKA_END_DATE": "date",
    "CKA_PUBLIC_KEY_INFO": "bytes",
    "CKA_VALUE_BITS": "ulong",
    "CKA_VALUE_LEN": "ulong",
    "CKA_EXTRACTABLE": "bool",
    "CKA_LOCAL": "bool",
    "CKA_NEVER_EXTRACTABLE": "bool",
    "CKA_ALWAYS_SENSITIVE": "bool",
    "CKA_KEY_GEN_MECHANISM": "ulong",
    "CKA_SECONDARY_AUTH": "bool",
    "CKA_AUTH_PIN_FLAGS": "ulong",
    "CKA_ALWAYS_AUTHENTICATE": "bool",
    "CKA_WRAP_WITH_TRUSTED": "bool",
    "CKA_WRAP_TEMPLATE": "attributes",
    "CKA_UNWRAP_TEMPLATE": "attributes",
    "CKA_DERIVE_TEMPLATE": "attributes",
    "CKA_ALLOWED_MECHANISMS": "mechanisms",
    # RSA, DSA/DH, EC
    "CKA_MODULUS": "bytes",
    "CKA_MODULUS_BITS": "ulong",
    "CKA_PUBLIC_EXPONENT": "bytes",
    "CKA_PRIVATE_EXPONENT": "bytes",
    "CKA_PRIME_1": "bytes",
    "CKA_PRIME_2": "bytes",
    "CKA_EXPONENT_1": "bytes",
    "CKA_EXPONENT_2": "bytes",
    "CKA_COEFFICIENT": "bytes",
    "CKA_PRIME": "bytes",
    "CKA_SUBPRIME": "bytes",
    "CKA_BASE": "bytes",
    "CKA_PRIME_BITS": "ulong",
    "CKA_SUBPRIME_BITS": "ulong",
    "CKA_EC_PARAMS": "bytes",
    "CKA_EC_POINT": "bytes",
    # OTP keys
    "CKA_OTP_FORMAT": "ulong",
    "CKA_OTP_LENGTH": "ulong",
    "CKA_OTP_TIME_INTERVAL": "ulong",
    "CKA_OTP_USER_FRIENDLY_MODE": "bool",
    "CKA_OTP_CHALLENGE_REQUIREMENT": "ulong",
    "CKA_OTP_TIME_REQUIREMENT": "ulong",
    "CKA_OTP_COUNTER_REQUIREMENT": "ulong",
    "CKA_OTP_PIN_REQUIREMENT": "ulong",
    "CKA_OTP_COUNTER": "bytes",
    "CKA_OTP_TIME": "utf8",
    "CKA_OTP_USER_IDENTIFIER": "utf8",
    "CKA_OTP_SERVICE_IDENTIFIER": "utf8",
    "CKA_OTP_SERVICE_LOGO": "bytes",
    "CKA_OTP_SERVICE_LOGO_TYPE": "utf8",
    # GOST
    "CKA_GOSTR3410_PARAMS": "bytes",
    "CKA_GOSTR3411_PARAMS": "bytes",
    "CKA_GOST28147_PARAMS": "bytes",
    # Hardware features, user interfaces
    "CKA_HW_FEATURE_TYPE": "ulong",
    "CKA_RESET_ON_INIT": "bool",
    "CKA_HAS_RESET": "bool",
    "CKA_PIXEL_X": "ulong",
    "CKA_PIXEL_Y": "ulong",
    "CKA_RESOLUTION": "ulong",
    "CKA_CHAR_ROWS": "ulong",
    "CKA_CHAR_COLUMNS": "ulong",
    "CKA_COLOR": "bool",
    "CKA_BITS_PER_PIXEL": "ulong",
    "CKA_CHAR_SETS": "utf8",
    "CKA_ENCODING_METHODS": "utf8",
    "CKA_MIME_TYPES": "utf8",
    # Mechanism objects, profiles
    "CKA_MECHANISM_TYPE": "ulong",
    "CKA_REQUIRED_CMS_ATTRIBUTES": "bytes",
    "CKA_DEFAULT_CMS_ATTRIBUTES": "bytes",
    "CKA_SUPPORTED_CMS_ATTRIBUTES": "bytes",
    "CKA_PROFILE_ID": "ulong",
    # X2Ratchet
    "CKA_X2RATCHET_BAG": "bytes",
    "CKA_X2RATCHET_BAGSIZE": "ulong",
    "CKA_X2RATCHET_BOBS1STMSG": "bool",
    "CKA_X2RATCHET_CKR": "bytes",
    "CKA_X2RATCHET_CKS": "bytes",
    "CKA_X2RATCHET_DHP": "bytes",
    "CKA_X2RATCHET_DHR": "bytes",
    "CKA_X2RATCHET_DHS": "bytes",
    "CKA_X2RATCHET_HKR": "bytes",
    "CKA_X2RATCHET_HKS": "bytes",
    "CKA_X2RATCHET_ISALICE": "bool",
    "CKA_X2RATCHET_NHKR": "bytes",
    "CKA_X2RATCHET_NHKS": "bytes",
    "CKA_X2RATCHET_NR": "ulong",
    "CKA_X2RATCHET_NS": "ulong",
    "CKA_X2RATCHET_PNS": "ulong",
    "CKA_X2RATCHET_RK": "bytes",
    # HSS
    "CKA_HSS_LEVELS": "ulong",
    "CKA_HSS_LMS_TYPE": "ulong",
    "CKA_HSS_LMOTS_TYPE": "ulong",
    "CKA_HSS_LMS_TYPES": "ulongs",
    "CKA_HSS_LMOTS_TYPES": "ulongs",
    "CKA_HSS_KEYS_REMAINING": "ulong",
}

# The resolved table, in C: sorted by attribute type, searched without the GIL.
ctypedef struct _CodecEntry:
    CK_ATTRIBUTE_TYPE type
    int codec

cdef _CodecEntry* _codec_table = NULL
cdef Py_ssize_t _codec_table_len = 0

cdef dict _attribute_names = {}


def _resolve_table():
    """Resolve _ATTRIBUTE_TABLE through the compiled header: {value: codec name}, and the names it could not find."""
    resolved = {}
    unresolved = []
    for name, codec in _ATTRIBUTE_TABLE.items():
        if codec not in _CODEC_BY_NAME:
            raise RuntimeError(f"_ATTRIBUTE_TABLE: {name} has unknown codec {codec!r}")
        value = getattr(_lib, name, None)
        if value is None:
            unresolved.append(name)
            continue
        value = int(value)
        if resolved.get(value, codec) != codec:
            raise RuntimeError(f"_ATTRIBUTE_TABLE: {name} is also listed with codec {resolved[value]!r}")
        resolved[value] = codec
    return resolved, tuple(unresolved)


cdef void _install_table(dict resolved) except *:
    global _codec_table, _codec_table_len
    cdef Py_ssize_t i = 0
    entries = sorted(resolved.items())
    _codec_table = <_CodecEntry*>malloc(max(1, len(entries)) * sizeof(_CodecEntry))
    if _codec_table == NULL:
        raise MemoryError()
    for value, codec in entries:
        _codec_table[i].type = value
        _codec_table[i].codec = _CODEC_BY_NAME[codec]
        i += 1
    _codec_table_len = i


def _build_names():
    """Attribute value -> canonical name: table names first (never a deprecated alias), then the header's others."""
    names = {}
    for name in _ATTRIBUTE_TABLE:
        value = getattr(_lib, name, None)
        if value is not None:
            names.setdefault(int(value), name)
    for name in sorted(dir(_lib)):
        if name.startswith("CKA_"):
            value = getattr(_lib, name)
            if isinstance(value, int):
                names.setdefault(value, name)
    return names


_resolved, _UNRESOLVED_NAMES = _resolve_table()
_install_table(_resolved)
_attribute_names = _build_names()

ATTRIBUTE_CODECS = _types.MappingProxyType(_resolved)
"""Read-only {CKA_* value: codec name} for every attribute with a known type; any other attribute is ``bytes``."""

CODECS = _CODEC_NAMES
"""The codec names used in :data:`ATTRIBUTE_CODECS`."""

del _resolved

cdef CK_ULONG _VENDOR_BASE = CKA_VENDOR_DEFINED


cdef inline int _codec_of(CK_ATTRIBUTE_TYPE t) noexcept nogil:
    """The codec of attribute ``t`` (binary search of the resolved table); unknown attributes are raw bytes."""
    cdef Py_ssize_t lo = 0, hi = _codec_table_len - 1, mid
    while lo <= hi:
        mid = (lo + hi) >> 1
        if _codec_table[mid].type == t:
            return _codec_table[mid].codec
        if _codec_table[mid].type < t:
            lo = mid + 1
        else:
            hi = mid - 1
    return CODEC_BYTES


cdef inline bint _is_array_type(CK_ATTRIBUTE_TYPE t, int codec) noexcept nogil:
    """Whether a read must go through the nested (two-level) path: attribute arrays, and unknown array attributes."""
    return codec == CODEC_ATTRIBUTES or (codec == CODEC_BYTES and (t & CKF_ARRAY_ATTRIBUTE) != 0)


cdef str _name(CK_ATTRIBUTE_TYPE t):
    name = _attribute_names.get(t)
    if name is not None:
        return name
    if t >= _VENDOR_BASE:
        return f"CKA_VENDOR_DEFINED+0x{t - _VENDOR_BASE:X}"
    return f"attribute 0x{t:08X}"


def attribute_name(attribute):
    """The ``CKA_*`` name of an attribute type (``CKA_VENDOR_DEFINED+0x…`` for vendor ones)."""
    return _name(_attribute_type(attribute, ""))


def codec_of(attribute):
    """The codec name of an attribute type: one of :data:`CODECS`; ``"bytes"`` for unknown and vendor attributes."""
    return _CODEC_NAMES[_codec_of(_attribute_type(attribute, ""))]
