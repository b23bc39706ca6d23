# Object calls: batched attribute reads, C_SetAttributeValue, C_CreateObject, and the whole find loop.
#
# Included by _native.pyx, after attributes.pxi. Why native: reading five attributes or finding a key by label is what
# every higher-level call does first. Here the C_* calls run with the GIL released, buffers come from the stack (or
# one heap block), and nothing inside the loops touches a Python object.

from cpython.long cimport PyLong_FromUnsignedLong
from libc.limits cimport ULONG_MAX
from libc.stdlib cimport calloc, free, malloc, realloc

from p11.errors import check as _check

# ------------------------------------------------------------------------------------------------------------------
# Reads
# ------------------------------------------------------------------------------------------------------------------

# Memory for a read: a chain of zeroed blocks, freed together at the end. Zeroed matters: a nested
# CK_ATTRIBUTE array must reach the token with every pValue NULL for its size query.
ctypedef struct _Block:
    _Block* next
    size_t pad   # keeps the payload 16-byte aligned

cdef void* _pool_alloc(_Block** pool, size_t size) noexcept nogil:
    cdef _Block* b = <_Block*>calloc(1, sizeof(_Block) + (size if size else 1))
    if b == NULL:
        return NULL
    b.next = pool[0]
    pool[0] = b
    return <char*>b + sizeof(_Block)

cdef void _pool_free(_Block* pool) noexcept nogil:
    cdef _Block* nxt
    while pool != NULL:
        nxt = pool.next
        free(pool)
        pool = nxt


cdef enum:
    _STACK_ATTRS = 16        # attributes read without a heap allocation
    _STACK_WORDS = 1024      # CK_ULONGs of value buffer on the stack (8 KiB on LP64)
    _READ_ATTEMPTS = 4       # size/value rounds before a value that keeps changing is an error
    _FIND_BATCH = 64         # handles asked per C_FindObjects


cdef enum:
    _NO_MEMORY = 1           # an allocation failed
    _TOO_LARGE = 2           # the token reported absurd sizes (a broken token must not make us overflow a buffer)

# The most a read may allocate: sizes beyond it are refused before any arithmetic on them can overflow.
cdef size_t _VALUE_LIMIT = <size_t>1 << 30


cdef inline size_t _fixed_size(int codec) noexcept nogil:
    """The exact value size of fixed-size codecs, 0 for variable-size ones."""
    if codec == CODEC_BOOL:
        return sizeof(CK_BBOOL)
    if codec == CODEC_ULONG:
        return sizeof(CK_ULONG)
    if codec == CODEC_DATE:
        return sizeof(CK_DATE)
    return 0


cdef CK_RV _read_exact(p11_gate* f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE* tmpl,
                       const unsigned char* codec, unsigned char* status, CK_ULONG n, _Block** pool,
                       int* nomem) noexcept nogil:
    """Read every _PENDING attribute of ``tmpl`` the specification's way, and mark the ones the token refuses.

    Per round: a size query (pValue NULL) for all of them; the ones left at CK_UNAVAILABLE_INFORMATION are classified
    (by the call's return value when only one is, else by asking for each alone); then one call for the values, with
    nested CK_ATTRIBUTE arrays zeroed so the token fills in their types and sizes; then, if there are attribute arrays,
    one more call with their nested values allocated. A value that grew between calls starts the round again.
    """
    cdef CK_ULONG m = 0, k, j, e, cnt, unavail, narr
    cdef CK_ULONG* idx
    cdef CK_ATTRIBUTE* sub
    cdef CK_ATTRIBUTE* outer
    cdef CK_ATTRIBUTE* nested
    cdef CK_ATTRIBUTE one
    cdef CK_RV rv = CKR_OK, r1
    cdef size_t total
    cdef char* buf
    cdef int attempt
    for j in range(n):
        if status[j] == _PENDING:
            m += 1
    if m == 0:
        return CKR_OK
    idx = <CK_ULONG*>_pool_alloc(pool, m * sizeof(CK_ULONG))
    sub = <CK_ATTRIBUTE*>_pool_alloc(pool, m * sizeof(CK_ATTRIBUTE))
    outer = <CK_ATTRIBUTE*>_pool_alloc(pool, m * sizeof(CK_ATTRIBUTE))
    if idx == NULL or sub == NULL or outer == NULL:
        nomem[0] = _NO_MEMORY
        return CKR_OK
    k = 0
    for j in range(n):
        if status[j] == _PENDING:
            idx[k] = j
            k += 1

    for attempt in range(_READ_ATTEMPTS):
        # 1. sizes
        for j in range(m):
            sub[j].type = tmpl[idx[j]].type
            sub[j].pValue = NULL
            sub[j].ulValueLen = 0
        rv = p11g_C_GetAttributeValue(f, s, o, sub, m)
        if rv != CKR_OK and rv != CKR_ATTRIBUTE_SENSITIVE and rv != CKR_ATTRIBUTE_TYPE_INVALID:
            return rv
        unavail = 0
        for j in range(m):
            if sub[j].ulValueLen == CK_UNAVAILABLE_INFORMATION:
                unavail += 1
        if unavail:
            for j in range(m):
                if sub[j].ulValueLen != CK_UNAVAILABLE_INFORMATION:
                    continue
                if unavail == 1:
                    status[idx[j]] = _status_for(rv)
                else:
                    one.type = sub[j].type
                    one.pValue = NULL
                    one.ulValueLen = 0
                    r1 = p11g_C_GetAttributeValue(f, s, o, &one, 1)
                    status[idx[j]] = _status_for(r1)
            k = 0
            for j in range(m):
                if status[idx[j]] == _PENDING:
                    idx[k] = idx[j]
                    sub[k] = sub[j]
                    k += 1
            m = k
            if m == 0:
                return CKR_OK

        # 2. values (attribute arrays: nested entries zeroed, so the token reports their types and sizes)
        total = 0
        for j in range(m):
            if sub[j].ulValueLen > _VALUE_LIMIT:
                nomem[0] = _TOO_LARGE
                return CKR_OK
            total += _align(sub[j].ulValueLen)
        if total > _VALUE_LIMIT:
            nomem[0] = _TOO_LARGE
            return CKR_OK
        buf = <char*>_pool_alloc(pool, total)
        if buf == NULL:
            nomem[0] = _NO_MEMORY
            return CKR_OK
        for j in range(m):
            sub[j].pValue = buf
            buf += _align(sub[j].ulValueLen)
            outer[j].ulValueLen = sub[j].ulValueLen  # each buffer's size, to check the reply against
        rv = p11g_C_GetAttributeValue(f, s, o, sub, m)
        if rv == CKR_BUFFER_TOO_SMALL or rv == CKR_ATTRIBUTE_SENSITIVE or rv == CKR_ATTRIBUTE_TYPE_INVALID:
            continue  # the object changed between the calls: measure again
        if rv != CKR_OK:
            return rv
        for j in range(m):
            if sub[j].ulValueLen > outer[j].ulValueLen:
                # A length larger than the buffer that was filled: the bytes past its end are not the value.
                return CKR_GENERAL_ERROR

        # 3. nested values of attribute arrays
        narr = 0
        total = 0
        for j in range(m):
            if _is_array_type(sub[j].type, codec[idx[j]]) and sub[j].ulValueLen % sizeof(CK_ATTRIBUTE) == 0:
                nested = <CK_ATTRIBUTE*>sub[j].pValue
                cnt = sub[j].ulValueLen // sizeof(CK_ATTRIBUTE)
                for e in range(cnt):
                    if nested[e].ulValueLen != CK_UNAVAILABLE_INFORMATION:
                        if nested[e].ulValueLen > _VALUE_LIMIT or total > _VALUE_LIMIT:
                            nomem[0] = _TOO_LARGE
                            return CKR_OK
                        total += _align(nested[e].ulValueLen)
                if cnt:
                    outer[narr] = sub[j]
                    narr += 1
        if narr:
            if total > _VALUE_LIMIT:
                nomem[0] = _TOO_LARGE
                return CKR_OK
            buf = <char*>_pool_alloc(pool, total)
            if buf == NULL:
                nomem[0] = _NO_MEMORY
                return CKR_OK
            for j in range(narr):
                nested = <CK_ATTRIBUTE*>outer[j].pValue
                cnt = outer[j].ulValueLen // sizeof(CK_ATTRIBUTE)
                for e in range(cnt):
                    if nested[e].ulValueLen == CK_UNAVAILABLE_INFORMATION:
                        nested[e].ulValueLen = 0
                    nested[e].pValue = buf  # never NULL: a NULL among non-NULLs would be a size query again
                    buf += _align(nested[e].ulValueLen)
            rv = p11g_C_GetAttributeValue(f, s, o, outer, narr)
            if rv == CKR_BUFFER_TOO_SMALL:
                continue
            if rv != CKR_OK and rv != CKR_ATTRIBUTE_SENSITIVE and rv != CKR_ATTRIBUTE_TYPE_INVALID:
                return rv
            # SENSITIVE/TYPE_INVALID here concern nested entries, which carry CK_UNAVAILABLE_INFORMATION themselves

        for j in range(m):
            tmpl[idx[j]].pValue = sub[j].pValue
            tmpl[idx[j]].ulValueLen = sub[j].ulValueLen
            status[idx[j]] = _HAVE
        return CKR_OK
    return rv


cdef CK_RV _read(p11_gate* f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE* tmpl,
                 const unsigned char* codec, unsigned char* status, CK_ULONG n, char* stack, size_t stack_size,
                 _Block** pool, int* nomem) noexcept nogil:
    """Read ``n`` attributes, in ONE call when they fit the stack buffer (the usual case), else the exact way.

    The first call hands every flat attribute a buffer: its exact size for fixed-size codecs, an equal share of the
    rest of ``stack`` for the others; attribute arrays go as size queries. The specification guarantees that every
    attribute is processed even when the call returns CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID or
    CKR_BUFFER_TOO_SMALL, so whatever came back whole is kept, and only the rest (refused, too big, arrays) goes
    through _read_exact.
    """
    cdef CK_ULONG i, nvar = 0, unavail = 0, refused = 0
    cdef size_t fixed = 0, share, cap
    cdef char* cursor = stack
    cdef CK_RV rv
    cdef bint pending = False
    for i in range(n):
        status[i] = _PENDING
        if _is_array_type(tmpl[i].type, codec[i]):
            continue
        cap = _fixed_size(codec[i])
        if cap:
            fixed += _align(cap)
        else:
            nvar += 1
    if fixed > stack_size:  # hundreds of attributes: no room to guess, read them the exact way
        return _read_exact(f, s, o, tmpl, codec, status, n, pool, nomem)
    share = 0
    if nvar and stack_size > fixed:
        share = ((stack_size - fixed) // nvar) & ~(<size_t>7)
    for i in range(n):
        if _is_array_type(tmpl[i].type, codec[i]):
            tmpl[i].pValue = NULL
            tmpl[i].ulValueLen = 0
            continue
        cap = _fixed_size(codec[i])
        if not cap:
            cap = share
        tmpl[i].pValue = cursor
        tmpl[i].ulValueLen = cap
        cursor += _align(cap)
    rv = p11g_C_GetAttributeValue(f, s, o, tmpl, n)
    if (rv != CKR_OK and rv != CKR_ATTRIBUTE_SENSITIVE and rv != CKR_ATTRIBUTE_TYPE_INVALID
            and rv != CKR_BUFFER_TOO_SMALL):
        return rv
    for i in range(n):
        if _is_array_type(tmpl[i].type, codec[i]):
            pending = True
            if tmpl[i].ulValueLen == CK_UNAVAILABLE_INFORMATION:  # asked with pValue NULL: refused, not too small
                unavail += 1
                refused = i
            continue
        cap = _fixed_size(codec[i])
        if not cap:
            cap = share
        if tmpl[i].ulValueLen == CK_UNAVAILABLE_INFORMATION:
            pending = True
            unavail += 1
            refused = i
        elif tmpl[i].ulValueLen > cap:  # a token that reports the size needed instead of CK_UNAVAILABLE_INFORMATION
            pending = True
            unavail += 2
        else:
            status[i] = _HAVE
    if rv == CKR_BUFFER_TOO_SMALL and not pending:
        # Too small, yet no length says which: a module that broke the rule of marking the short entries. No value
        # of this call can be trusted (the buffers may be unwritten), so all are read again the exact way.
        for i in range(n):
            status[i] = _PENDING
        return _read_exact(f, s, o, tmpl, codec, status, n, pool, nomem)
    # One attribute unavailable and the call says SENSITIVE or TYPE_INVALID: that attribute is the reason (the only
    # one with a problem), so no second round is needed to classify it.
    if unavail == 1 and (rv == CKR_ATTRIBUTE_SENSITIVE or rv == CKR_ATTRIBUTE_TYPE_INVALID):
        status[refused] = _status_for(rv)
        pending = False
        for i in range(n):
            if status[i] == _PENDING and _is_array_type(tmpl[i].type, codec[i]):
                pending = True
    if not pending:
        return CKR_OK
    return _read_exact(f, s, o, tmpl, codec, status, n, pool, nomem)


def get_attributes(gate, session, obj, types):
    """``{attribute: value}`` for every attribute in ``types``, read with as few C_GetAttributeValue calls as the
    token allows (one when the values fit an 8 KiB buffer) and the GIL released around them.

    Attributes the token refuses come back as markers, not exceptions: :data:`SENSITIVE`, :data:`ABSENT` or
    :data:`UNAVAILABLE`. Any other failure raises the typed ``p11.errors`` exception for ``C_GetAttributeValue``.
    Keys of the result are the objects given in ``types``.
    """
    cdef CK_RV rv = CKR_OK
    result = _get_attributes_rv(_gate_at(gate), session, obj, types, &rv)
    if rv != CKR_OK:
        _check(rv, "C_GetAttributeValue")
    return result


cdef object _get_attributes_rv(p11_gate* f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, object types,
                               CK_RV* rv_out):
    """:func:`get_attributes` with a failing C_GetAttributeValue reported in ``rv_out`` (the result is then None)
    instead of raised: the C entry point for callers that retry on another session (the session pool)."""
    cdef CK_ATTRIBUTE stack_tmpl[_STACK_ATTRS]
    cdef unsigned char stack_codec[_STACK_ATTRS]
    cdef unsigned char stack_status[_STACK_ATTRS]
    cdef CK_ULONG stack_words[_STACK_WORDS]
    cdef CK_ATTRIBUTE* tmpl = stack_tmpl
    cdef unsigned char* codec = stack_codec
    cdef unsigned char* status = stack_status
    cdef void* heap = NULL
    cdef _Block* pool = NULL
    cdef int nomem = 0
    cdef CK_ULONG i, n
    cdef CK_RV rv
    _require(p11g_has_C_GetAttributeValue(f), "C_GetAttributeValue")
    if type(types) is not tuple and type(types) is not list:
        if isinstance(types, (str, bytes, bytearray)) or not hasattr(types, "__iter__"):
            raise TypeError(f"types is a sequence of CKA_* ints, got {type(types).__name__}")
        types = list(types)
    n = len(types)
    if n == 0:
        return {}
    try:
        if n > _STACK_ATTRS:
            heap = malloc(n * (sizeof(CK_ATTRIBUTE) + 2))
            if heap == NULL:
                raise MemoryError()
            tmpl = <CK_ATTRIBUTE*>heap
            codec = <unsigned char*>heap + n * sizeof(CK_ATTRIBUTE)
            status = codec + n
        for i in range(n):
            tmpl[i].type = _attribute_type(types[i], "")
            codec[i] = <unsigned char>_codec_of(tmpl[i].type)
        with nogil:
            rv = _read(f, s, o, tmpl, codec, status, n, <char*>stack_words, sizeof(stack_words), &pool, &nomem)
        if nomem == _TOO_LARGE:
            raise MemoryError("C_GetAttributeValue: the token reports attribute values larger than 1 GiB")
        if nomem:
            raise MemoryError()
        rv_out[0] = rv
        if rv != CKR_OK:
            return None
        result = {}
        for i in range(n):
            if status[i] == _HAVE:
                result[types[i]] = _decode(tmpl[i].type, codec[i], <const char*>tmpl[i].pValue, tmpl[i].ulValueLen,
                                           False)
            else:
                result[types[i]] = _marker(status[i])
        return result
    finally:
        _pool_free(pool)
        free(heap)


def get_attribute(gate, session, obj, attribute):
    """One attribute's value (or marker): ``get_attributes`` for a single type."""
    return get_attributes(gate, session, obj, (attribute,))[attribute]


def set_attributes(gate, session, obj, template):
    """C_SetAttributeValue with ``template`` (a mapping or a :class:`Template`), GIL released."""
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_SESSION_HANDLE s = session
    cdef CK_OBJECT_HANDLE o = obj
    cdef Template t = _as_template(template)
    cdef CK_RV rv
    _require(p11g_has_C_SetAttributeValue(f), "C_SetAttributeValue")
    with nogil:
        rv = p11g_C_SetAttributeValue(f, s, o, t.attrs, t._count)
    if rv != CKR_OK:
        _check(rv, "C_SetAttributeValue")


def create_object(gate, session, template):
    """C_CreateObject with ``template`` (a mapping or a :class:`Template`); the new object's handle."""
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_SESSION_HANDLE s = session
    cdef Template t = _as_template(template)
    cdef CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE
    cdef CK_RV rv
    _require(p11g_has_C_CreateObject(f), "C_CreateObject")
    with nogil:
        rv = p11g_C_CreateObject(f, s, t.attrs, t._count, &handle)
    if rv != CKR_OK:
        _check(rv, "C_CreateObject")
    return handle


cdef enum:
    _FIND_OK = 0
    _FIND_INIT_FAILED = 1
    _FIND_FAILED = 2
    _FIND_NOMEM = 3


cdef int _find(p11_gate* f, CK_SESSION_HANDLE s, CK_ATTRIBUTE* attrs, CK_ULONG count, CK_ULONG limit,
               CK_OBJECT_HANDLE** out, CK_ULONG* found, CK_RV* rv_out, CK_RV* rv_final) noexcept nogil:
    """Init, FindObjects until the token returns none (or ``limit`` are found), Final: all in C.

    Final is called whenever Init succeeded, whatever happened after, so the session is never left with an active
    search. ``out`` is malloc'ed (the caller frees it, even on error).
    """
    cdef CK_ULONG cap, got = 0, ask, n
    cdef CK_OBJECT_HANDLE* buf
    cdef CK_OBJECT_HANDLE* grown
    cdef CK_RV rv
    cdef int outcome = _FIND_OK
    rv_final[0] = CKR_OK
    rv = p11g_C_FindObjectsInit(f, s, attrs, count)
    if rv != CKR_OK:
        rv_out[0] = rv
        return _FIND_INIT_FAILED
    cap = limit if limit < _FIND_BATCH else _FIND_BATCH
    buf = <CK_OBJECT_HANDLE*>malloc(cap * sizeof(CK_OBJECT_HANDLE))
    out[0] = buf
    if buf == NULL:
        outcome = _FIND_NOMEM
    while outcome == _FIND_OK and got < limit:
        if got == cap:
            cap = cap * 2 if cap * 2 < limit else limit
            grown = <CK_OBJECT_HANDLE*>realloc(buf, cap * sizeof(CK_OBJECT_HANDLE))
            if grown == NULL:
                outcome = _FIND_NOMEM
                break
            buf = grown
            out[0] = buf
        ask = cap - got
        n = 0
        rv = p11g_C_FindObjects(f, s, buf + got, ask, &n)
        if rv != CKR_OK:
            rv_out[0] = rv
            outcome = _FIND_FAILED
            break
        if n > ask:  # a token that reports more than it was given room for: trust only what fits
            n = ask
        if n == 0:
            break
        got += n
    found[0] = got
    rv_final[0] = p11g_C_FindObjectsFinal(f, s)
    return outcome


def find_objects(gate, session, template, limit=None):
    """Handles of the objects matching ``template`` (a mapping or a :class:`Template`; empty matches all), at most
    ``limit`` of them. Init, the FindObjects loop and Final run in C with the GIL released; Final is always called
    once Init succeeded, so an error (or the limit) never leaves a search active on the session.
    """
    cdef p11_gate* f = _gate_at(gate)
    cdef CK_SESSION_HANDLE s = session
    cdef Template t = _as_template(template)
    cdef CK_ULONG cap = ULONG_MAX, found = 0, i
    cdef CK_OBJECT_HANDLE* handles = NULL
    cdef CK_RV rv = CKR_OK, rv_final = CKR_OK
    cdef int outcome
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise TypeError(f"limit is an int or None, got {type(limit).__name__}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if limit == 0:
            return []
        cap = limit if limit < ULONG_MAX else ULONG_MAX
    _require(p11g_has_C_FindObjectsInit(f), "C_FindObjectsInit")
    _require(p11g_has_C_FindObjects(f), "C_FindObjects")
    _require(p11g_has_C_FindObjectsFinal(f), "C_FindObjectsFinal")
    try:
        with nogil:
            outcome = _find(f, s, t.attrs, t._count, cap, &handles, &found, &rv, &rv_final)
        if outcome == _FIND_INIT_FAILED:
            _check(rv, "C_FindObjectsInit")
        if outcome == _FIND_FAILED:
            _check(rv, "C_FindObjects")
        if outcome == _FIND_NOMEM:
            raise MemoryError()
        if rv_final != CKR_OK:
            _check(rv_final, "C_FindObjectsFinal")
        result = []
        for i in range(found):
            result.append(PyLong_FromUnsignedLong(handles[i]))
        return result
    finally:
        free(handles)


def find_one(gate, session, template):
    """The first object matching ``template``, or None."""
    found = find_objects(gate, session, template, 1)
    return found[0] if found else None
