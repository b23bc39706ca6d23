# Included by _native.pyx before ops.pxi: the per-use login of keys that need their PIN for every operation.
#
# A private key with CKA_ALWAYS_AUTHENTICATE (PIV and OpenPGP signature keys, eID cards; SoftHSM with pkcs11-tool
# --always-auth) signs or decrypts only after C_Login(CKU_CONTEXT_SPECIFIC, PIN), made right after C_SignInit /
# C_DecryptInit and before the operation (PKCS #11 2.40, section 4.9): the login authorises that one operation. So it
# happens here, in C, inside the crossing that runs Init and the operation (ops.pxi, _ops_one_shot), once per call and
# once per item of a batch, with the GIL released.
#
# The PIN: copied into malloc'd memory when the call starts (the caller's str or bytes is not read again, so another
# thread changing a bytearray cannot change what is sent), wiped with a loop the compiler may not drop and freed when
# the call ends. It never appears in a message.
#
# A PIN the token refuses leaves the operation initialised; the specification says continuing it then behaves as if
# no login had been made. It is ended at once, so the session is free for the next caller: on a 3.x module by
# C_*Init(NULL); on a 2.x module by the operation call itself, which answers CKR_USER_NOT_LOGGED_IN (a failed call
# ends the operation) - an output that a module not enforcing the login gives anyway is wiped. Only a module that
# answers that call with CKR_BUFFER_TOO_SMALL keeps it active; the pool replaces such a session when the next Init
# answers CKR_OPERATION_ACTIVE.

from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.unicode cimport PyUnicode_Check


cdef extern from "Python.h":
    const char* _ops_unicode_utf8 "PyUnicode_AsUTF8AndSize"(object s, Py_ssize_t* size) except NULL


cdef struct _OpsPin:
    unsigned char* ptr              # this call's copy of the PIN (malloc'd), or NULL: no per-use login
    CK_ULONG len

cdef enum:
    _OPS_STAGE_LOGIN = 3            # a failure's stage: C_Login (0 is Init, 1 the operation, 2 C_GenerateRandom)


cdef int _ops_pin_take(_OpsPin* pin, object value) except -1:
    """Copy ``value`` (str, sent as UTF-8, or a bytes-like object) into ``pin``; None leaves it empty (no login).
    The copy is the caller's to wipe with :func:`_ops_pin_wipe`."""
    cdef const char* src
    cdef Py_ssize_t n
    cdef Py_buffer view
    pin.ptr = NULL
    pin.len = 0
    if value is None:
        return 0
    if PyUnicode_Check(value):
        src = _ops_unicode_utf8(value, &n)
        _ops_pin_copy(pin, src, n)
        return 0
    try:
        PyObject_GetBuffer(value, &view, PyBUF_SIMPLE)
    except (TypeError, BufferError):
        raise TypeError(f"pin must be str or bytes, not {type(value).__name__}") from None
    try:
        _ops_pin_copy(pin, <const char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return 0


cdef int _ops_pin_copy(_OpsPin* pin, const char* src, Py_ssize_t n) except -1:
    cdef CK_ULONG length = _ops_ulong_len(n)
    pin.ptr = <unsigned char*>malloc(<size_t>n + 1)  # never NULL for a PIN that is there, even an empty one
    if pin.ptr == NULL:
        raise MemoryError()
    if n:
        memcpy(pin.ptr, src, <size_t>n)
    pin.len = length
    return 0


cdef void _ops_pin_wipe(_OpsPin* pin) noexcept nogil:
    """Overwrite and free this call's copy of the PIN (harmless on an empty one, and twice)."""
    cdef volatile unsigned char* p = pin.ptr
    cdef CK_ULONG i
    if p != NULL:
        for i in range(pin.len):
            p[i] = 0
        free(pin.ptr)
    pin.ptr = NULL
    pin.len = 0


cdef inline void _ops_wipe(unsigned char* out, CK_ULONG n) noexcept nogil:
    cdef volatile unsigned char* p = out
    cdef CK_ULONG i
    for i in range(n):
        p[i] = 0


cdef CK_RV _ops_context_login(p11_gate* f, int op, CK_SESSION_HANDLE h, const _OpsPin* pin,
                              const unsigned char* data, CK_ULONG dlen, unsigned char* out, CK_ULONG cap,
                              int* stage) noexcept nogil:
    """Right after a successful C_*Init: log in for this one operation when ``pin`` holds a PIN (else CKR_OK at
    once). On failure ``*stage`` says C_Login and the operation is ended (see above; ``data`` and ``out``, ``cap``
    bytes, are the operation's input and output buffer)."""
    cdef CK_RV rv
    cdef CK_RV end
    cdef CK_ULONG n = cap
    if pin == NULL or pin.ptr == NULL:
        return CKR_OK
    if not p11g_has_C_Login(f):
        rv = CKR_FUNCTION_NOT_SUPPORTED
    else:
        rv = p11g_C_Login(f, h, CKU_CONTEXT_SPECIFIC, pin.ptr, pin.len)
    if rv == CKR_OK:
        return rv
    stage[0] = _OPS_STAGE_LOGIN
    if f.major >= 3 and _ops_init(f, op, h, NULL, 0) == CKR_OK:
        return rv
    end = _ops_call(f, op, h, data, dlen, out, &n)
    if end == CKR_OK:
        _ops_wipe(out, n if n < cap else cap)  # a module that does not enforce the login: drop what it gave
    return rv


cdef inline bint _ops_pin_rejected(CK_RV rv) noexcept nogil:
    """The token said no to the PIN itself: trying it again would only count down the token's retry counter."""
    return (rv == CKR_PIN_INCORRECT or rv == CKR_PIN_INVALID or rv == CKR_PIN_LEN_RANGE or rv == CKR_PIN_LOCKED
            or rv == CKR_PIN_EXPIRED)
