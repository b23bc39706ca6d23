# Included by _native.pyx after ops.pxi: the life-cycle of ``p11.api.session.Session`` in C (its base class).

cimport cython

# The life-cycle of ``p11.api.session.Session`` (its base class: ``__enter__``, ``__exit__``, drop-time close): with
# ``with token.open(): pass`` costing two C calls of ~0.17 us, each Python frame on the path shows. These do in C
# exactly what the Python methods did: take the session's lock (waits for a call running in another thread), zero
# the handle (the closed flag), C_CloseSession, then drop the handle from ``token._live`` and tell the token when
# its last session closed (Cryptoki logged it out). Private: not part of the stub.

cdef int _ops_session_forget(object session) except -1:
    """A stale session (its module's generation ended): closed flag set, handle dropped, nothing called."""
    handle = session._handle
    session._handle = 0
    if handle:
        session.token._live.discard(handle)
    return 0


cdef int _ops_session_close(object session) except -1:
    if session._gate != session.token._gate:
        return _ops_session_forget(session)
    lock = session._lock
    lock.acquire()
    try:
        handle = session._handle
        session._handle = 0
    finally:
        lock.release()
    if handle:
        try:
            if session._gate == session.token._gate:  # else: opened in an earlier generation, gone with it
                _ops_close_owned_session(session._gate, handle)
        finally:
            # Not under the session's lock: Token._login takes the token's lock, then the session's.
            token = session.token
            live = token._live
            live.discard(handle)
            if not live:
                token._all_closed()
    return 0


@cython.no_gc_clear  # a session caught in a reference cycle still closes when collected: keep its fields
cdef class _SessionBase:
    """The fields of ``p11.api.session.Session`` (its base class), in C: creating and dropping a session (the hot
    ``with token.open(): pass``) costs no Python finalizer and no ``object.__new__`` call. Private: not part of the
    stub; Session documents the fields."""

    cdef public object token
    cdef public object rw
    cdef public object _handle      # 0 (CK_INVALID_HANDLE) once closed: the closed flag
    cdef public object _number      # the handle, kept for repr
    cdef public object _gate
    cdef public object _lock
    cdef object __weakref__

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Session.close(), with the fields read in C. A subclass that keeps its lock elsewhere (PooledSession: a
        # property) takes the generic path.
        if self._lock is None:
            _ops_session_close(self)
            return
        if self._gate != self.token._gate:
            # Opened before fork() or a re-initialisation: its handle means nothing now (and its lock may have
            # been held by a thread that does not exist in this process). Mark it closed; call nothing.
            _ops_session_forget(self)
            return
        lock = self._lock
        lock.acquire()  # waits for a call running on the session in another thread
        handle = self._handle
        self._handle = 0
        lock.release()
        if handle:
            try:
                if self._gate == self.token._gate:  # else: opened in an earlier generation, gone with it
                    _ops_close_owned_session(self._gate, handle)
            finally:
                # Not under the session's lock: Token._login takes the token's lock, then the session's.
                token = self.token
                live = <set?>token._live
                live.discard(handle)
                if not live:
                    token._all_closed()

    def __dealloc__(self):
        # A session dropped without close() still ends on the token. (At interpreter exit C_Finalize has ended it
        # already, and the call answers CKR_CRYPTOKI_NOT_INITIALIZED, which is ignored like every error here.)
        # The fields are read in C (never through self's Python attributes: self is being destroyed).
        if self._handle:
            handle = self._handle
            self._handle = 0
            try:
                if self._gate == self.token._gate:  # else: opened in an earlier generation, gone with it
                    _ops_close_session(self._gate, handle)
            except BaseException:
                pass
            try:
                live = self.token._live
                live.discard(handle)
                if not live:
                    self.token._all_closed()
            except BaseException:
                pass


def _session_open(cls, token, gate, CK_SLOT_ID slot_id, rw, set live, new_lock):
    """``Token.open()`` without a PIN in one call: C_OpenSession, the handle into ``live`` (the token's set of
    open handles), and a new ``cls`` (Session) holding it with a fresh ``new_lock()``."""
    cdef _SessionBase s
    handle = _ops_open_session(gate, slot_id, rw)
    live.add(handle)
    s = _SessionBase.__new__(cls)
    s.token = token
    s.rw = rw
    s._handle = handle
    s._number = handle
    s._gate = gate
    s._lock = new_lock()
    return s

