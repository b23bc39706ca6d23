# Included by _native.pyx: one-crossing cryptographic operations and their batch forms.
#
# Why this file exists: a Cryptoki sign through cffi costs two Python->C crossings (Init, then the operation), a
# size query, and Python objects for every argument. Here each operation is ONE ``with nogil`` block that runs Init
# and the single-part call back to back, writes the output straight into a stack buffer (small outputs) or a
# preallocated ``bytes`` object (large ones), and only falls back to a size query when the caller's size guess was
# wrong. Batches snapshot their inputs (a tuple of strong references; buffer exports for non-bytes items) and gather
# every input pointer first, run the loop in C without the GIL and without creating a Python object - in chunks,
# with the signal handlers run between them so Ctrl-C is noticed - then build the result list.
#
# Conventions shared by every function here:
#   gate       the module's call gate: an ``int`` address (``p11.lowlevel.Module.gate_address``, the
#              fast path) or the lowlevel Module itself (see gate.pxi). An address is trusted: it must come
#              from a loaded module, never from user input. A NULL function pointer answers
#              CKR_FUNCTION_NOT_SUPPORTED.
#   mechanism  an ``int`` (a ``CKM_*`` value, no parameter; IntEnum members work) or a :class:`Mechanism` (any
#              mechanism, with or without parameter; build it once and reuse it).
#   data       any C-contiguous bytes-like object (bytes is the fastest).
#   out_len    the expected output size (signature length from the key size and mechanism, HMAC length, ...):
#              right -> no size query; too small -> one size query inside the same crossing; 0 -> unknown (the
#              output goes to a 1 KiB stack buffer first, and a heap buffer when it does not fit).
# Errors raise the typed exception of ``p11.errors`` naming the Cryptoki function that failed. No operation is left
# active on the session (every path either completes, fails - which ends the operation per the specification - or
# cancels it).

cimport cython
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from libc.stdint cimport uintptr_t
from cpython.ref cimport PyObject, Py_XDECREF, Py_DECREF
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_CheckExact, PyBytes_FromStringAndSize
from cpython.long cimport PyLong_Check
from cpython.exc cimport PyErr_CheckSignals
from cryptoki cimport *

import time as _ops_time

from p11._cffi import ffi as _ops_ffi
from p11.errors import error_class as _ops_error_class
from p11.lowlevel.marshal import MAX_RANDOM_BYTES  # the one bound for random byte counts (lowlevel uses it too)
from p11.lowlevel.marshal import size_arg as _ops_size_arg_slow

cdef extern from "Python.h":
    long long _ops_as_longlong "PyLong_AsLongLongAndOverflow"(object v, int* overflow) except? -1
    # Raw forms: the caller owns the returned reference (needed to resize a fresh bytes object in place).
    PyObject* _ops_bytes_new "PyBytes_FromStringAndSize"(const char* v, Py_ssize_t n) except NULL

cdef extern from "p11_limited.h":
    # What the limited API (abi3 wheels) spells differently: _PyBytes_Resize, PyMemoryView_GET_BUFFER.
    int _ops_bytes_resize "p11_bytes_shrink"(PyObject** b, Py_ssize_t n) except -1
    int _ops_memoryview_buffer "p11_memoryview_buffer"(object mv, const void** buf, Py_ssize_t* n) except -1

cdef enum:
    # Outputs up to this size are written to a stack buffer and copied once into their bytes object.
    _OPS_STACK_CAP = 1024

cdef enum:
    _OP_SIGN = 1
    _OP_ENCRYPT = 2
    _OP_DECRYPT = 3
    _OP_DIGEST = 4
    _OP_VERIFY = 5
    _OP_RANDOM = 6

# Upper bounds of size arguments (documented limits; ValueError beyond them, never a huge malloc):
cdef Py_ssize_t _OPS_MAX_RANDOM = MAX_RANDOM_BYTES  # generate_random: 16 MiB per call (ask again for more)
cdef enum:
    _OPS_MAX_IV = 1024
MAX_IV_LENGTH = _OPS_MAX_IV         # encrypt_many: generated GCM IVs (12 bytes is the norm)

# Long batches run in chunks, each ONE crossing without the GIL; between chunks the GIL is taken back to check for
# signals (Ctrl-C). Chunk sizes adapt so that a chunk lasts about _BATCH_CHUNK_TARGET seconds.
_BATCH_FIRST_CHUNK = 8
_BATCH_MAX_CHUNK = 1 << 20
_BATCH_CHUNK_TARGET = 0.01

# What a zero-length input points at: some modules reject a NULL pointer even with a zero length.
cdef unsigned char _ops_empty[1]


# ------------------------------------------------------------------------------------------------------------------
# Argument resolution
# ------------------------------------------------------------------------------------------------------------------

cdef inline Py_ssize_t _size_arg(object value, str what, Py_ssize_t lo, Py_ssize_t hi) except? -1:
    """``value`` checked to lie in ``[lo, hi]`` before it reaches malloc or a CK_ULONG: a plain int in range is
    the fast path; anything else goes to ``p11.lowlevel.marshal.size_arg``, the one home of the rule and of its
    messages (TypeError/ValueError naming ``what``)."""
    cdef int overflow = 0
    cdef long long v
    if type(value) is int:
        v = _ops_as_longlong(value, &overflow)
        if overflow == 0 and lo <= v <= hi:
            return <Py_ssize_t>v
    return _ops_size_arg_slow(value, what, lo, hi)


cdef inline CK_ULONG _ops_ulong_len(Py_ssize_t n) except? 0:
    # CK_ULONG is 32 bits on Windows: refuse lengths it cannot carry instead of truncating them.
    if sizeof(CK_ULONG) < sizeof(Py_ssize_t) and <size_t>n > <size_t>(<CK_ULONG>-1):
        raise OverflowError(f"{n} bytes is more than a CK_ULONG length can carry")
    return <CK_ULONG>n


cdef bytes _ops_contiguous(object data, str what, Py_ssize_t index):
    """A contiguous copy of a buffer that cannot be exported as one (a strided memoryview)."""
    try:
        return memoryview(data).tobytes()
    except (TypeError, BufferError, ValueError) as exc:
        name = what if index < 0 else f"{what} {index}"
        raise TypeError(f"{name} must be a bytes-like object, not {type(data).__name__}") from exc


cdef struct _OpsInput:
    const unsigned char* ptr
    CK_ULONG len
    bint has_view
    Py_buffer view


cdef int _ops_input_get(_OpsInput* inp, object data, str what) except -1:
    """Point ``inp`` at the bytes of ``data`` (bytes: directly; other bytes-like objects: through a buffer export,
    released by :func:`_ops_input_release`). The caller keeps ``data`` alive while the pointer is used."""
    inp.has_view = False
    if PyBytes_CheckExact(data):
        inp.ptr = <const unsigned char*>PyBytes_AS_STRING(data)
        inp.len = _ops_ulong_len(PyBytes_GET_SIZE(data))
        return 0
    if isinstance(data, str):
        raise TypeError(f"{what} must be a bytes-like object, not str")
    try:
        PyObject_GetBuffer(data, &inp.view, PyBUF_SIMPLE)
    except BufferError:
        # A buffer that is not C-contiguous (a strided memoryview): the operation takes a contiguous copy (the
        # export of the copy holds it until the release).
        PyObject_GetBuffer(_ops_contiguous(data, what, -1), &inp.view, PyBUF_SIMPLE)
    except TypeError as exc:
        raise TypeError(f"{what} must be a bytes-like object, not {type(data).__name__}") from exc
    inp.has_view = True
    inp.ptr = <const unsigned char*>inp.view.buf if inp.view.buf != NULL else _ops_empty
    try:
        inp.len = _ops_ulong_len(inp.view.len)
    except BaseException:
        PyBuffer_Release(&inp.view)
        inp.has_view = False
        raise
    return 0


cdef inline void _ops_input_release(_OpsInput* inp) noexcept:
    if inp.has_view:
        PyBuffer_Release(&inp.view)
        inp.has_view = False


cdef class Mechanism:
    """A prepared ``CK_MECHANISM``: what every function of ``p11._native`` takes as its mechanism.

    ``Mechanism(type)`` has no parameter (``mechanism_for`` caches those); ``Mechanism(type, address, length,
    keepalive)`` points at a parameter structure that ``keepalive`` owns (e.g. the cffi struct a
    ``p11.mechanisms`` object built once); :meth:`from_address` copies an already built ``CK_MECHANISM``, and
    :meth:`with_parameter` takes a parameter that is plain bytes (an IV for ``CKM_AES_CBC_PAD``). The holder keeps
    ``keepalive`` referenced, so the parameter lives as long as the mechanism.
    """

    cdef CK_MECHANISM mech
    cdef readonly object keepalive

    def __cinit__(self, CK_MECHANISM_TYPE mechanism, uintptr_t parameter_address=0, CK_ULONG parameter_length=0,
                  keepalive=None):
        if parameter_address == 0 and parameter_length != 0:
            raise ValueError("a mechanism parameter length without a parameter address")
        self.mech.mechanism = mechanism
        self.mech.pParameter = <void*>parameter_address
        self.mech.ulParameterLen = parameter_length
        self.keepalive = keepalive

    @staticmethod
    def from_address(uintptr_t address, keepalive=None):
        """Copy the ``CK_MECHANISM`` at ``address``; ``keepalive`` must own it and its parameter."""
        if address == 0:
            raise ValueError("the CK_MECHANISM address is NULL")
        cdef CK_MECHANISM* src = <CK_MECHANISM*>address
        return Mechanism(src.mechanism, <uintptr_t>src.pParameter, src.ulParameterLen, keepalive)

    @staticmethod
    def of(mechanism):
        """The :class:`Mechanism` for anything the layers above hold: a Mechanism (itself), a ``CKM_*`` int (the
        cached parameterless one), a ``p11.lowlevel.Mech`` or a cffi ``CK_MECHANISM *`` (copied, and kept alive
        with its parameter). Build it once per mechanism object and reuse it: this is not the fast path."""
        if isinstance(mechanism, Mechanism):
            return mechanism
        if PyLong_Check(mechanism) and not isinstance(mechanism, bool):
            return mechanism_for(mechanism)
        cdata_of = getattr(mechanism, "cdata", None)
        c = cdata_of() if callable(cdata_of) else mechanism
        ffi = _ops_ffi
        if not isinstance(c, ffi.CData) or ffi.typeof(c) is not ffi.typeof("CK_MECHANISM *"):
            raise TypeError(f"cannot make a mechanism of {type(mechanism).__name__}: expected a CKM_* int, a "
                            "p11.lowlevel.Mech or a CK_MECHANISM * cdata")
        if c == ffi.NULL:
            raise ValueError("the CK_MECHANISM pointer is NULL")
        return Mechanism.from_address(int(ffi.cast("uintptr_t", c)), keepalive=(mechanism, c))

    @staticmethod
    def with_parameter(CK_MECHANISM_TYPE mechanism, parameter):
        """A mechanism whose parameter is a plain byte string (kept as an immutable copy)."""
        cdef bytes value = bytes(parameter)
        if not value:
            return Mechanism(mechanism)
        return Mechanism(mechanism, <uintptr_t>PyBytes_AS_STRING(value), _ops_ulong_len(len(value)), value)

    @property
    def type(self):
        return self.mech.mechanism

    @property
    def parameter_address(self):
        return <uintptr_t>self.mech.pParameter

    @property
    def parameter_length(self):
        return self.mech.ulParameterLen

    @property
    def address(self):
        """The address of the ``CK_MECHANISM`` inside this object (valid while the object lives)."""
        return <uintptr_t>&self.mech

    def __repr__(self):
        if self.mech.pParameter == NULL:
            return f"<p11._native.Mechanism 0x{self.mech.mechanism:08X}>"
        return f"<p11._native.Mechanism 0x{self.mech.mechanism:08X} parameter={self.mech.ulParameterLen} bytes>"

    def __reduce__(self):
        raise TypeError("a p11._native.Mechanism points at process memory and cannot be pickled")


_ops_mechanism_cache = {}


def mechanism_for(mechanism):
    """The cached parameterless :class:`Mechanism` for a ``CKM_*`` value."""
    cdef object m = _ops_mechanism_cache.get(mechanism)
    if m is None:
        m = Mechanism(<CK_MECHANISM_TYPE>_ops_size_arg_slow(mechanism, "mechanism"))
        if len(_ops_mechanism_cache) < 4096:  # bounded: vendor values could otherwise grow it without end
            m = _ops_mechanism_cache.setdefault(mechanism, m)
    return m


cdef CK_MECHANISM* _ops_mechanism(object mechanism, CK_MECHANISM* scratch) except NULL:
    """The ``CK_MECHANISM*`` for ``mechanism``: inside a :class:`Mechanism`, or built in ``scratch`` for an int."""
    if isinstance(mechanism, Mechanism):
        return &(<Mechanism>mechanism).mech
    if PyLong_Check(mechanism) and not isinstance(mechanism, bool):
        scratch.mechanism = mechanism
        scratch.pParameter = NULL
        scratch.ulParameterLen = 0
        return scratch
    raise TypeError(f"mechanism must be a CKM_* int or a p11._native.Mechanism, not {type(mechanism).__name__}")


# ------------------------------------------------------------------------------------------------------------------
# The C cores (no GIL, no Python objects)
# ------------------------------------------------------------------------------------------------------------------

cdef inline CK_RV _ops_init(p11_gate* f, int op, CK_SESSION_HANDLE h, CK_MECHANISM* m,
                            CK_OBJECT_HANDLE key) noexcept nogil:
    # A module may leave a function pointer NULL: that is "not supported", never a call through NULL.
    if op == _OP_SIGN:
        if not p11g_has_C_SignInit(f) or not p11g_has_C_Sign(f):
            return CKR_FUNCTION_NOT_SUPPORTED
        return p11g_C_SignInit(f, h, m, key)
    if op == _OP_ENCRYPT:
        if not p11g_has_C_EncryptInit(f) or not p11g_has_C_Encrypt(f):
            return CKR_FUNCTION_NOT_SUPPORTED
        return p11g_C_EncryptInit(f, h, m, key)
    if op == _OP_DECRYPT:
        if not p11g_has_C_DecryptInit(f) or not p11g_has_C_Decrypt(f):
            return CKR_FUNCTION_NOT_SUPPORTED
        return p11g_C_DecryptInit(f, h, m, key)
    if op == _OP_VERIFY:
        if not p11g_has_C_VerifyInit(f) or not p11g_has_C_Verify(f):
            return CKR_FUNCTION_NOT_SUPPORTED
        return p11g_C_VerifyInit(f, h, m, key)
    if not p11g_has_C_DigestInit(f) or not p11g_has_C_Digest(f):
        return CKR_FUNCTION_NOT_SUPPORTED
    return p11g_C_DigestInit(f, h, m)


cdef inline CK_RV _ops_call(p11_gate* f, int op, CK_SESSION_HANDLE h, const unsigned char* data,
                            CK_ULONG dlen, unsigned char* out, CK_ULONG* n) noexcept nogil:
    if op == _OP_SIGN:
        return p11g_C_Sign(f, h, <CK_BYTE_PTR>data, dlen, out, n)
    if op == _OP_ENCRYPT:
        return p11g_C_Encrypt(f, h, <CK_BYTE_PTR>data, dlen, out, n)
    if op == _OP_DECRYPT:
        return p11g_C_Decrypt(f, h, <CK_BYTE_PTR>data, dlen, out, n)
    return p11g_C_Digest(f, h, <CK_BYTE_PTR>data, dlen, out, n)


cdef inline void _ops_cancel(p11_gate* f, int op, CK_SESSION_HANDLE h) noexcept nogil:
    # PKCS#11 3.x: an Init with a NULL mechanism ends the active operation. A 2.x module has no way to do that;
    # the pool then replaces the session when its next Init answers CKR_OPERATION_ACTIVE.
    if f.major >= 3:
        _ops_init(f, op, h, NULL, 0)


cdef CK_RV _ops_one_shot(p11_gate* f, int op, CK_SESSION_HANDLE h, CK_MECHANISM* m, CK_OBJECT_HANDLE key,
                         const unsigned char* data, CK_ULONG dlen, unsigned char* out, CK_ULONG cap,
                         CK_ULONG* out_len, unsigned char** heap, int* stage, const _OpsPin* pin) noexcept nogil:
    """Init + single-part call. The output goes to ``out`` (``cap`` bytes); when that is too small, the exact size
    is learnt (the operation stays active after ``CKR_BUFFER_TOO_SMALL``, per the specification), ``*heap`` is
    malloc'd with it and the call made again. ``*stage`` says which call the returned value belongs to (0: Init).
    ``pin`` (NULL: none) is logged in after each Init, for a key that needs its PIN on every use
    (context_login.pxi)."""
    cdef CK_RV rv
    cdef CK_ULONG n = cap
    cdef unsigned char* p
    cdef CK_ULONG size
    stage[0] = 0
    rv = _ops_init(f, op, h, m, key)
    if rv != CKR_OK:
        return rv
    rv = _ops_context_login(f, op, h, pin, data, dlen, out, cap, stage)
    if rv != CKR_OK:
        return rv
    stage[0] = 1
    rv = _ops_call(f, op, h, data, dlen, out, &n)
    if rv == CKR_BUFFER_TOO_SMALL:
        if n <= cap:
            # The module did not say how much it needs: ask (a NULL output leaves the operation active).
            n = 0
            rv = _ops_call(f, op, h, data, dlen, NULL, &n)
            if rv != CKR_OK:
                return rv  # a failed call ends the operation
            if n <= cap:
                n = cap + cap + 64
        p = <unsigned char*>malloc(n if n else 1)
        if p == NULL:
            _ops_cancel(f, op, h)
            return CKR_HOST_MEMORY
        size = n
        rv = _ops_call(f, op, h, data, dlen, p, &n)
        if rv == CKR_OPERATION_NOT_INITIALIZED:
            # Against the specification, this module ended the operation at CKR_BUFFER_TOO_SMALL: start again.
            stage[0] = 0
            rv = _ops_init(f, op, h, m, key)
            if rv == CKR_OK:
                rv = _ops_context_login(f, op, h, pin, data, dlen, p, size, stage)
            if rv == CKR_OK:
                stage[0] = 1
                rv = _ops_call(f, op, h, data, dlen, p, &n)
        if rv != CKR_OK:
            if rv == CKR_BUFFER_TOO_SMALL:
                _ops_cancel(f, op, h)
            free(p)
            return rv
        if n > size:  # a reply longer than its buffer: the bytes past the end are not the module's output
            free(p)
            return CKR_GENERAL_ERROR
        heap[0] = p
    elif n > cap:
        return CKR_GENERAL_ERROR
    out_len[0] = n
    return rv


cdef inline CK_RV _ops_verify_one(p11_gate* f, CK_SESSION_HANDLE h, CK_MECHANISM* m, CK_OBJECT_HANDLE key,
                                  const unsigned char* data, CK_ULONG dlen, const unsigned char* sig,
                                  CK_ULONG slen, int* stage) noexcept nogil:
    cdef CK_RV rv
    stage[0] = 0
    rv = _ops_init(f, _OP_VERIFY, h, m, key)
    if rv != CKR_OK:
        return rv
    stage[0] = 1
    return p11g_C_Verify(f, h, <CK_BYTE_PTR>data, dlen, <CK_BYTE_PTR>sig, slen)  # always ends the operation


cdef inline bint _ops_is_bad_signature(CK_RV rv) noexcept nogil:
    # A signature of the wrong length is as invalid as one with the wrong bytes: verify answers False for both.
    return rv == CKR_SIGNATURE_INVALID or rv == CKR_SIGNATURE_LEN_RANGE


cdef inline bint _ops_session_gone(CK_RV rv) noexcept nogil:
    """Return values after which the session cannot be used again (every later item would fail the same way)."""
    return (rv == CKR_SESSION_HANDLE_INVALID or rv == CKR_SESSION_CLOSED or rv == CKR_DEVICE_REMOVED
            or rv == CKR_TOKEN_NOT_PRESENT or rv == CKR_USER_NOT_LOGGED_IN or rv == CKR_OPERATION_ACTIVE
            or rv == CKR_CRYPTOKI_NOT_INITIALIZED)


cdef inline bint _ops_batch_fatal(CK_RV rv) noexcept nogil:
    """Failures that every later item of a batch would meet too (dead session, invalid key): a chunk stops at the
    first one in either error mode, and the batch raises it."""
    return _ops_session_gone(rv) or rv == CKR_KEY_HANDLE_INVALID or rv == CKR_OBJECT_HANDLE_INVALID


# ------------------------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------------------------

cdef str _ops_function_name(int op, int stage):
    if stage == _OPS_STAGE_LOGIN:
        return "C_Login"
    if op == _OP_SIGN:
        return "C_Sign" if stage else "C_SignInit"
    if op == _OP_ENCRYPT:
        return "C_Encrypt" if stage else "C_EncryptInit"
    if op == _OP_DECRYPT:
        return "C_Decrypt" if stage else "C_DecryptInit"
    if op == _OP_VERIFY:
        return "C_Verify" if stage else "C_VerifyInit"
    if op == _OP_RANDOM:
        return "C_GenerateRandom"
    return "C_Digest" if stage else "C_DigestInit"


cdef object _ops_error(CK_RV rv, str function, object detail=None):
    return _ops_error_class(rv)(rv, function, detail)


cdef object _ops_item_error(CK_RV rv, str function, Py_ssize_t index):
    """The exception for a failed batch item: names the index in the message and in ``.index``."""
    exc = _ops_error_class(rv)(rv, function, f"batch item {index}")
    exc.index = index
    return exc


# ------------------------------------------------------------------------------------------------------------------
# Single operations
# ------------------------------------------------------------------------------------------------------------------

cdef object _ops_single(p11_gate* f, int op, CK_SESSION_HANDLE h, CK_MECHANISM* m, CK_OBJECT_HANDLE key,
                        const unsigned char* data, CK_ULONG dlen, Py_ssize_t guess, CK_RV* prv, int* pstage,
                        const _OpsPin* pin):
    """One crossing: Init (+ the per-use login with ``pin``, NULL: none) + call. Returns the output bytes, or None
    with ``*prv`` set to the failure."""
    cdef unsigned char stackbuf[_OPS_STACK_CAP]
    cdef unsigned char* heap = NULL
    cdef PyObject* pre = NULL
    cdef unsigned char* out
    cdef CK_ULONG cap
    cdef CK_ULONG n = 0
    cdef CK_RV rv
    cdef object result
    if guess < 0:
        raise ValueError("out_len must be >= 0")
    if guess > _OPS_STACK_CAP:
        cap = _ops_ulong_len(guess)
        pre = _ops_bytes_new(NULL, guess)
        out = <unsigned char*>PyBytes_AS_STRING(<object>pre)
    else:
        out = stackbuf
        cap = <CK_ULONG>guess if guess else _OPS_STACK_CAP
    with nogil:
        rv = _ops_one_shot(f, op, h, m, key, data, dlen, out, cap, &n, &heap, pstage, pin)
    prv[0] = rv
    if rv != CKR_OK:
        Py_XDECREF(pre)
        return None
    if heap != NULL:
        Py_XDECREF(pre)
        try:
            return PyBytes_FromStringAndSize(<char*>heap, n)
        finally:
            free(heap)
    if pre != NULL:
        if n != cap:
            _ops_bytes_resize(&pre, <Py_ssize_t>n)  # frees and NULLs pre when it fails
        result = <object>pre
        Py_DECREF(result)  # result now holds the only reference
        return result
    return PyBytes_FromStringAndSize(<char*>stackbuf, n)


cdef object _ops_single_op(object gate, int op, CK_SESSION_HANDLE session, object mechanism, CK_OBJECT_HANDLE key,
                           object data, Py_ssize_t out_len, object pin=None):
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_MECHANISM scratch
    cdef CK_MECHANISM* m = _ops_mechanism(mechanism, &scratch)
    cdef _OpsInput inp
    cdef _OpsPin p
    cdef CK_RV rv = CKR_OK
    cdef int stage = 0
    _ops_input_get(&inp, data, "data")
    try:
        _ops_pin_take(&p, pin)
        try:
            result = _ops_single(f, op, session, m, key, inp.ptr, inp.len, out_len, &rv, &stage, &p)
        finally:
            _ops_pin_wipe(&p)
    finally:
        _ops_input_release(&inp)
    if rv != CKR_OK:
        raise _ops_error(rv, _ops_function_name(op, stage))
    return result


def sign(gate, CK_SESSION_HANDLE session, mechanism, CK_OBJECT_HANDLE key, data, Py_ssize_t out_len=0, pin=None):
    """``C_SignInit`` + ``C_Sign`` in one crossing; ``out_len`` is the expected signature size (0: unknown).
    ``pin`` (str or bytes): ``C_Login(CKU_CONTEXT_SPECIFIC)`` between the two, for a key with
    ``CKA_ALWAYS_AUTHENTICATE``; a PIN the token refuses raises (``PinIncorrect`` …) with no operation left active."""
    return _ops_single_op(gate, _OP_SIGN, session, mechanism, key, data, out_len, pin)


def encrypt(gate, CK_SESSION_HANDLE session, mechanism, CK_OBJECT_HANDLE key, data, Py_ssize_t out_len=0):
    """``C_EncryptInit`` + ``C_Encrypt`` in one crossing; ``out_len`` is the expected ciphertext size."""
    return _ops_single_op(gate, _OP_ENCRYPT, session, mechanism, key, data, out_len)


def decrypt(gate, CK_SESSION_HANDLE session, mechanism, CK_OBJECT_HANDLE key, data, Py_ssize_t out_len=0, pin=None):
    """``C_DecryptInit`` + ``C_Decrypt`` in one crossing; ``out_len`` is an upper bound of the plaintext size.
    ``pin``: the per-use login, as for :func:`sign`."""
    return _ops_single_op(gate, _OP_DECRYPT, session, mechanism, key, data, out_len, pin)


def digest(gate, CK_SESSION_HANDLE session, mechanism, data, Py_ssize_t out_len=0):
    """``C_DigestInit`` + ``C_Digest`` in one crossing."""
    return _ops_single_op(gate, _OP_DIGEST, session, mechanism, 0, data, out_len)


cdef object _ops_verify_in(p11_gate* f, CK_SESSION_HANDLE h, CK_MECHANISM* m, CK_OBJECT_HANDLE key,
                           _OpsInput* d, _OpsInput* s, CK_RV* prv):
    """True/False for a verification, or None with ``*prv`` set to a failure that is not a bad signature."""
    cdef CK_RV rv
    cdef int stage = 0
    with nogil:
        rv = _ops_verify_one(f, h, m, key, d.ptr, d.len, s.ptr, s.len, &stage)
    if rv == CKR_OK:
        prv[0] = rv
        return True
    if stage == 1 and _ops_is_bad_signature(rv):
        prv[0] = CKR_OK
        return False
    prv[0] = rv
    return "C_Verify" if stage else "C_VerifyInit"


def verify(gate, CK_SESSION_HANDLE session, mechanism, CK_OBJECT_HANDLE key, data, signature):
    """``C_VerifyInit`` + ``C_Verify`` in one crossing: True, or False for a signature that does not verify
    (``CKR_SIGNATURE_INVALID`` or ``CKR_SIGNATURE_LEN_RANGE``); any other failure raises."""
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_MECHANISM scratch
    cdef CK_MECHANISM* m = _ops_mechanism(mechanism, &scratch)
    cdef _OpsInput d
    cdef _OpsInput s
    cdef CK_RV rv = CKR_OK
    s.has_view = False
    _ops_input_get(&d, data, "data")
    try:
        _ops_input_get(&s, signature, "signature")
        result = _ops_verify_in(f, session, m, key, &d, &s, &rv)
    finally:
        _ops_input_release(&s)
        _ops_input_release(&d)
    if rv != CKR_OK:
        raise _ops_error(rv, result)
    return result


def generate_random(gate, CK_SESSION_HANDLE session, n):
    """``C_GenerateRandom`` of ``n`` bytes (0 to ``MAX_RANDOM_BYTES``, 16 MiB), written straight into the
    returned bytes object."""
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_RV rv
    cdef Py_ssize_t size = _size_arg(n, "n", 0, _OPS_MAX_RANDOM)
    cdef CK_ULONG count = <CK_ULONG>size
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    if size == 0:
        return out
    _require(p11g_has_C_GenerateRandom(f), "C_GenerateRandom")
    with nogil:
        rv = p11g_C_GenerateRandom(f, session, p, count)
    if rv != CKR_OK:
        raise _ops_error(rv, "C_GenerateRandom")
    return out


cdef CK_SESSION_HANDLE _ops_open_session(object gate, CK_SLOT_ID slot_id, bint rw) except? 0:
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_FLAGS flags = CKF_SERIAL_SESSION | (CKF_RW_SESSION if rw else 0)
    cdef CK_SESSION_HANDLE h = 0
    cdef CK_RV rv
    _require(p11g_has_C_OpenSession(f), "C_OpenSession")
    with nogil:
        rv = p11g_C_OpenSession(f, slot_id, flags, NULL, NULL, &h)
    if rv != CKR_OK:
        raise _ops_error(rv, "C_OpenSession")
    return h


def open_session(gate, CK_SLOT_ID slot_id, bint rw=True):
    """``C_OpenSession`` (serial, read-write unless ``rw=False``, no callback): the new session handle."""
    return _ops_open_session(gate, slot_id, rw)


cdef int _ops_close_session(object gate, CK_SESSION_HANDLE session) except -1:
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_RV rv
    _require(p11g_has_C_CloseSession(f), "C_CloseSession")
    with nogil:
        rv = p11g_C_CloseSession(f, session)
    if rv != CKR_OK:
        raise _ops_error(rv, "C_CloseSession")
    return 0


cdef int _ops_close_owned_session(object gate, CK_SESSION_HANDLE session) except -1:
    """Close a Session object's handle. One the module already forgot (CKR_SESSION_HANDLE_INVALID/_CLOSED: the
    device went away, C_CloseAllSessions) is closed as asked: ``with`` must not turn that into a second error."""
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_RV rv
    _require(p11g_has_C_CloseSession(f), "C_CloseSession")
    with nogil:
        rv = p11g_C_CloseSession(f, session)
    if rv != CKR_OK and rv != CKR_SESSION_HANDLE_INVALID and rv != CKR_SESSION_CLOSED:
        raise _ops_error(rv, "C_CloseSession")
    return 0


def close_owned_session(gate, CK_SESSION_HANDLE session):
    """Close a Session object's handle (``C_CloseSession``); a handle the module already forgot counts as closed."""
    _ops_close_owned_session(gate, session)


def close_session(gate, CK_SESSION_HANDLE session):
    """``C_CloseSession``."""
    _ops_close_session(gate, session)


# ------------------------------------------------------------------------------------------------------------------
# Batches
# ------------------------------------------------------------------------------------------------------------------

cdef enum:
    _B_SIGN = 1
    _B_VERIFY = 2
    _B_GCM_ENCRYPT = 3
    _B_GCM_DECRYPT = 4

cdef struct _BatchItem:
    const unsigned char* data
    CK_ULONG data_len
    const unsigned char* extra      # the signature (verify) or the IV (GCM)
    CK_ULONG extra_len
    const unsigned char* aad        # GCM additional data
    CK_ULONG aad_len
    unsigned char* out              # output of a successful item (in a run's slab, or malloc'd), else NULL
    CK_ULONG out_len
    unsigned char* slab             # the output slab of the run that started at this item (owned here), or NULL
    int owned                       # 1: ``out`` was malloc'd for this item alone (freed with it)
    CK_RV rv
    int stage                       # which call rv belongs to: 0 Init, 1 the operation, 2 C_GenerateRandom
    int done                        # 1 once the item ran (successfully or not)

cdef struct _BatchC:
    int kind
    p11_gate* f
    CK_MECHANISM mech
    CK_OBJECT_HANDLE key
    Py_ssize_t n
    _BatchItem* items
    CK_ULONG out_cap                # signatures: expected size per item (0: learnt from the first one)
    CK_ULONG tag_bits               # GCM
    CK_ULONG iv_len                 # GCM, generated IVs
    unsigned char* ivs              # GCM, generated IVs: n * iv_len bytes, filled inside the crossing
    bint stop_on_error              # on_error="raise": a chunk stops at its first failure
    volatile int cancel             # set (GIL held) after a signal: every run stops before its next item
    _OpsPin pin                     # the per-use login of every item (context_login.pxi), or empty


cdef inline bint _ops_item_fatal(_BatchItem* it) noexcept nogil:
    """A batch item's failure that stops its chunk in either error mode: _ops_batch_fatal, or a per-use login that
    failed (a PIN the token refused is never offered again, item after item: context_login.pxi)."""
    return _ops_batch_fatal(it.rv) or it.stage == _OPS_STAGE_LOGIN


cdef inline CK_ULONG _batch_cap(_BatchC* c, _BatchItem* it, CK_ULONG learnt) noexcept nogil:
    """The output size item ``it`` needs (its slot in a slab); 0 while a signature's size is still unknown."""
    cdef CK_ULONG cap
    if c.kind == _B_SIGN:
        cap = c.out_cap if c.out_cap else learnt
        return cap
    if c.kind == _B_GCM_ENCRYPT:
        cap = it.data_len + (c.tag_bits + 7) // 8
    else:
        cap = it.data_len
    return cap if cap else 1


cdef unsigned char* _batch_slab(_BatchC* c, Py_ssize_t start, Py_ssize_t end, CK_ULONG learnt) noexcept nogil:
    """One buffer for the outputs of items [start, end), each at its known size, or NULL (a size still unknown,
    or no memory: those items then get a buffer each). Allocated once per run, before its loop."""
    cdef size_t total = 0
    cdef size_t cap
    cdef Py_ssize_t i
    for i in range(start, end):
        cap = _batch_cap(c, &c.items[i], learnt)
        if cap == 0 or total + cap < total:
            return NULL
        total += cap
    if total == 0:
        return NULL
    return <unsigned char*>malloc(total)


cdef CK_RV _batch_item(_BatchC* c, _BatchItem* it, CK_SESSION_HANDLE h, CK_ULONG* learnt,
                       unsigned char* slot, CK_ULONG slot_cap) noexcept nogil:
    """Run one item. Its output goes to ``slot`` (its ``slot_cap`` bytes in the run's slab) when given,
    else to a buffer of its own; a size guess that was too small still ends in a heap buffer of the exact size."""
    cdef CK_RV rv
    cdef CK_ULONG cap
    cdef CK_ULONG n = 0
    cdef unsigned char* buf
    cdef unsigned char* heap = NULL
    cdef CK_GCM_PARAMS gcm
    cdef CK_MECHANISM m
    cdef int op
    if c.kind == _B_VERIFY:
        return _ops_verify_one(c.f, h, &c.mech, c.key, it.data, it.data_len, it.extra, it.extra_len, &it.stage)
    if c.kind == _B_SIGN:
        op = _OP_SIGN
        cap = c.out_cap if c.out_cap else (learnt[0] if learnt[0] else _OPS_STACK_CAP)
        m = c.mech
    else:
        gcm.pIv = <CK_BYTE_PTR>it.extra
        gcm.ulIvLen = it.extra_len
        gcm.ulIvBits = it.extra_len * 8
        gcm.pAAD = <CK_BYTE_PTR>it.aad
        gcm.ulAADLen = it.aad_len
        gcm.ulTagBits = c.tag_bits
        m.mechanism = c.mech.mechanism
        m.pParameter = &gcm
        m.ulParameterLen = sizeof(CK_GCM_PARAMS)
        if c.kind == _B_GCM_ENCRYPT:
            op = _OP_ENCRYPT
            cap = it.data_len + (c.tag_bits + 7) // 8
        else:
            op = _OP_DECRYPT
            cap = it.data_len
    if cap == 0:
        cap = 1
    if slot != NULL:
        buf = slot
        cap = slot_cap
    else:
        buf = <unsigned char*>malloc(cap)
        if buf == NULL:
            return CKR_HOST_MEMORY
    rv = _ops_one_shot(c.f, op, h, &m, c.key, it.data, it.data_len, buf, cap, &n, &heap, &it.stage, &c.pin)
    if rv != CKR_OK:
        if slot == NULL:
            free(buf)
        return rv
    if heap != NULL:
        if slot == NULL:
            free(buf)
        it.out = heap
        it.owned = 1
    else:
        it.out = buf
        it.owned = slot == NULL
    it.out_len = n
    if c.kind == _B_SIGN and c.out_cap == 0 and n:
        learnt[0] = n
    return rv


cdef Py_ssize_t _batch_run(_BatchC* c, Py_ssize_t start, Py_ssize_t end, CK_SESSION_HANDLE h) noexcept nogil:
    """Run items [start, end) on session ``h``. Returns ``end``, or the index of the item it stopped at: the first
    failure in raise mode, or one that every later item would meet too (in either mode: _ops_batch_fatal)."""
    cdef Py_ssize_t i
    cdef CK_RV rv
    cdef CK_ULONG learnt = 0
    cdef _BatchItem* it
    cdef unsigned char* slab = NULL
    cdef unsigned char* slot = NULL
    cdef CK_ULONG slab_learnt = 0  # the signature size the slab was cut for (learnt may change later)
    cdef CK_ULONG slot_cap = 0
    cdef bint slab_tried = c.kind == _B_VERIFY  # verify has no output
    if c.ivs != NULL and end > start:
        rv = CKR_FUNCTION_NOT_SUPPORTED
        if p11g_has_C_GenerateRandom(c.f):
            rv = p11g_C_GenerateRandom(c.f, h, c.ivs + start * c.iv_len, <CK_ULONG>(end - start) * c.iv_len)
        if rv != CKR_OK:
            for i in range(start, end):
                it = &c.items[i]
                it.rv = rv
                it.stage = 2
                it.done = 1
                if c.stop_on_error or _ops_batch_fatal(rv):
                    return i
            return end
    for i in range(start, end):
        if c.cancel:
            return i
        it = &c.items[i]
        if not slab_tried and _batch_cap(c, it, learnt) != 0:
            # Every later size is known now (a signature's from the first one): one buffer for the rest of the run,
            # owned by this item, so the loop allocates nothing more.
            slab_tried = True
            slab_learnt = learnt
            slab = _batch_slab(c, i, end, slab_learnt)
            if slab != NULL:
                if it.slab != NULL:
                    free(it.slab)
                it.slab = slab
            slot = slab
        if slot != NULL:
            slot_cap = _batch_cap(c, it, slab_learnt)
        rv = _batch_item(c, it, h, &learnt, slot, slot_cap)
        if slot != NULL:
            slot += slot_cap
        it.rv = rv
        it.done = 1
        if rv != CKR_OK:
            if c.kind == _B_VERIFY and it.stage == 1 and _ops_is_bad_signature(rv):
                continue
            if c.stop_on_error or _ops_item_fatal(it):
                return i
    return end


cdef bint _ops_raise_mode(str on_error) except -1:
    if on_error == "raise":
        return True
    if on_error == "return":
        return False
    raise ValueError(f"on_error must be 'raise' or 'return', not {on_error!r}")


cdef inline void _batch_clear_items(_BatchItem* items, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        items[i].data = _ops_empty
        items[i].data_len = 0
        items[i].extra = _ops_empty
        items[i].extra_len = 0
        items[i].aad = _ops_empty
        items[i].aad_len = 0
        items[i].out = NULL
        items[i].out_len = 0
        items[i].slab = NULL
        items[i].owned = 0
        items[i].rv = CKR_OK
        items[i].stage = 0
        items[i].done = 0


cdef class _Batch:
    """The C arrays of one batch and the Python objects that keep its inputs alive.

    Inputs: every sequence is snapshotted into a tuple (:func:`_ops_sequence`) held in ``keep``, so each item stays
    referenced whatever another thread does to the caller's list; a non-``bytes`` item is pointed at through a
    memoryview held in ``keep`` (a buffer export: a bytearray cannot be resized while the batch holds it)."""

    cdef _BatchC c
    cdef list keep
    cdef object mech_keep
    cdef object given_ivs
    cdef object interrupt           # the exception a signal handler raised between chunks, if any

    def __cinit__(self):
        self.c.items = NULL
        self.c.ivs = NULL
        self.c.n = 0
        self.c.cancel = 0
        self.c.pin.ptr = NULL
        self.c.pin.len = 0
        self.keep = []

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.c.items != NULL:
            for i in range(self.c.n):
                if self.c.items[i].owned and self.c.items[i].out != NULL:
                    free(self.c.items[i].out)
                if self.c.items[i].slab != NULL:
                    free(self.c.items[i].slab)
            free(self.c.items)
            self.c.items = NULL
        if self.c.ivs != NULL:
            free(self.c.ivs)
            self.c.ivs = NULL
        _ops_pin_wipe(&self.c.pin)

    cdef int setup(self, p11_gate* f, int kind, object mechanism, CK_OBJECT_HANDLE key, Py_ssize_t n,
                   bint raise_mode) except -1:
        cdef CK_MECHANISM* m
        self.c.kind = kind
        self.c.f = f
        self.c.key = key
        self.c.stop_on_error = raise_mode
        m = _ops_mechanism(mechanism, &self.c.mech)
        if m != &self.c.mech:
            self.c.mech = m[0]
        self.mech_keep = mechanism
        self.c.items = <_BatchItem*>malloc(sizeof(_BatchItem) * (n if n else 1))
        if self.c.items == NULL:
            raise MemoryError()
        self.c.n = n
        _batch_clear_items(self.c.items, n)
        return 0

    cdef int pointer(self, object obj, const unsigned char** ptr, CK_ULONG* length, str what,
                     Py_ssize_t index) except -1:
        """Point at ``obj``'s bytes for the crossing; ``self.keep`` holds whatever keeps them valid."""
        cdef const void* buf
        cdef Py_ssize_t n
        if PyBytes_CheckExact(obj):
            ptr[0] = <const unsigned char*>PyBytes_AS_STRING(obj)
            length[0] = _ops_ulong_len(PyBytes_GET_SIZE(obj))
            return 0
        if isinstance(obj, str):
            raise TypeError(f"{what} {index} must be a bytes-like object, not str")
        try:
            mv = memoryview(obj)
        except TypeError:
            raise TypeError(f"{what} {index} must be a bytes-like object, not {type(obj).__name__}") from None
        if not mv.c_contiguous:
            mv = memoryview(_ops_contiguous(mv, what, index))  # a strided view: the batch points at a copy
        self.keep.append(mv)
        _ops_memoryview_buffer(mv, &buf, &n)
        ptr[0] = <const unsigned char*>buf if buf != NULL else _ops_empty
        length[0] = _ops_ulong_len(n)
        return 0

    def run(self, Py_ssize_t start, Py_ssize_t end, CK_SESSION_HANDLE session):
        """Run items [start, end) on ``session`` without the GIL; returns where it stopped (see _batch_run)."""
        cdef Py_ssize_t stop
        if start < 0 or end > self.c.n or start > end:
            raise IndexError("batch range out of bounds")
        with nogil:
            stop = _batch_run(&self.c, start, end, session)
        return stop

    cdef Py_ssize_t run_interruptible(self, Py_ssize_t start, Py_ssize_t end, CK_SESSION_HANDLE session) except -1:
        """:meth:`run` in chunks, each ONE crossing without the GIL; between chunks the signal handlers run
        (PyErr_CheckSignals), so Ctrl-C interrupts a long batch within about one chunk (~10 ms of work, sizes
        adapt). Returns where it stopped, as :meth:`run`; a handler's exception propagates (see
        :meth:`check_signals`)."""
        cdef Py_ssize_t s = start, e, stop, chunk = _BATCH_FIRST_CHUNK
        cdef double t0, took
        clock = _ops_time.perf_counter
        while s < end:
            e = s + chunk if chunk < end - s else end
            t0 = clock()
            stop = self.run(s, e, session)
            if stop < e:
                return stop
            s = e
            if s < end:
                self.check_signals()
                took = clock() - t0
                if took < _BATCH_CHUNK_TARGET / 2 and chunk < _BATCH_MAX_CHUNK:
                    chunk *= 2
                elif took > _BATCH_CHUNK_TARGET * 2 and chunk > 1:
                    chunk //= 2
        return end

    cdef int check_signals(self) except -1:
        """Run pending signal handlers; when one raises (KeyboardInterrupt), every run of this batch stops before
        its next item (native workers included) and the exception is remembered for :meth:`interrupted`."""
        try:
            PyErr_CheckSignals()
        except BaseException as exc:
            self.c.cancel = 1
            self.interrupt = exc
            raise
        return 0

    cdef int interrupted(self, object exc) except -1:
        """Say on ``exc`` (raised by a signal handler between chunks; every run has stopped) how far the batch
        got: ``exc.completed`` counts the items that ran, the message of an argument-less exception (a plain
        KeyboardInterrupt) or else a note says so, and with ``on_error="return"`` ``exc.results`` is the result list with ``None`` for the items
        that did not run."""
        cdef Py_ssize_t i, done = 0
        if exc is not self.interrupt:
            return 0
        for i in range(self.c.n):
            if self.c.items[i].done:
                done += 1
        message = f"p11: batch interrupted after {done} of {self.c.n} items"
        exc.completed = done
        if not self.c.stop_on_error:
            exc.results = self.results(True)
            message += " (the finished results are in .results)"
        if not exc.args:
            exc.args = (message,)
        else:
            exc.add_note(message)
        return 0

    cdef void reset(self, Py_ssize_t start, Py_ssize_t end) noexcept:
        """Forget the results of items [start, end) so they can run again on another session. ``end`` is the end
        of the run that produced them (a slab owned by an item in the range is used only up to that end)."""
        cdef Py_ssize_t i
        for i in range(start, end):
            if self.c.items[i].owned and self.c.items[i].out != NULL:
                free(self.c.items[i].out)
            self.c.items[i].out = NULL
            self.c.items[i].owned = 0
            if self.c.items[i].slab != NULL:
                free(self.c.items[i].slab)
                self.c.items[i].slab = NULL
            self.c.items[i].done = 0
            self.c.items[i].rv = CKR_OK
            self.c.items[i].stage = 0

    cdef Py_ssize_t first_unfinished(self):
        """The index of the first item that did not run, or -1."""
        cdef Py_ssize_t i
        for i in range(self.c.n):
            if not self.c.items[i].done:
                return i
        return -1

    cdef str function_name(self, _BatchItem* it):
        if it.stage == 2:
            return "C_GenerateRandom"
        if it.stage == _OPS_STAGE_LOGIN:
            return "C_Login"
        if self.c.kind == _B_SIGN:
            return _ops_function_name(_OP_SIGN, it.stage)
        if self.c.kind == _B_VERIFY:
            return _ops_function_name(_OP_VERIFY, it.stage)
        if self.c.kind == _B_GCM_ENCRYPT:
            return _ops_function_name(_OP_ENCRYPT, it.stage)
        return _ops_function_name(_OP_DECRYPT, it.stage)

    cdef list results(self, bint partial=False):
        """The result list in input order. Raise mode: the first failure (by index) raises. Return mode: failed
        items hold their exception. An item that never ran (its session died) raises that session's error.
        ``partial`` (an interrupted batch): items that did not run are None, and no failure raises."""
        cdef Py_ssize_t i
        cdef _BatchItem* it
        cdef list out = [None] * self.c.n
        cdef object value
        for i in range(self.c.n):
            it = &self.c.items[i]
            if not it.done:
                if partial:
                    continue
                raise RuntimeError(f"batch item {i} did not run")  # only after an error raised below
            if it.rv != CKR_OK:
                if self.c.kind == _B_VERIFY and it.stage == 1 and _ops_is_bad_signature(it.rv):
                    out[i] = False
                    continue
                exc = _ops_item_error(it.rv, self.function_name(it), i)
                if not partial and (self.c.stop_on_error or _ops_item_fatal(it)):
                    raise exc
                out[i] = exc
                continue
            if self.c.kind == _B_VERIFY:
                out[i] = True
                continue
            value = PyBytes_FromStringAndSize(<char*>it.out, it.out_len)
            if it.owned:
                free(it.out)
                it.owned = 0
            it.out = NULL
            if self.c.kind == _B_GCM_ENCRYPT:
                if self.c.ivs != NULL:
                    out[i] = (PyBytes_FromStringAndSize(<char*>self.c.ivs + i * self.c.iv_len, self.c.iv_len),
                              value)
                else:
                    iv = self.given_ivs[i]  # the batch's snapshot, not the caller's list
                    out[i] = (iv if PyBytes_CheckExact(iv) else bytes(iv), value)
            else:
                out[i] = value
        return out


cdef inline tuple _ops_sequence(object items, str what):
    """The batch's own snapshot of ``items``: a tuple holds a strong reference to every item, so another thread
    replacing items of the caller's list cannot free what the batch points at without the GIL."""
    if type(items) is tuple:
        return <tuple>items
    if isinstance(items, (bytes, bytearray, memoryview, str)):
        raise TypeError(f"{what} must be a sequence of bytes-like objects, not a single {type(items).__name__}")
    return tuple(items)


cdef _Batch _batch_sign(p11_gate* f, object mechanism, CK_OBJECT_HANDLE key, object messages,
                        Py_ssize_t out_len, bint raise_mode, object pin=None):
    cdef _Batch b = _Batch()
    cdef Py_ssize_t i
    messages = _ops_sequence(messages, "messages")
    if out_len < 0:
        raise ValueError("out_len must be >= 0")
    b.setup(f, _B_SIGN, mechanism, key, len(messages), raise_mode)
    b.keep.append(messages)
    b.c.out_cap = _ops_ulong_len(out_len)
    for i in range(b.c.n):
        b.pointer(messages[i], &b.c.items[i].data, &b.c.items[i].data_len, "message", i)
    _ops_pin_take(&b.c.pin, pin)  # last: a batch that cannot start never holds the PIN
    return b


cdef _Batch _batch_verify(p11_gate* f, object mechanism, CK_OBJECT_HANDLE key, object messages,
                          object signatures, bint raise_mode):
    cdef _Batch b = _Batch()
    cdef Py_ssize_t i
    messages = _ops_sequence(messages, "messages")
    signatures = _ops_sequence(signatures, "signatures")
    if len(messages) != len(signatures):
        raise ValueError(f"{len(messages)} messages but {len(signatures)} signatures")
    b.setup(f, _B_VERIFY, mechanism, key, len(messages), raise_mode)
    b.keep.append(messages)
    b.keep.append(signatures)
    for i in range(b.c.n):
        b.pointer(messages[i], &b.c.items[i].data, &b.c.items[i].data_len, "message", i)
        b.pointer(signatures[i], &b.c.items[i].extra, &b.c.items[i].extra_len, "signature", i)
    return b


cdef int _batch_aad(_Batch b, object aad) except -1:
    cdef Py_ssize_t i
    cdef const unsigned char* p = _ops_empty
    cdef CK_ULONG n = 0
    if aad is None:
        return 0
    if isinstance(aad, (list, tuple)):
        aad = tuple(aad)  # a snapshot: see _ops_sequence
        if len(aad) != b.c.n:
            raise ValueError(f"{b.c.n} messages but {len(aad)} additional data items")
        b.keep.append(aad)
        for i in range(b.c.n):
            b.pointer(aad[i], &b.c.items[i].aad, &b.c.items[i].aad_len, "aad", i)
        return 0
    b.pointer(aad, &p, &n, "aad", 0)
    b.keep.append(aad)
    for i in range(b.c.n):
        b.c.items[i].aad = p
        b.c.items[i].aad_len = n
    return 0


cdef int _batch_tag_bits(_Batch b, CK_ULONG tag_bits) except -1:
    if tag_bits == 0 or tag_bits > 128 or tag_bits % 8:
        raise ValueError(f"tag_bits must be a multiple of 8 between 8 and 128, not {tag_bits}")
    b.c.tag_bits = tag_bits
    return 0


cdef int _batch_given_ivs(_Batch b, tuple ivs) except -1:
    """Point every item at its IV, refusing an empty IV and an IV repeated within the batch (either would encrypt
    two messages with one keystream), with the index named."""
    cdef Py_ssize_t i
    cdef dict seen = {}
    for i in range(b.c.n):
        b.pointer(ivs[i], &b.c.items[i].extra, &b.c.items[i].extra_len, "iv", i)
        if b.c.items[i].extra_len == 0:
            raise ValueError(f"iv {i} is empty: every AES-GCM message needs a non-empty IV")
        value = PyBytes_FromStringAndSize(<const char*>b.c.items[i].extra, b.c.items[i].extra_len)
        first = seen.setdefault(value, i)
        if first != i:
            raise ValueError(f"iv {i} repeats iv {first}: never encrypt two messages with one IV and key")
    return 0


cdef _Batch _batch_gcm_encrypt(p11_gate* f, CK_OBJECT_HANDLE key, object messages, object ivs,
                               object aad, CK_ULONG tag_bits, object iv_length, object mechanism,
                               bint raise_mode):
    cdef _Batch b = _Batch()
    cdef Py_ssize_t i
    cdef Py_ssize_t iv_len
    messages = _ops_sequence(messages, "messages")
    b.setup(f, _B_GCM_ENCRYPT, mechanism, key, len(messages), raise_mode)
    b.keep.append(messages)
    _batch_tag_bits(b, tag_bits)
    for i in range(b.c.n):
        b.pointer(messages[i], &b.c.items[i].data, &b.c.items[i].data_len, "message", i)
    if ivs is None:
        iv_len = _size_arg(iv_length, "iv_len", 1, _OPS_MAX_IV)
        b.c.iv_len = _ops_ulong_len(iv_len)
        b.c.ivs = <unsigned char*>malloc(iv_len * (b.c.n if b.c.n else 1))
        if b.c.ivs == NULL:
            raise MemoryError()
        for i in range(b.c.n):
            b.c.items[i].extra = b.c.ivs + i * iv_len
            b.c.items[i].extra_len = b.c.iv_len
    else:
        ivs = _ops_sequence(ivs, "ivs")
        if len(ivs) != b.c.n:
            raise ValueError(f"{b.c.n} messages but {len(ivs)} IVs")
        b.keep.append(ivs)
        b.given_ivs = ivs
        _batch_given_ivs(b, ivs)
    _batch_aad(b, aad)
    return b


cdef _Batch _batch_gcm_decrypt(p11_gate* f, CK_OBJECT_HANDLE key, object items, object aad,
                               CK_ULONG tag_bits, object mechanism, bint raise_mode):
    cdef _Batch b = _Batch()
    cdef Py_ssize_t i
    items = _ops_sequence(items, "items")
    b.setup(f, _B_GCM_DECRYPT, mechanism, key, len(items), raise_mode)
    b.keep.append(items)
    _batch_tag_bits(b, tag_bits)
    for i in range(b.c.n):
        try:
            iv, ciphertext = items[i]
        except (TypeError, ValueError):
            raise TypeError(f"item {i} must be an (iv, ciphertext) pair") from None
        b.pointer(iv, &b.c.items[i].extra, &b.c.items[i].extra_len, "iv", i)
        b.pointer(ciphertext, &b.c.items[i].data, &b.c.items[i].data_len, "ciphertext", i)
        b.keep.append(iv)
        b.keep.append(ciphertext)
    _batch_aad(b, aad)
    return b


cdef list _batch_on_session(_Batch b, CK_SESSION_HANDLE session):
    if b.c.n:
        try:
            b.run_interruptible(0, b.c.n, session)
        except BaseException as exc:
            b.interrupted(exc)
            raise
        finally:
            _ops_pin_wipe(&b.c.pin)  # held for the run only, not until the batch object is collected
    return b.results()


def sign_many(gate, CK_SESSION_HANDLE session, mechanism, CK_OBJECT_HANDLE key, messages, Py_ssize_t out_len=0,
              str on_error="raise", pin=None):
    """Sign every message on one session in ONE crossing -> ``list[bytes]`` in input order (HMAC keys too).

    ``on_error="raise"``: the first failure raises, with ``.index`` naming the item; ``"return"``: failed items
    hold their exception object and the others their signature.

    Every batch function here keeps its own snapshot of the inputs (another thread may change the caller's lists
    meanwhile) and runs in chunks with the signal handlers run in between: Ctrl-C interrupts a long batch within
    about 10 ms of work plus one item. The handler's exception (KeyboardInterrupt) then has ``.completed``, the
    number of items that ran, says so in its message and notes, and with ``on_error="return"`` carries
    ``.results``: the result list with ``None`` for the items that did not run.

    ``pin``: every item logs in with it after its ``C_SignInit`` (a key with ``CKA_ALWAYS_AUTHENTICATE``); a PIN the
    token refuses stops the batch at that item in either error mode (it is never offered again)."""
    cdef bint raise_mode = _ops_raise_mode(on_error)
    return _batch_on_session(_batch_sign(_gate_at(gate), mechanism, key, messages, out_len, raise_mode, pin),
                             session)


def verify_many(gate, CK_SESSION_HANDLE session, mechanism, CK_OBJECT_HANDLE key, messages, signatures,
                str on_error="raise"):
    """Verify ``signatures[i]`` over ``messages[i]`` in ONE crossing -> ``list[bool]`` (a bad signature is False;
    other failures follow ``on_error`` as in :func:`sign_many`)."""
    cdef bint raise_mode = _ops_raise_mode(on_error)
    return _batch_on_session(_batch_verify(_gate_at(gate), mechanism, key, messages, signatures,
                                           raise_mode), session)


def encrypt_many(gate, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key, messages, *, ivs=None, aad=b"",
                 CK_ULONG tag_bits=128, iv_len=12, mechanism=CKM_AES_GCM, str on_error="raise"):
    """AES-GCM encrypt every message with its own IV in ONE crossing -> ``list[(iv, ciphertext)]``.

    IVs are generated with ``C_GenerateRandom`` (``iv_len`` bytes each, 1 to ``MAX_IV_LENGTH``) inside the same
    crossing, or taken from ``ivs`` (one per message, non-empty, no IV twice in a batch: never reuse an IV with
    one key). ``aad`` is one bytes-like object for all messages or a sequence with one per message. The
    ``CK_GCM_PARAMS`` of each message is built in C."""
    cdef bint raise_mode = _ops_raise_mode(on_error)
    return _batch_on_session(_batch_gcm_encrypt(_gate_at(gate), key, messages, ivs, aad, tag_bits,
                                                iv_len, mechanism, raise_mode), session)


def decrypt_many(gate, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key, items, *, aad=b"", CK_ULONG tag_bits=128,
                 mechanism=CKM_AES_GCM, str on_error="raise"):
    """AES-GCM decrypt ``(iv, ciphertext)`` pairs (as :func:`encrypt_many` returns them) in ONE crossing ->
    ``list[bytes]``. A tampered item fails with ``EncryptedDataInvalid`` (or the token's equivalent)."""
    cdef bint raise_mode = _ops_raise_mode(on_error)
    return _batch_on_session(_batch_gcm_decrypt(_gate_at(gate), key, items, aad, tag_bits, mechanism,
                                                raise_mode), session)
