# Included by _native.pyx after ops.pxi: the life-cycle of an explicit session, once, in C.
#
# ``p11.api.session.Session`` is a subclass of ``_SessionBase``: opening (``_session_open``), ``close()``, ``with``
# and the close of a session dropped without ``close()`` all live here, so there is one way a session ends. With
# ``with token.open(): pass`` costing two C calls of ~0.17 us, each Python frame on that path would show.
#
# A session reaches its token through nothing but ``OpenSessions``, the token's record of its open sessions, which
# the token hands in when it opens one: closing takes the session's lock (waits for a call running in another
# thread), zeroes the handle (the closed flag), calls C_CloseSession, and tells the record, which calls its
# ``on_logged_out`` when the token's last session closed (Cryptoki logged it out). A session of an ended generation
# (its call gate is closed for good: native/p11_gate.h) calls nothing: its handle may name another session now.

cimport cython


cdef class OpenSessions:
    """The explicit sessions a token has open (their handles), and whether its pool holds sessions too (``pooled``).
    When the last session closes while no pool holds any, Cryptoki has logged the token out: ``on_logged_out()``
    is called (the token forgets who it logged in). Kept in C so that a session closing needs no Python call into
    its token; set operations are atomic under the GIL, so opening and closing need no lock."""

    cdef set _handles
    cdef bint _pooled
    cdef readonly bint used         # a session was opened (or a pool made) through the token since it was made
    cdef public object on_logged_out

    def __cinit__(self, *args, **kwargs):
        self._handles = set()
        self._pooled = False
        self.used = False

    def __init__(self, on_logged_out=None):
        self.on_logged_out = on_logged_out

    def __len__(self):
        """How many explicit sessions are open (the pool's are not counted)."""
        return len(self._handles)

    def __bool__(self):
        """Whether the token has any session open, explicit or pooled."""
        return self._pooled or len(self._handles) != 0

    @property
    def pooled(self):
        """Whether the token's pool holds sessions (and with them, the login)."""
        return self._pooled

    @pooled.setter
    def pooled(self, bint value):
        self._pooled = value
        if value:
            self.used = True

    def add(self, handle):
        self._handles.add(handle)
        self.used = True

    cdef int closed(self, object handle) except -1:
        """``handle`` closed: the last session gone (and no pool) means the token was logged out."""
        self._handles.discard(handle)
        if not self._handles and not self._pooled and self.on_logged_out is not None:
            self.on_logged_out()
        return 0

    def discard(self, handle):
        """A handle that ended without a close (its generation ended): forgotten, no log-out to report."""
        self._handles.discard(handle)

    def pool_closed(self):
        """The token's pool closed: with no explicit session open either, the token was logged out."""
        self._pooled = False
        if not self._handles and self.on_logged_out is not None:
            self.on_logged_out()

    def forget(self):
        """The module's generation ended (fork, re-initialisation, close): the handles mean nothing now."""
        self._handles.clear()


cdef inline bint _session_stale(object gate) except -1:
    """Whether a session's generation ended: its call gate is closed for good (a new generation has a new gate)."""
    return p11_gate_state(_gate_at(gate)) == P11_GATE_CLOSED


@cython.no_gc_clear  # a session caught in a reference cycle still closes when collected: keep its fields
cdef class _SessionBase:
    """The fields and the life-cycle of ``p11.api.session.Session`` (its base class), in C: creating and dropping a
    session (the hot ``with token.open(): pass``) costs no Python finalizer and no ``object.__new__`` call. Private:
    not part of the stub; Session documents the fields."""

    cdef public object token
    cdef public object rw
    cdef public object _handle      # 0 (CK_INVALID_HANDLE) once closed: the closed flag
    cdef public object _number      # the handle, kept for repr
    cdef public object _gate        # the call gate of the generation the session was opened in
    cdef public object _lock
    cdef public object _channel     # p11.api.channel's view of the session, made on first use (see Session.channel)
    cdef OpenSessions _sessions     # the token's record of its open sessions (None: a pooled session's stand-in)
    cdef object __weakref__

    @property
    def closed(self):
        """True once closed, and for a session opened before ``fork()`` or a re-initialisation of its module."""
        return not self._handle or _session_stale(self._gate)

    def close(self):
        """Close the session (``C_CloseSession``). Closing the token's last session logs it out, as Cryptoki
        does. Closing twice is harmless; closing a session of an earlier generation calls nothing."""
        if self._sessions is not None:
            _session_close(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._sessions is not None:
            _session_close(self)
        else:
            self.close()  # a subclass that is no explicit session (PooledSession): its own close

    def __dealloc__(self):
        # A session dropped without close() still ends on the token. (At interpreter exit C_Finalize has ended it
        # already, and the call answers CKR_CRYPTOKI_NOT_INITIALIZED, which is ignored like every error here.)
        # The fields are read in C (never through self's Python attributes: self is being destroyed).
        cdef object handle = self._handle
        if not handle or self._sessions is None:
            return
        self._handle = 0
        try:
            if not _session_stale(self._gate):  # else: opened in an earlier generation, gone with it
                _ops_close_session(self._gate, handle)
        except BaseException:
            pass
        try:
            self._sessions.closed(handle)
        except BaseException:
            pass


cdef int _session_close(_SessionBase session) except -1:
    """The one close of an explicit session (``close()``, ``with``)."""
    cdef object handle
    session._channel = None  # the view refers to the session: no cycle left behind
    if _session_stale(session._gate):
        # Opened before fork() or a re-initialisation: its handle means nothing now (and its lock may have been held
        # by a thread that does not exist in this process). Mark it closed; call nothing.
        handle = session._handle
        session._handle = 0
        if handle:
            session._sessions.discard(handle)
        return 0
    lock = session._lock
    lock.acquire()  # waits for a call running on the session in another thread
    handle = session._handle
    session._handle = 0
    lock.release()
    if handle:
        try:
            if not _session_stale(session._gate):  # the generation may have ended while we waited
                _ops_close_owned_session(session._gate, handle)
        finally:
            # Not under the session's lock: a login takes the token's lock, then the session's.
            session._sessions.closed(handle)
    return 0


def _session_open(cls, token, gate, CK_SLOT_ID slot_id, rw, OpenSessions sessions, new_lock):
    """The one way an explicit session is made (``Token.open()``): C_OpenSession, the handle into the token's
    ``sessions``, and a new ``cls`` (Session) holding it with a fresh ``new_lock()``."""
    cdef _SessionBase s
    handle = _ops_open_session(gate, slot_id, rw)
    sessions.add(handle)
    s = _SessionBase.__new__(cls)
    s.token = token
    s.rw = rw
    s._handle = handle
    s._number = handle
    s._gate = gate
    s._lock = new_lock()
    s._sessions = sessions
    return s


def gate_closed(gate):
    """Whether the call gate at ``gate`` (an address) is closed for good: its generation of the module ended, and
    a session or object handle read under it means nothing now."""
    return _session_stale(gate)
