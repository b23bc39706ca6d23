# Included by _native.pyx after ops.pxi: the per-token session pool, and the pooled forms of the operations
# (retry on a dead session, parallel batches on several sessions, asyncio).
#
# Design, and why:
# * One pool of read-write sessions per token serves reads and writes alike (read-only on a write-protected token,
#   or with ``rw=False``). One kind of session per pool keeps borrowing a single array pop.
# * Borrow/give back sit on the path of every call, so they are a C mutex (``PyThread_type_lock``, taken without
#   blocking first) around two C arrays (idle and busy handles). No Python object is created on that path, and no
#   Python code runs while the mutex is held (allocations happen before or after, so a garbage collection cannot
#   re-enter the pool with the mutex taken).
# * Borrowers beyond the bound wait in FIFO order: each waiter blocks on its own lock and a returning session (or a
#   freed slot) is handed to the first waiter directly, so a woken waiter never loses a race to a newcomer.
# * Login state in Cryptoki belongs to the application and token, not to a session: the pool logs in once (on the
#   first session it opens) and treats CKR_USER_ALREADY_LOGGED_IN as success. The PIN lives in malloc'd memory,
#   wiped after the first login unless ``keep_pin=True`` allowed the pool to log in again (after
#   C_CloseAllSessions, a removed token, a fork). A PIN the token rejects is wiped at once, so the pool never
#   spends the token's retry counter. PINs appear in no repr and no message.
# * A session that answers CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT,
#   CKR_OPERATION_ACTIVE (an operation someone left open) or CKR_USER_NOT_LOGGED_IN (when the pool can log in
#   again) is discarded (closed only when the handle is still ours) and replaced, and the operation is retried
#   once: every pooled operation here is idempotent (sign, verify, encrypt/decrypt, digest, random). The idle
#   sessions are checked at the same time (C_GetSessionInfo), so a dead handle is never handed out again. A token
#   logged out behind the pool's back (C_Logout elsewhere: most tokens then answer CKR_KEY_HANDLE_INVALID /
#   CKR_OBJECT_HANDLE_INVALID for private keys) is logged in again on the same session when the PIN was kept.
#   Logins run one at a time (a lock of their own), since C_Login reads the PIN without the GIL.
# * fork(): the child starts with an empty pool (a fork generation compared on every borrow); the parent's handles
#   are forgotten, never closed, and the lowlevel Module re-initialises itself in the child (``ensure_ready``).
#   Slot ids only hold for one initialisation (SoftHSM renumbers them), so after a re-initialisation the pool
#   finds its token again by serial number, manufacturer and model.
# * The token's own session limit: when C_OpenSession answers CKR_SESSION_COUNT, the pool takes the sessions it
#   holds as its bound for now (``max_size`` shrinks to them, and grows back by one a second to find out whether
#   the token has more again) and the caller waits for one of them, as at ``max_size``. When the pool holds none
#   (other programs hold every session), the open is tried again with backoff for ``_POOL_COUNT_WAIT`` seconds,
#   then ``SessionCount`` is raised, also to every caller waiting meanwhile: a bounded wait, never a hang.
# * Generations: a handle is only valid in the generation of the module it was got in (native/p11_gate.h: one gate
#   per generation, never freed). Every borrow hands out the session together with the gate it belongs to (taken
#   under the mutex), calls go through that gate, and a session of an ended generation is forgotten when it comes
#   back, never made idle: after a re-initialisation its number may name another caller's session. An operation
#   given the gate its key handle was found under (``gate=``) refuses a session of another generation, so a key
#   handle never reaches the module in a generation it does not belong to (where it could name another key).
# * Health: an operation that still fails with an error that can mean "the module lost its device or connection"
#   (p11.lowlevel.health.SUSPECT) reports it to the module (``Module.health.report``), which probes and, if the
#   token does not answer, starts a new generation. The pool follows on its next borrow.
# * Parallel batches run their chunks on the native worker threads of workers.pxi, each on its own borrowed session.

from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock, PyThread_free_lock,
                               PyThread_acquire_lock, PyThread_release_lock, PyThread_start_new_thread,
                               WAIT_LOCK, NOWAIT_LOCK, PY_LOCK_ACQUIRED, PyLockStatus)
from cpython.exc cimport PyErr_CheckSignals
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp

import asyncio as _pool_asyncio
import collections as _pool_collections
import functools as _pool_functools
import os as _pool_os
import time as _pool_time
from concurrent.futures import ThreadPoolExecutor as _PoolExecutor

from p11.errors import NoEventLoop as _NoEventLoop
from p11.errors import PoolClosed, PoolTimeout  # defined with the other exceptions; re-exported here

DEFAULT_POOL_SIZE = 8      # cap on the default bound: a token's own limit is often "infinite"
cdef enum:
    _POOL_MAX_SIZE = 4096
MAX_POOL_SIZE = _POOL_MAX_SIZE  # the largest max_size (and workers) accepted: ValueError beyond it
_POOL_MIN_CHUNK = 16       # workers=None: no thread for fewer items than this
_POOL_GROW_AFTER = 1.0     # s: a bound lowered at the token's session limit tries one session more this often
_POOL_COUNT_WAIT = 2.0     # s: how long to try for a first session while the token's sessions are all held elsewhere
_POOL_COUNT_FIRST_PAUSE = 0.005  # s, doubling up to _POOL_COUNT_MAX_PAUSE
_POOL_COUNT_MAX_PAUSE = 0.1
_POOL_LOGIN_ATTEMPTS = 6   # C_Login answered an error of the moment: as p11.lowlevel.retry.ATTEMPTS ...
_POOL_LOGIN_FIRST_PAUSE = 0.005  # ... and FIRST_DELAY (doubling)

# Bumped in a fork child: a pool whose generation differs forgets its sessions before the next borrow.
cdef unsigned long _pool_fork_generation = 0


def _pool_after_fork_in_child():
    global _pool_fork_generation, _pool_n_workers
    _pool_fork_generation += 1
    _pool_n_workers = 0  # the batch workers do not exist in the child: forget them (a few bytes leak; their
    # locks may be held)


if hasattr(_pool_os, "register_at_fork"):
    _pool_os.register_at_fork(after_in_child=_pool_after_fork_in_child)


cdef inline void _pool_lock(PyThread_type_lock m) noexcept:
    # Uncontended (always, under the GIL): one atomic operation. Contended: wait without holding the GIL.
    if not PyThread_acquire_lock(m, NOWAIT_LOCK):
        with nogil:
            PyThread_acquire_lock(m, WAIT_LOCK)


cdef enum:
    _W_WAITING = 0
    _W_SESSION = 1    # handed a session (already counted busy)
    _W_SLOT = 2       # handed a free slot: open a new session
    _W_CLOSED = 3     # the pool closed
    _W_COUNT = 4      # the token refused every session (CKR_SESSION_COUNT) and the pool holds none to wait for


cdef class _PoolWaiter:
    cdef PyThread_type_lock lock
    cdef int state
    cdef CK_SESSION_HANDLE handle
    cdef p11_gate* gate      # the generation (gate) of the session handed over

    def __cinit__(self):
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()
        PyThread_acquire_lock(self.lock, WAIT_LOCK)  # taken: the waiter blocks until someone releases it
        self.state = _W_WAITING

    def __dealloc__(self):
        if self.lock != NULL:
            # Free it unlocked, whatever state the handoff left it in (as CPython does with its own locks).
            PyThread_acquire_lock(self.lock, NOWAIT_LOCK)
            PyThread_release_lock(self.lock)
            PyThread_free_lock(self.lock)


cdef class _PoolLease:
    """``with pool.session() as handle``: gives the session back on exit (discards it when the exception says the
    session is dead, and reports an error that may mean the module lost its device). With ``gate``, a session of
    another generation than that gate's is refused (CryptokiNotInitialized)."""
    cdef SessionPool pool
    cdef double timeout
    cdef CK_SESSION_HANDLE handle
    cdef p11_gate* f
    cdef p11_gate* want
    cdef unsigned long gen

    def __enter__(self):
        self.handle = self.pool._borrow(self.timeout, &self.f)
        self.gen = self.pool._gen
        if self.want != NULL and self.f != self.want:
            self.pool._give_back(self.handle, self.f)
            self.handle = 0
            raise _pool_stale_error("C_OpenSession")
        return self.handle

    @property
    def gate(self):
        """The call gate address of the session borrowed (its generation's: ``Module.at(gate)``), 0 outside."""
        return <uintptr_t>self.f if self.handle else 0

    def __exit__(self, exc_type, exc, tb):
        cdef CK_SESSION_HANDLE h = self.handle
        cdef object rv
        self.handle = 0
        if h == 0 or self.gen != self.pool._gen:
            return False  # nothing borrowed, or borrowed before a fork: not ours to give back
        rv = getattr(exc, "rv", None) if exc is not None else None
        if isinstance(rv, int) and rv >= 0 and self.pool._replaceable(<CK_RV>rv):
            self.pool._discard(h, <CK_RV>rv, self.f)
        else:
            self.pool._give_back(h, self.f)
        if isinstance(rv, int) and rv >= 0:
            self.pool._report(<CK_RV>rv, self.f)
        return False


cdef class SessionPool:
    """A bounded, thread-safe pool of sessions on one token, logged in once, safe across ``fork()``.

    ``SessionPool(module, slot_id, *, max_size=None, user_pin=None, keep_pin=False, rw=None, user_type=CKU_USER,
    pin_source=None)`` where ``module`` is the lowlevel Module (kept referenced; its ``ensure_ready`` runs after a
    fork) or a function list address. ``max_size`` defaults to the token's ``ulMaxSessionCount`` (and
    ``ulMaxRwSessionCount`` for a rw pool) capped at 8; a larger request is capped at the token's own limit, and
    the token's answer CKR_SESSION_COUNT lowers it for a while (see the notes at the top). Sessions open lazily.
    ``rw=None``: read-write sessions (they serve reads and writes) unless the token is write-protected;
    ``True``/``False`` force the kind. ``user_pin`` logs in once (``keep_pin=True`` lets the pool log in again when
    the login is lost). ``pin_source``: a callable giving the PIN (str or bytes), asked whenever the pool must log in
    and holds no PIN (a PIN file read afresh): the PIN is then wiped after each login.

    Use ``pool.sign(...)`` and friends (borrow, one crossing, give back, one retry on a dead session), or
    ``with pool.session() as h:`` / ``borrow()`` + ``give_back()`` for anything else. ``close()`` closes every
    session (borrowed ones when they come back).
    """

    cdef p11_gate* _f
    cdef readonly object module
    cdef CK_SLOT_ID _slot
    cdef bint _slot_stale          # the module was initialised again: find the token's slot afresh
    cdef unsigned char _identity[64]  # the token's serial number, manufacturer and model (its identity)
    cdef CK_FLAGS _flags
    cdef CK_USER_TYPE _user_type
    cdef Py_ssize_t _max
    cdef CK_SESSION_HANDLE* _idle
    cdef Py_ssize_t _n_idle
    cdef CK_SESSION_HANDLE* _busy
    cdef Py_ssize_t _n_busy
    cdef Py_ssize_t _size          # sessions open, or being opened, counted against the bound
    cdef Py_ssize_t _opened        # sessions this pool opened in its life (statistics, tests)
    cdef PyThread_type_lock _mutex
    cdef PyThread_type_lock _login_lock  # serialises logins and PIN wiping (a login reads the PIN without the GIL)
    cdef object _waiters
    cdef bint _closed
    cdef unsigned long _gen
    cdef object _module_gen
    cdef unsigned char* _pin
    cdef CK_ULONG _pin_len
    cdef bint _keep_pin
    cdef bint _need_login
    cdef object _pin_source        # callable -> PIN, asked when a login is needed and no PIN is held
    cdef Py_ssize_t _cap           # the handle arrays' capacity: the bound asked for (_max may be lower for now)
    cdef double _grow_at           # monotonic time after which a bound lowered at the token's limit may grow by one
    cdef object _executor
    cdef object __weakref__

    def __cinit__(self, *args, **kwargs):
        self._mutex = PyThread_allocate_lock()
        self._login_lock = PyThread_allocate_lock()
        if self._mutex == NULL or self._login_lock == NULL:
            raise MemoryError()
        self._idle = NULL
        self._busy = NULL
        self._pin = NULL
        self._closed = True  # until __init__ succeeds
        self._gen = _pool_fork_generation

    def __init__(self, module, CK_SLOT_ID slot_id, *, max_size=None, user_pin=None, bint keep_pin=False,
                 rw=None, CK_USER_TYPE user_type=CKU_USER, pin_source=None):
        cdef CK_TOKEN_INFO info
        cdef CK_RV rv
        cdef Py_ssize_t limit, bound
        if self._idle != NULL:
            raise RuntimeError("SessionPool.__init__ called twice")
        self._f = _gate_at(module)  # also re-initialises a lowlevel Module in a fork child
        self.module = module if not PyLong_Check(module) else None
        self._module_gen = getattr(module, "generation", None)
        _require(p11g_has_C_GetTokenInfo(self._f), "C_GetTokenInfo")
        _require(p11g_has_C_OpenSession(self._f), "C_OpenSession")
        _require(p11g_has_C_CloseSession(self._f), "C_CloseSession")
        _require(p11g_has_C_Login(self._f), "C_Login")
        _require(p11g_has_C_GetSessionInfo(self._f), "C_GetSessionInfo")
        self._slot = slot_id
        self._user_type = user_type
        with nogil:
            rv = p11g_C_GetTokenInfo(self._f, slot_id, &info)
        if rv != CKR_OK:
            raise _ops_error(rv, "C_GetTokenInfo")
        _pool_token_identity(&info, self._identity)
        if rw is None:  # read-write serves everything, except on a token that refuses read-write sessions
            rw = not (info.flags & CKF_WRITE_PROTECTED)
        self._flags = CKF_SERIAL_SESSION | (CKF_RW_SESSION if rw else 0)
        limit = _pool_token_limit(info.ulMaxSessionCount)
        if rw:
            limit = _pool_min_limit(limit, _pool_token_limit(info.ulMaxRwSessionCount))
        if max_size is None:
            bound = DEFAULT_POOL_SIZE if limit < 0 else min(DEFAULT_POOL_SIZE, limit)
        else:
            bound = _size_arg(max_size, "max_size", 1, _POOL_MAX_SIZE)
            if limit >= 0:
                bound = min(bound, limit)
        if bound < 1:
            raise ValueError("the token allows no sessions")
        if pin_source is not None and not callable(pin_source):
            raise TypeError(f"pin_source must be a callable giving the PIN, not {type(pin_source).__name__}")
        self._max = bound
        self._cap = bound
        self._idle = <CK_SESSION_HANDLE*>malloc(sizeof(CK_SESSION_HANDLE) * bound)
        self._busy = <CK_SESSION_HANDLE*>malloc(sizeof(CK_SESSION_HANDLE) * bound)
        if self._idle == NULL or self._busy == NULL:
            raise MemoryError()
        self._waiters = _pool_collections.deque()
        self._keep_pin = keep_pin
        self._pin_source = pin_source
        if user_pin is not None:
            self._set_pin(user_pin)
        self._need_login = self._can_login()
        self._closed = False

    def __dealloc__(self):
        cdef Py_ssize_t i
        # Idle sessions are ours to close (not in a fork child: those belong to the parent).
        if self._idle != NULL and not self._closed and self._gen == _pool_fork_generation:
            # Without the GIL, like every call through the gate: a call waiting at a paused gate (fork in progress)
            # must not hold the GIL the forking thread needs to finish.
            with nogil:
                for i in range(self._n_idle):
                    p11g_C_CloseSession(self._f, self._idle[i])
        self._wipe_pin_locked()  # nobody else can reach the pool any more
        if self._idle != NULL:
            free(self._idle)
        if self._busy != NULL:
            free(self._busy)
        if self._mutex != NULL:
            PyThread_free_lock(self._mutex)
        if self._login_lock != NULL:
            PyThread_free_lock(self._login_lock)

    # -- PIN ------------------------------------------------------------------------------------------------------

    cdef _set_pin(self, object pin):
        cdef bytes raw
        if isinstance(pin, str):
            raw = (<str>pin).encode("utf-8")
        elif isinstance(pin, (bytes, bytearray, memoryview)):
            raw = bytes(pin)
        else:
            raise TypeError(f"user_pin must be str or bytes, not {type(pin).__name__}")
        self._pin = <unsigned char*>malloc(len(raw) + 1)
        if self._pin == NULL:
            raise MemoryError()
        memcpy(self._pin, PyBytes_AS_STRING(raw), len(raw))
        self._pin_len = len(raw)

    cdef inline bint _can_login(self) noexcept:
        """Whether the pool can log in by itself: it holds a PIN, or a source to read one from."""
        return self._pin != NULL or self._pin_source is not None

    cdef int _pin_from_source(self) except -1:
        """Read the PIN from ``pin_source`` when a login needs one and none is held (GIL held, no lock taken: the
        source may read a file). A failing source raises its own error (PinSourceError names the file)."""
        cdef object source = self._pin_source
        if self._pin != NULL or source is None:
            return 0
        pin = source()
        _pool_lock(self._login_lock)
        try:
            if self._pin == NULL:
                self._set_pin(pin)
        finally:
            PyThread_release_lock(self._login_lock)
        return 0

    cdef void _wipe_pin(self) noexcept:
        _pool_lock(self._login_lock)
        self._wipe_pin_locked()
        PyThread_release_lock(self._login_lock)

    cdef void _wipe_pin_locked(self) noexcept:
        cdef volatile unsigned char* p = self._pin
        cdef CK_ULONG i
        if p != NULL:
            for i in range(self._pin_len):
                p[i] = 0
            free(self._pin)
        self._pin = NULL
        self._pin_len = 0

    # -- properties -----------------------------------------------------------------------------------------------

    @property
    def slot_id(self):
        """The token's slot (it may change after the module is initialised again, e.g. in a fork child)."""
        return self._slot

    @property
    def max_size(self):
        """The bound: never more sessions than this open at once (for a while lower than asked, when the token
        answered CKR_SESSION_COUNT: the sessions the pool held then)."""
        return self._max

    @property
    def size(self):
        """Sessions open now (idle + in use + being opened)."""
        self._check_fork()
        return self._size

    @property
    def in_use(self):
        """Sessions borrowed now."""
        self._check_fork()
        return self._n_busy

    @property
    def waiting(self):
        """Borrowers blocked until a session comes back."""
        self._check_fork()
        return len(self._waiters)

    @property
    def idle(self):
        self._check_fork()
        return self._n_idle

    @property
    def opened(self):
        """How many sessions this pool opened in its life (a replaced session counts again)."""
        return self._opened

    @property
    def rw(self):
        return bool(self._flags & CKF_RW_SESSION)

    @property
    def closed(self):
        return self._closed

    @property
    def keeps_pin(self):
        """Whether the pool can log in again by itself (``keep_pin=True`` and a PIN the token accepted, or a
        ``pin_source``)."""
        return (self._keep_pin and self._pin != NULL) or self._pin_source is not None

    def idle_handles(self):
        """The idle session handles (a snapshot, for diagnostics and tests)."""
        cdef Py_ssize_t i
        self._check_fork()
        _pool_lock(self._mutex)
        try:
            return tuple([self._idle[i] for i in range(self._n_idle)])
        finally:
            PyThread_release_lock(self._mutex)

    def __repr__(self):
        state = "closed" if self._closed else f"size={self._size}/{self._max} in_use={self._n_busy}"
        return f"<p11._native.SessionPool slot={self._slot} {'rw' if self.rw else 'ro'} {state}>"

    def __reduce__(self):
        raise TypeError("a SessionPool holds sessions of this process and cannot be pickled")

    # -- fork -----------------------------------------------------------------------------------------------------

    cdef inline int _check_fork(self) except -1:
        if self._gen != _pool_fork_generation:
            self._after_fork()
        return 0

    cdef int _after_fork(self) except -1:
        # Another thread of the parent may have held the mutex at fork time: take a fresh one (the old one leaks,
        # a few bytes once per fork). The parent's sessions are forgotten, not closed.
        self._mutex = PyThread_allocate_lock()
        self._login_lock = PyThread_allocate_lock()
        if self._mutex == NULL or self._login_lock == NULL:
            raise MemoryError()
        self._n_idle = 0
        self._n_busy = 0
        self._size = 0
        self._waiters = _pool_collections.deque()
        self._executor = None
        self._need_login = self._can_login()
        self._gen = _pool_fork_generation
        self._slot_stale = True  # the child initialises the module again, and slot ids may change with that
        if self.module is not None:
            self._f = _gate_at(self.module)  # re-initialises the module in this process; its new generation's gate
            self._module_gen = getattr(self.module, "generation", None)
        return 0

    cdef int _check_module_generation(self) except -1:
        """After the module was finalised and initialised again (a new generation: C_Finalize, a renewal after the
        device was lost), every handle the pool holds names nothing, or worse, someone else's new session: forget
        them all, idle and borrowed (a borrowed one is dropped when it comes back: see _give_back), and call through
        the new generation's gate. Waiters get the freed slots. Checked before every borrow whose gate is closed,
        where a session was found dead, and before opening one."""
        cdef p11_gate* nf
        cdef _PoolWaiter w
        if self.module is None:
            return 0
        g = getattr(self.module, "generation", None)
        if g == self._module_gen:
            return 0
        nf = _gate_at(self.module)  # the old generation's gate is closed: call through the new one
        if nf == self._f:
            # The generation was counted up but its gate is not published yet (Module._new_gate comes after, so a
            # key handle is never read as current with the new gate): decide again on the next check, by the gate.
            return 0
        _pool_lock(self._mutex)
        if self._f != nf:
            self._f = nf
            self._size -= self._n_idle + self._n_busy
            self._n_idle = 0
            self._n_busy = 0
            self._need_login = self._can_login()
            self._slot_stale = True
            while self._waiters and self._size < self._max and not self._closed:
                w = self._waiters.popleft()
                w.state = _W_SLOT
                self._size += 1
                PyThread_release_lock(w.lock)
        PyThread_release_lock(self._mutex)
        self._module_gen = g
        return 0

    cdef int _find_slot(self) except -1:
        """Find this pool's token again after the module was initialised anew (fork, finalise + initialise):
        slot ids are only valid for one initialisation, and some modules (SoftHSM) renumber them. The token is
        recognised by its serial number, manufacturer and model; when it is nowhere, the old id is kept and the
        next call reports the module's error (CKR_SLOT_ID_INVALID, CKR_TOKEN_NOT_PRESENT)."""
        cdef CK_ULONG i, n = 0
        cdef CK_SLOT_ID* slots = NULL
        cdef CK_TOKEN_INFO info
        cdef unsigned char ident[64]
        cdef CK_RV rv
        cdef p11_gate* f = self._f
        self._slot_stale = False
        if not p11g_has_C_GetSlotList(f):
            return 0
        with nogil:
            rv = p11g_C_GetTokenInfo(f, self._slot, &info)
        if rv == CKR_OK:
            _pool_token_identity(&info, ident)
            if memcmp(ident, self._identity, 64) == 0:
                return 0
        try:
            for _ in range(4):  # the slot list may grow between the two calls
                with nogil:
                    rv = p11g_C_GetSlotList(f, 1, NULL, &n)
                if rv != CKR_OK or n == 0:
                    return 0
                free(slots)
                slots = <CK_SLOT_ID*>malloc(sizeof(CK_SLOT_ID) * n)
                if slots == NULL:
                    raise MemoryError()
                with nogil:
                    rv = p11g_C_GetSlotList(f, 1, slots, &n)
                if rv != CKR_BUFFER_TOO_SMALL:
                    break
            if rv != CKR_OK:
                return 0
            for i in range(n):
                with nogil:
                    rv = p11g_C_GetTokenInfo(f, slots[i], &info)
                if rv == CKR_OK:
                    _pool_token_identity(&info, ident)
                    if memcmp(ident, self._identity, 64) == 0:
                        self._slot = slots[i]
                        return 0
        finally:
            free(slots)
        return 0

    # -- borrow / give back ---------------------------------------------------------------------------------------
    # Every borrow gives the session's gate too (pf), read under the mutex with the handle: the pair names one
    # generation. Calls on the session go through that gate, and giving it back names it again.

    cdef CK_SESSION_HANDLE _borrow(self, double timeout, p11_gate** pf) except 0:
        """A session handle for the caller's exclusive use, and its gate in ``pf``; ``timeout`` < 0 waits for
        ever."""
        cdef CK_SESSION_HANDLE h
        cdef double now = 0.0
        if self._gen != _pool_fork_generation:
            self._after_fork()
        if p11_gate_state(self._f) == P11_GATE_CLOSED and self.module is not None:
            self._check_module_generation()  # the module was finalised and initialised again since
        if self._max < self._cap:
            now = _pool_time.monotonic()  # a bound lowered at the token's session limit: time to try one more?
        _pool_lock(self._mutex)
        if self._closed:
            PyThread_release_lock(self._mutex)
            raise PoolClosed("the session pool is closed")
        if self._n_idle:
            self._n_idle -= 1
            h = self._idle[self._n_idle]
            self._busy[self._n_busy] = h
            self._n_busy += 1
            pf[0] = self._f
            PyThread_release_lock(self._mutex)
            return h
        if self._size >= self._max and self._max < self._cap and now >= self._grow_at and now > 0.0:
            self._max += 1
            self._grow_at = now + _POOL_GROW_AFTER
        if self._size < self._max:
            self._size += 1
            PyThread_release_lock(self._mutex)
            return self._open_reserved(timeout, pf, True)
        PyThread_release_lock(self._mutex)
        return self._wait(timeout, pf)

    cdef CK_SESSION_HANDLE _try_borrow(self, p11_gate** pf) except? 0:
        """A session if one is idle or can be opened now, else 0 (never waits)."""
        cdef CK_SESSION_HANDLE h
        self._check_fork()
        _pool_lock(self._mutex)
        if self._closed:
            PyThread_release_lock(self._mutex)
            return 0
        if self._n_idle:
            self._n_idle -= 1
            h = self._idle[self._n_idle]
            self._busy[self._n_busy] = h
            self._n_busy += 1
            pf[0] = self._f
            PyThread_release_lock(self._mutex)
            return h
        if self._size < self._max:
            self._size += 1
            PyThread_release_lock(self._mutex)
            try:
                return self._open_reserved(-1.0, pf, False)
            except Exception:
                return 0
        PyThread_release_lock(self._mutex)
        return 0

    cdef CK_SESSION_HANDLE _wait(self, double timeout, p11_gate** pf) except 0:
        cdef _PoolWaiter w = _PoolWaiter()
        cdef PyLockStatus got
        cdef long long slice_us
        cdef double deadline = _pool_time.monotonic() + timeout if timeout >= 0 else 0.0
        cdef double left
        _pool_lock(self._mutex)
        # Re-check: a session may have come back while the waiter was being made.
        if self._closed:
            PyThread_release_lock(self._mutex)
            raise PoolClosed("the session pool is closed")
        if self._n_idle or self._size < self._max:
            PyThread_release_lock(self._mutex)
            return self._borrow(timeout, pf)
        self._waiters.append(w)
        PyThread_release_lock(self._mutex)
        while True:
            slice_us = _POOL_WAIT_SLICE_US
            if timeout >= 0:
                left = deadline - _pool_time.monotonic()
                if left <= 0:
                    if self._cancel_wait(w):
                        raise PoolTimeout(
                            f"no session of the pool (max_size={self._max}) became free within {timeout:g} s")
                    break  # handed something just now
                if left * 1e6 < slice_us:
                    slice_us = <long long>(left * 1e6) + 1
            with nogil:
                got = PyThread_acquire_lock_timed(w.lock, slice_us, 0)
            if got == PY_LOCK_ACQUIRED:
                break
            try:
                PyErr_CheckSignals()
            except BaseException:
                if not self._cancel_wait(w):
                    self._undo_handoff(w)
                raise
        if timeout >= 0:
            timeout = max(0.0, deadline - _pool_time.monotonic())
        return self._take_handoff(w, timeout, pf)

    cdef bint _cancel_wait(self, _PoolWaiter w) except -1:
        """Leave the queue. False when a handoff arrived first (the waiter then owns what it was handed)."""
        _pool_lock(self._mutex)
        if w.state == _W_WAITING:
            try:
                self._waiters.remove(w)
            except ValueError:
                pass
            PyThread_release_lock(self._mutex)
            return True
        PyThread_release_lock(self._mutex)
        return False

    cdef int _undo_handoff(self, _PoolWaiter w) except -1:
        if w.state == _W_SESSION:
            self._give_back(w.handle, w.gate)
        elif w.state == _W_SLOT:
            self._release_slot()
        return 0

    cdef CK_SESSION_HANDLE _take_handoff(self, _PoolWaiter w, double timeout, p11_gate** pf) except 0:
        if w.state == _W_SESSION:
            pf[0] = w.gate
            return w.handle
        if w.state == _W_SLOT:
            return self._open_reserved(timeout, pf, True)
        if w.state == _W_COUNT:
            raise _pool_count_error()
        raise PoolClosed("the session pool was closed while waiting for a session")

    cdef CK_SESSION_HANDLE _open_reserved(self, double timeout, p11_gate** pf, bint may_wait) except 0:
        """Open a session in a slot already counted in ``_size``; the slot is released if that fails.

        At the token's session limit (CKR_SESSION_COUNT) the pool's bound becomes the sessions it holds, for now,
        and the caller waits for one of them (``may_wait``; else the error is raised, and _try_borrow gives up).
        When the pool holds none, the open is tried again with backoff for at most ``_POOL_COUNT_WAIT`` seconds;
        then SessionCount is raised, to the waiters too."""
        cdef CK_SESSION_HANDLE h
        cdef p11_gate* f = NULL
        cdef double started = 0.0, pause = _POOL_COUNT_FIRST_PAUSE
        cdef int renewals = 0
        cdef object rv
        while True:
            try:
                h = self._open_session(&f)
            except BaseException as exc:
                rv = getattr(exc, "rv", None)
                if rv != CKR_SESSION_COUNT:
                    # A module that lost its device: its health check may bring a new generation (waiting a
                    # moment while it is down); opening holds no handle of the old one, so try again there.
                    if (may_wait and renewals < 2 and isinstance(rv, int) and rv >= 0
                            and self._settle(<CK_RV>rv, f)):
                        renewals += 1
                        continue
                    self._release_slot()
                    raise
                if started == 0.0:
                    started = _pool_time.monotonic()
                if self._at_session_limit():
                    if not may_wait:
                        raise
                    return self._wait(timeout, pf)
                if not may_wait or _pool_time.monotonic() - started >= _POOL_COUNT_WAIT:
                    self._give_up_at_session_limit()
                    raise _pool_count_error() from None
                try:
                    _pool_time.sleep(pause)  # releases the GIL; Ctrl-C raises here
                except BaseException:
                    self._release_slot()
                    raise
                pause = min(pause * 2, _POOL_COUNT_MAX_PAUSE)
                continue
            _pool_lock(self._mutex)
            if self._closed:
                self._size -= 1
                PyThread_release_lock(self._mutex)
                with nogil:
                    p11g_C_CloseSession(f, h)
                raise PoolClosed("the session pool is closed")
            if f != self._f:
                # Opened in a generation that ended meanwhile (its gate is closed, the session gone with it): the
                # slot is still counted, open again in the new one.
                PyThread_release_lock(self._mutex)
                continue
            self._busy[self._n_busy] = h
            self._n_busy += 1
            pf[0] = f
            PyThread_release_lock(self._mutex)
            return h

    cdef bint _at_session_limit(self) except -1:
        """C_OpenSession answered CKR_SESSION_COUNT for a counted slot. When the pool holds (or is opening) other
        sessions, give the slot up, make what it holds its bound for now, and say so (True): the caller waits for
        one of them. False: the pool holds nothing else; the slot stays counted."""
        cdef double now = _pool_time.monotonic()
        _pool_lock(self._mutex)
        if self._size <= 1:
            PyThread_release_lock(self._mutex)
            return False
        self._size -= 1
        if self._max > self._size:
            self._max = self._size
        self._grow_at = now + _POOL_GROW_AFTER
        PyThread_release_lock(self._mutex)
        return True

    cdef int _give_up_at_session_limit(self) except -1:
        """The token kept refusing a session and the pool holds none: release the slot; if nothing is held or being
        opened now, every waiter is told (SessionCount) instead of waiting for a session that will not come."""
        cdef _PoolWaiter w
        _pool_lock(self._mutex)
        self._size -= 1
        if self._size == 0:
            while self._waiters:
                w = self._waiters.popleft()
                w.state = _W_COUNT
                PyThread_release_lock(w.lock)
        elif self._waiters and self._size < self._max and not self._closed:
            w = self._waiters.popleft()
            w.state = _W_SLOT
            self._size += 1
            PyThread_release_lock(w.lock)
        PyThread_release_lock(self._mutex)
        return 0

    cdef CK_SESSION_HANDLE _open_session(self, p11_gate** pf) except 0:
        """C_OpenSession, then C_Login when the pool has to log in (CKR_USER_ALREADY_LOGGED_IN is success); the
        gate it was opened through in ``pf``. A failure that may mean the module lost its device is reported."""
        cdef CK_SESSION_HANDLE h = 0
        cdef CK_RV rv
        cdef p11_gate* f
        self._check_module_generation()
        if self._slot_stale:
            self._find_slot()
        f = self._f
        pf[0] = f  # also when it fails: the caller asks the module's health about that generation
        with nogil:
            rv = p11g_C_OpenSession(f, self._slot, self._flags, NULL, NULL, &h)
        if rv == CKR_SLOT_ID_INVALID or rv == CKR_TOKEN_NOT_PRESENT:
            # The token may have moved (re-inserted in another reader, module initialised again): look for it.
            self._find_slot()
            with nogil:
                rv = p11g_C_OpenSession(f, self._slot, self._flags, NULL, NULL, &h)
        if rv != CKR_OK:
            raise _ops_error(rv, "C_OpenSession")  # _open_reserved asks the module's health about it
        self._opened += 1
        if not self._need_login:
            return h
        rv = CKR_OK
        try:
            self._pin_from_source()
        except BaseException:
            with nogil:
                p11g_C_CloseSession(f, h)
            raise
        _pool_lock(self._login_lock)
        try:
            if self._need_login and self._pin != NULL:
                rv = self._login_locked(f, h)
                if rv == CKR_OK or rv == CKR_USER_ALREADY_LOGGED_IN:
                    rv = CKR_OK
                    self._need_login = False
                    if not self._keep_pin:
                        self._wipe_pin_locked()
                elif _pool_pin_rejected(rv):
                    self._wipe_pin_locked()  # never try a rejected PIN again: that would burn the retry counter
                    self._need_login = False
        finally:
            PyThread_release_lock(self._login_lock)
        if rv != CKR_OK:
            if _pool_pin_rejected(rv):
                self._pin_source = None  # nor read the same PIN again from its source
            with nogil:
                p11g_C_CloseSession(f, h)
            raise _ops_error(rv, "C_Login")
        return h

    cdef CK_RV _login_locked(self, p11_gate* f, CK_SESSION_HANDLE h) except? 0xFFFFFFFF:
        """C_Login with the pool's PIN (login lock held), asked again a few times while the token answers with an
        error of the moment: SoftHSM answers CKR_GENERAL_ERROR when processes log in at once (each login rewrites
        the token's files), which a pre-forking server's workers do. The same rule and bounds as the low level's
        read-only calls (p11.lowlevel.retry: TRANSIENT, ATTEMPTS, FIRST_DELAY); a PIN the token refused is never
        tried again."""
        cdef CK_RV rv = CKR_OK
        cdef double pause = _POOL_LOGIN_FIRST_PAUSE
        cdef int attempt
        for attempt in range(_POOL_LOGIN_ATTEMPTS):
            with nogil:
                rv = p11g_C_Login(f, h, self._user_type, self._pin, self._pin_len)
            if not (rv == CKR_GENERAL_ERROR or rv == CKR_FUNCTION_FAILED or rv == CKR_DEVICE_ERROR):
                break
            if attempt + 1 < _POOL_LOGIN_ATTEMPTS:
                _pool_time.sleep(pause)  # the GIL is released; logins of other threads wait on the login lock
                pause *= 2
        return rv

    cdef int _release_slot(self) except -1:
        """A counted session went away: hand its slot to the first waiter, or shrink."""
        cdef _PoolWaiter w
        _pool_lock(self._mutex)
        if self._waiters and not self._closed:
            w = self._waiters.popleft()
            w.state = _W_SLOT
            PyThread_release_lock(w.lock)
        else:
            self._size -= 1
        PyThread_release_lock(self._mutex)
        return 0

    cdef inline bint _take_busy(self, CK_SESSION_HANDLE h) noexcept:
        # Called with the mutex held.
        cdef Py_ssize_t i
        for i in range(self._n_busy - 1, -1, -1):
            if self._busy[i] == h:
                self._n_busy -= 1
                self._busy[i] = self._busy[self._n_busy]
                return True
        return False

    cdef int _give_back(self, CK_SESSION_HANDLE h, p11_gate* f) except -1:
        """Return ``h``, borrowed with gate ``f``. A session of an ended generation is only forgotten: it was
        dropped from the counts when the generation changed, and its number may now be another caller's."""
        cdef _PoolWaiter w
        cdef Py_ssize_t i
        if self._gen != _pool_fork_generation:
            self._after_fork()
            return 0  # borrowed before the fork: the parent's session, not ours
        _pool_lock(self._mutex)
        if f != self._f:
            PyThread_release_lock(self._mutex)
            return 0
        if self._closed:
            if not self._take_busy(h):
                PyThread_release_lock(self._mutex)
                raise ValueError(f"session {h} was not borrowed from this pool")
            self._size -= 1
            PyThread_release_lock(self._mutex)
            with nogil:
                p11g_C_CloseSession(f, h)
            return 0
        if self._waiters:
            # Hand it straight to the first waiter: it stays counted as busy.
            for i in range(self._n_busy):
                if self._busy[i] == h:
                    break
            else:
                PyThread_release_lock(self._mutex)
                raise ValueError(f"session {h} was not borrowed from this pool")
            w = self._waiters.popleft()
            w.handle = h
            w.gate = f
            w.state = _W_SESSION
            PyThread_release_lock(w.lock)
            PyThread_release_lock(self._mutex)
            return 0
        if not self._take_busy(h):
            PyThread_release_lock(self._mutex)
            raise ValueError(f"session {h} was not borrowed from this pool")
        self._idle[self._n_idle] = h
        self._n_idle += 1
        PyThread_release_lock(self._mutex)
        return 0

    cdef inline bint _replaceable(self, CK_RV rv) noexcept:
        """Whether a failure means 'this session is dead, a new one will do'."""
        if rv == CKR_USER_NOT_LOGGED_IN:
            return self._can_login()  # only worth it when the pool can log in again
        return (rv == CKR_SESSION_HANDLE_INVALID or rv == CKR_SESSION_CLOSED or rv == CKR_DEVICE_REMOVED
                or rv == CKR_TOKEN_NOT_PRESENT or rv == CKR_OPERATION_ACTIVE)

    cdef bint _login_again(self, CK_SESSION_HANDLE h, p11_gate* f, CK_RV rv) except -1:
        """Someone logged the token out behind the pool's back (C_Logout on another session): the session lives,
        but private objects vanished (CKR_KEY_HANDLE_INVALID / CKR_OBJECT_HANDLE_INVALID from most tokens). With a
        kept PIN (or its source) and a session now in a public state, log in again and say so (the caller retries
        once)."""
        cdef CK_SESSION_INFO info
        cdef CK_RV r
        if not self._keep_pin and self._pin_source is None:
            return False
        if rv != CKR_KEY_HANDLE_INVALID and rv != CKR_OBJECT_HANDLE_INVALID:
            return False
        with nogil:
            r = p11g_C_GetSessionInfo(f, h, &info)
        if r != CKR_OK or (info.state != CKS_RO_PUBLIC_SESSION and info.state != CKS_RW_PUBLIC_SESSION):
            return False
        try:
            self._pin_from_source()
        except Exception:
            return False  # the source failed (a missing PIN file): the operation's own error is the one to raise
        _pool_lock(self._login_lock)
        try:
            if self._pin == NULL:
                return False
            r = self._login_locked(f, h)
            if _pool_pin_rejected(r):
                self._wipe_pin_locked()
                self._pin_source = None
            elif not self._keep_pin:
                self._wipe_pin_locked()
        finally:
            PyThread_release_lock(self._login_lock)
        return r == CKR_OK or r == CKR_USER_ALREADY_LOGGED_IN

    cdef int _discard(self, CK_SESSION_HANDLE h, CK_RV rv, p11_gate* f) except -1:
        """Drop a borrowed session (gate ``f``) that answered ``rv``; close it only if the handle is still ours."""
        cdef bint ours
        cdef CK_RV r = CKR_OK
        cdef CK_SESSION_HANDLE fresh = 0
        if self._gen != _pool_fork_generation:
            self._after_fork()
            return 0
        _pool_lock(self._mutex)
        if f != self._f:
            PyThread_release_lock(self._mutex)
            return 0  # a session of an ended generation: dropped from the counts already
        ours = self._take_busy(h)
        PyThread_release_lock(self._mutex)
        if not ours:
            raise ValueError(f"session {h} was not borrowed from this pool")
        if rv == CKR_OPERATION_ACTIVE:
            # The session itself is alive: open its replacement BEFORE closing it. Closing the token's last session
            # first would log the application out, and a token then forgets the handles of the private objects
            # every caller holds (SoftHSM does): the retry would fail with CKR_OBJECT_HANDLE_INVALID.
            with nogil:
                r = p11g_C_OpenSession(f, self._slot, self._flags, NULL, NULL, &fresh)
                p11g_C_CloseSession(f, h)
            if r == CKR_OK:
                _pool_lock(self._mutex)
                if f == self._f:
                    self._busy[self._n_busy] = fresh  # counted in place of h: the pool's size is unchanged
                    self._n_busy += 1
                    PyThread_release_lock(self._mutex)
                    self._give_back(fresh, f)  # to a waiter, or idle for the retry
                    return 0
                PyThread_release_lock(self._mutex)  # the generation ended meanwhile: counted no more
                return 0
        elif rv == CKR_USER_NOT_LOGGED_IN or rv == CKR_OK:
            with nogil:
                p11g_C_CloseSession(f, h)
        self._release_slot()
        # The login may be gone with the session (closing the token's last session logs it out, so does
        # C_CloseAllSessions): log in with the next one (CKR_USER_ALREADY_LOGGED_IN counts as success).
        self._need_login = self._can_login()
        if rv != CKR_OPERATION_ACTIVE and rv != CKR_OK:
            self._check_module_generation()
            self._sweep()
        return 0

    cdef int _sweep(self) except -1:
        """Drop idle sessions that are no longer valid (C_GetSessionInfo fails, or names another slot)."""
        cdef Py_ssize_t i, j, n, dead = 0
        cdef CK_SESSION_INFO info
        cdef CK_RV rv
        cdef p11_gate* f
        _pool_lock(self._mutex)
        n = self._n_idle
        f = self._f
        j = 0
        with nogil:
            for i in range(n):
                rv = p11g_C_GetSessionInfo(f, self._idle[i], &info)
                if rv == CKR_OK and info.slotID == self._slot:
                    self._idle[j] = self._idle[i]
                    j += 1
        self._n_idle = j
        dead = n - j
        PyThread_release_lock(self._mutex)
        for i in range(dead):
            self._release_slot()
        return 0

    cdef int _report(self, CK_RV rv, p11_gate* f) except -1:
        """Tell the module a call through gate ``f`` answered ``rv``, when that may mean it lost its device or
        connection: the module's health check decides whether to start a new generation (p11.lowlevel.health).
        Never raises: the caller's own error is the one to raise."""
        if f == NULL or not _pool_suspect(rv) or self.module is None:
            return 0
        if rv == CKR_CRYPTOKI_NOT_INITIALIZED and p11_gate_state(f) == P11_GATE_CLOSED:
            return 0  # refused by the gate of an ended generation, not answered by the module
        health = getattr(self.module, "health", None)
        if health is None:
            return 0
        try:
            health.report(rv, self._slot, <uintptr_t>f)
        except Exception:
            pass
        return 0

    cdef bint _settle(self, CK_RV rv, p11_gate* f) except -1:
        """For a caller that holds nothing of the old generation (opening a session): report ``rv`` and wait a
        moment for a module that is down to come back (``ModuleHealth.settle``). Whether a newer generation than
        ``f``'s exists now. Never raises."""
        if f == NULL or not _pool_suspect(rv) or self.module is None:
            return False
        if rv == CKR_CRYPTOKI_NOT_INITIALIZED and p11_gate_state(f) == P11_GATE_CLOSED:
            return True  # refused by the gate of an ended generation: the next one is there
        health = getattr(self.module, "health", None)
        if health is None:
            return False
        try:
            return bool(health.settle(rv, self._slot, <uintptr_t>f))
        except Exception:
            return False

    def borrow(self, timeout=None):
        """Borrow a session handle for exclusive use (give it back with :meth:`give_back`). Waits while all
        ``max_size`` sessions are in use; ``timeout`` (seconds) raises :class:`PoolTimeout` when it expires.
        (A handle borrowed before the module started a new generation is forgotten when given back.)"""
        cdef p11_gate* f
        return self._borrow(-1.0 if timeout is None else max(0.0, <double>timeout), &f)

    def give_back(self, handle):
        """Return a borrowed session to the pool."""
        cdef CK_SESSION_HANDLE h = <CK_SESSION_HANDLE>_ops_size_arg_slow(handle, "handle")
        self._check_fork()
        if p11_gate_state(self._f) == P11_GATE_CLOSED and self.module is not None:
            self._check_module_generation()
        self._give_back(h, self._f)

    def discard(self, handle):
        """Close a borrowed session that must not be reused (e.g. its state is unknown) and free its slot."""
        self._discard(<CK_SESSION_HANDLE>_ops_size_arg_slow(handle, "handle"), CKR_OK, self._f)

    def session(self, timeout=None, gate=None):
        """``with pool.session() as handle:`` borrow for the block; a dead session is discarded on the way out.
        ``gate``: the call gate address (``Module.gate_address``) the caller's handles belong to; a session of
        another generation is refused (CryptokiNotInitialized) rather than mixed with them."""
        cdef _PoolLease lease = _PoolLease.__new__(_PoolLease)
        lease.pool = self
        lease.timeout = -1.0 if timeout is None else max(0.0, <double>timeout)
        lease.want = NULL if gate is None else _gate_at(gate)
        return lease

    def close(self):
        """Close every idle session now and every borrowed one when it is given back; waiters get PoolClosed.
        The token's session count returns to what it was before the pool (once borrowed sessions are back)."""
        cdef Py_ssize_t i, n
        cdef CK_SESSION_HANDLE* handles
        cdef _PoolWaiter w
        cdef p11_gate* f
        self._check_fork()
        handles = <CK_SESSION_HANDLE*>malloc(sizeof(CK_SESSION_HANDLE) * (self._cap if self._cap else 1))
        if handles == NULL:
            raise MemoryError()
        _pool_lock(self._mutex)
        if self._closed:
            PyThread_release_lock(self._mutex)
            free(handles)
            return
        self._closed = True
        n = self._n_idle
        memcpy(handles, self._idle, sizeof(CK_SESSION_HANDLE) * n)
        self._n_idle = 0
        self._size -= n
        while self._waiters:
            w = self._waiters.popleft()
            w.state = _W_CLOSED
            PyThread_release_lock(w.lock)
        f = self._f
        PyThread_release_lock(self._mutex)
        with nogil:
            for i in range(n):
                p11g_C_CloseSession(f, handles[i])
        free(handles)
        self._pin_source = None
        self._wipe_pin()
        ex = self._executor
        self._executor = None
        if ex is not None:
            ex.shutdown(wait=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- pooled operations ------------------------------------------------------------------------------------------
    # Each borrows a session with its gate, calls through that gate, and gives it back naming it (see _borrow). With
    # ``gate`` (the gate the caller's key handle was found under), a session of another generation is refused: the
    # key handle would name nothing there, or another key.

    cdef p11_gate* _wanted(self, object gate) except? NULL:
        return NULL if gate is None else _gate_at(gate)

    cdef CK_SESSION_HANDLE _borrow_for(self, p11_gate* want, p11_gate** pf, str function) except 0:
        """A session for an operation on handles found under gate ``want`` (NULL: any generation)."""
        cdef CK_SESSION_HANDLE h = self._borrow(-1.0, pf)
        if want != NULL and pf[0] != want:
            self._give_back(h, pf[0])
            raise _pool_stale_error(function)
        return h

    cdef object _raise(self, CK_RV rv, str function, p11_gate* f):
        """Raise the error for ``rv``, answered through gate ``f``, after reporting it to the module's health check
        when it may mean the module lost its device."""
        if rv == CKR_CRYPTOKI_NOT_INITIALIZED and f != NULL and p11_gate_state(f) == P11_GATE_CLOSED:
            raise _pool_stale_error(function, self.module is not None and bool(getattr(self.module, "closed", False)))
        self._report(rv, f)
        if rv == CKR_USER_NOT_LOGGED_IN and not self._can_login():
            raise _ops_error(rv, function, "the pool holds no PIN to log in again (create it with keep_pin=True)")
        raise _ops_error(rv, function)

    cdef object _pooled_single(self, int op, object mechanism, CK_OBJECT_HANDLE key, object data,
                               Py_ssize_t out_len, object gate, object pin=None):
        cdef CK_MECHANISM scratch
        cdef CK_MECHANISM* m = _ops_mechanism(mechanism, &scratch)
        cdef _OpsInput inp
        cdef _OpsPin p
        cdef CK_RV rv = CKR_OK
        cdef int stage = 0
        cdef CK_SESSION_HANDLE h = 0
        cdef p11_gate* want = self._wanted(gate)
        cdef p11_gate* f = NULL
        cdef str name = _ops_function_name(op, 0)
        p.ptr = NULL
        _ops_input_get(&inp, data, "data")
        try:
            _ops_pin_take(&p, pin)  # the per-use login after each Init (context_login.pxi); wiped below
            h = self._borrow_for(want, &f, name)
            try:
                result = _ops_single(f, op, h, m, key, inp.ptr, inp.len, out_len, &rv, &stage, &p)
                if rv != CKR_OK:
                    if self._replaceable(rv):
                        self._discard(h, rv, f)
                        h = 0
                        h = self._borrow_for(want, &f, name)
                        result = _ops_single(f, op, h, m, key, inp.ptr, inp.len, out_len, &rv, &stage, &p)
                    elif self._login_again(h, f, rv):
                        result = _ops_single(f, op, h, m, key, inp.ptr, inp.len, out_len, &rv, &stage, &p)
            finally:
                if h:
                    if rv != CKR_OK and self._replaceable(rv):
                        self._discard(h, rv, f)
                    else:
                        self._give_back(h, f)
        finally:
            _ops_pin_wipe(&p)
            _ops_input_release(&inp)
        if rv != CKR_OK:
            self._raise(rv, _ops_function_name(op, stage), f)
        return result

    def sign(self, mechanism, CK_OBJECT_HANDLE key, data, Py_ssize_t out_len=0, gate=None, pin=None):
        """Sign (or HMAC) ``data`` on a pooled session: one crossing, one retry on a dead session. ``gate``: the
        call gate address the key handle was found under (refused in another generation; see the class notes).
        ``pin``: the per-use login of a key with ``CKA_ALWAYS_AUTHENTICATE`` (see :func:`sign`)."""
        return self._pooled_single(_OP_SIGN, mechanism, key, data, out_len, gate, pin)

    def encrypt(self, mechanism, CK_OBJECT_HANDLE key, data, Py_ssize_t out_len=0, gate=None):
        return self._pooled_single(_OP_ENCRYPT, mechanism, key, data, out_len, gate)

    def decrypt(self, mechanism, CK_OBJECT_HANDLE key, data, Py_ssize_t out_len=0, gate=None, pin=None):
        return self._pooled_single(_OP_DECRYPT, mechanism, key, data, out_len, gate, pin)

    def digest(self, mechanism, data, Py_ssize_t out_len=0, gate=None):
        return self._pooled_single(_OP_DIGEST, mechanism, 0, data, out_len, gate)

    def verify(self, mechanism, CK_OBJECT_HANDLE key, data, signature, gate=None):
        """True, or False for a signature that does not verify; other failures raise."""
        cdef CK_MECHANISM scratch
        cdef CK_MECHANISM* m = _ops_mechanism(mechanism, &scratch)
        cdef _OpsInput d
        cdef _OpsInput s
        cdef CK_RV rv = CKR_OK
        cdef CK_SESSION_HANDLE h = 0
        cdef p11_gate* want = self._wanted(gate)
        cdef p11_gate* f = NULL
        s.has_view = False
        _ops_input_get(&d, data, "data")
        try:
            _ops_input_get(&s, signature, "signature")
            h = self._borrow_for(want, &f, "C_VerifyInit")
            try:
                result = _ops_verify_in(f, h, m, key, &d, &s, &rv)
                if rv != CKR_OK:
                    if self._replaceable(rv):
                        self._discard(h, rv, f)
                        h = 0
                        h = self._borrow_for(want, &f, "C_VerifyInit")
                        result = _ops_verify_in(f, h, m, key, &d, &s, &rv)
                    elif self._login_again(h, f, rv):
                        result = _ops_verify_in(f, h, m, key, &d, &s, &rv)
            finally:
                if h:
                    if rv != CKR_OK and self._replaceable(rv):
                        self._discard(h, rv, f)
                    else:
                        self._give_back(h, f)
        finally:
            _ops_input_release(&s)
            _ops_input_release(&d)
        if rv != CKR_OK:
            self._raise(rv, result, f)
        return result

    def generate_random(self, n):
        """``n`` random bytes (0 to ``MAX_RANDOM_BYTES``) from the token (``C_GenerateRandom`` on a pooled
        session, one retry)."""
        cdef CK_RV rv = CKR_OK
        cdef CK_SESSION_HANDLE h = 0
        cdef bytes out
        cdef unsigned char* p
        cdef CK_ULONG count
        cdef p11_gate* f = NULL
        n = _size_arg(n, "n", 0, _OPS_MAX_RANDOM)
        count = _ops_ulong_len(n)
        _require(p11g_has_C_GenerateRandom(self._f), "C_GenerateRandom")
        out = PyBytes_FromStringAndSize(NULL, n)
        p = <unsigned char*>PyBytes_AS_STRING(out)
        h = self._borrow(-1.0, &f)
        try:
            with nogil:
                rv = p11g_C_GenerateRandom(f, h, p, count)
            if rv != CKR_OK and self._replaceable(rv):
                self._discard(h, rv, f)
                h = 0
                h = self._borrow(-1.0, &f)
                with nogil:
                    rv = p11g_C_GenerateRandom(f, h, p, count)
        finally:
            if h:
                if rv != CKR_OK and self._replaceable(rv):
                    self._discard(h, rv, f)
                else:
                    self._give_back(h, f)
        if rv != CKR_OK:
            self._raise(rv, "C_GenerateRandom", f)
        return out

    def get_attributes(self, CK_OBJECT_HANDLE obj, types, gate=None):
        """``{attribute: value}`` for ``obj`` read on a pooled session: :func:`get_attributes` with the borrow,
        give-back and the one retry on a dead session (or a lost login) done here, in C. ``gate`` as in
        :meth:`sign`."""
        cdef CK_RV rv = CKR_OK
        cdef p11_gate* want = self._wanted(gate)
        cdef p11_gate* f = NULL
        cdef CK_SESSION_HANDLE h = self._borrow_for(want, &f, "C_GetAttributeValue")
        try:
            result = _get_attributes_rv(f, h, obj, types, &rv)
            if rv != CKR_OK:
                if self._replaceable(rv):
                    self._discard(h, rv, f)
                    h = 0
                    h = self._borrow_for(want, &f, "C_GetAttributeValue")
                    rv = CKR_OK
                    result = _get_attributes_rv(f, h, obj, types, &rv)
                elif self._login_again(h, f, rv):
                    rv = CKR_OK
                    result = _get_attributes_rv(f, h, obj, types, &rv)
        finally:
            if h:
                if rv != CKR_OK and self._replaceable(rv):
                    self._discard(h, rv, f)
                else:
                    self._give_back(h, f)
        if rv != CKR_OK:
            self._raise(rv, "C_GetAttributeValue", f)
        return result

    # -- batches ----------------------------------------------------------------------------------------------------

    cdef Py_ssize_t _workers(self, object workers, Py_ssize_t n) except -1:
        cdef Py_ssize_t w
        if workers is None:
            w = min(_pool_os.cpu_count() or 1, self._max, max(1, n // _POOL_MIN_CHUNK))
        else:
            w = _size_arg(workers, "workers", 1, _POOL_MAX_SIZE)
        return max(1, min(w, n, self._max))

    cdef p11_gate* _batch_gate(self, object gate) except NULL:
        """The gate a batch's items are bound to: the caller's (its key handle's generation), else the current."""
        if gate is not None:
            return _gate_at(gate)
        self._check_fork()
        if p11_gate_state(self._f) == P11_GATE_CLOSED and self.module is not None:
            self._check_module_generation()
        return self._f

    cdef list _run_batch(self, _Batch b, object workers):
        """Spread the batch over up to ``workers`` pooled sessions (one native thread each, the caller's thread
        included), replace a session that died mid-chunk and finish that chunk once on a new one. Every session is
        of the batch's generation (``b.c.f``: its key handle's); one of another is refused."""
        cdef Py_ssize_t n = b.c.n
        cdef Py_ssize_t k, j, s, e, stop
        cdef CK_SESSION_HANDLE h
        cdef CK_RV rv
        cdef CK_RV failed = CKR_OK
        cdef p11_gate* want = b.c.f
        cdef p11_gate* f = NULL
        cdef list handles, bounds, stops
        cdef str name = "C_VerifyInit" if b.c.kind == _B_VERIFY else "C_SignInit"
        if n == 0:
            return b.results()
        k = self._workers(workers, n)
        handles = [self._borrow_for(want, &f, name)]
        try:
            while len(handles) < k:
                h = self._try_borrow(&f)
                if h == 0:
                    break
                if f != want:
                    self._give_back(h, f)
                    break
                handles.append(h)
            k = len(handles)
            bounds = [(j * n // k, (j + 1) * n // k) for j in range(k)]
            if k == 1:
                stops = [b.run_interruptible(0, n, handles[0])]
            else:
                stops = _workers_run_chunks(b, handles, bounds)
            for j in range(k):
                s, e = bounds[j]
                stop = stops[j]
                if stop < e:
                    rv = b.c.items[stop].rv
                    if self._replaceable(rv):
                        h = handles[j]
                        handles[j] = 0
                        self._discard(h, rv, want)
                        handles[j] = self._borrow_for(want, &f, name)
                        b.reset(stop, e)
                        stop = b.run_interruptible(stop, e, handles[j])
                    elif self._login_again(handles[j], want, rv):
                        b.reset(stop, e)
                        stop = b.run_interruptible(stop, e, handles[j])
                    if stop < e and _pool_suspect(b.c.items[stop].rv):
                        failed = b.c.items[stop].rv
        except BaseException as exc:
            b.interrupted(exc)
            raise
        finally:
            for h in handles:
                if h:
                    self._give_back(h, want)
        if failed != CKR_OK:
            if failed == CKR_CRYPTOKI_NOT_INITIALIZED and p11_gate_state(want) == P11_GATE_CLOSED:
                raise _pool_stale_error(name, self.module is not None and bool(getattr(self.module, "closed", False)))
            self._report(failed, want)
        return b.results()

    def sign_many(self, mechanism, CK_OBJECT_HANDLE key, messages, Py_ssize_t out_len=0, str on_error="raise",
                  workers=1, gate=None, pin=None):
        """Sign every message -> ``list[bytes]`` in input order. ``workers=N`` spreads the batch over N pooled
        sessions on N threads (``None``: from the core count and the pool bound). ``on_error`` as in
        :func:`sign_many`; ``gate`` as in :meth:`sign`. With ``pin`` (the per-use login of each item) the batch runs
        on one session whatever ``workers`` says: N sessions would offer a wrong PIN N times before the first
        refusal came back."""
        cdef bint raise_mode = _ops_raise_mode(on_error)
        cdef _Batch b = _batch_sign(self._batch_gate(gate), mechanism, key, messages, out_len, raise_mode, pin)
        try:
            return self._run_batch(b, workers if pin is None else 1)
        finally:
            _ops_pin_wipe(&b.c.pin)

    def verify_many(self, mechanism, CK_OBJECT_HANDLE key, messages, signatures, str on_error="raise", workers=1,
                    gate=None):
        cdef bint raise_mode = _ops_raise_mode(on_error)
        return self._run_batch(_batch_verify(self._batch_gate(gate), mechanism, key, messages, signatures,
                                             raise_mode), workers)

    def encrypt_many(self, CK_OBJECT_HANDLE key, messages, *, ivs=None, aad=b"", CK_ULONG tag_bits=128,
                     iv_len=12, mechanism=CKM_AES_GCM, str on_error="raise", workers=1, gate=None):
        """AES-GCM, a fresh IV per message -> ``list[(iv, ciphertext)]`` (see :func:`encrypt_many`)."""
        cdef bint raise_mode = _ops_raise_mode(on_error)
        return self._run_batch(_batch_gcm_encrypt(self._batch_gate(gate), key, messages, ivs, aad, tag_bits, iv_len,
                                                  mechanism, raise_mode), workers)

    def decrypt_many(self, CK_OBJECT_HANDLE key, items, *, aad=b"", CK_ULONG tag_bits=128, mechanism=CKM_AES_GCM,
                     str on_error="raise", workers=1, gate=None):
        cdef bint raise_mode = _ops_raise_mode(on_error)
        return self._run_batch(_batch_gcm_decrypt(self._batch_gate(gate), key, items, aad, tag_bits, mechanism,
                                                  raise_mode), workers)

    # -- asyncio ----------------------------------------------------------------------------------------------------

    cdef object _get_executor(self):
        self._check_fork()
        ex = self._executor
        if ex is None:
            if self._closed:
                raise PoolClosed("the session pool is closed")
            ex = _PoolExecutor(max_workers=self._cap, thread_name_prefix="p11-pool")
            self._executor = ex
        return ex

    def run_async(self, fn, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` on one of the pool's ``max_size`` threads; returns an awaitable. The event
        loop never blocks, and no more than ``max_size`` calls run at once (the rest queue)."""
        try:
            loop = _pool_asyncio.get_running_loop()
        except RuntimeError:
            name = getattr(fn, "__name__", "the call")
            raise _NoEventLoop(f"running {name} on the pool's threads needs a running asyncio event loop (await it "
                               f"inside a coroutine, e.g. under asyncio.run()); outside one, call {name}() "
                               "directly") from None
        if kwargs:
            return loop.run_in_executor(self._get_executor(), _pool_functools.partial(fn, *args, **kwargs))
        return loop.run_in_executor(self._get_executor(), fn, *args)

    def sign_async(self, mechanism, key, data, out_len=0):
        return self.run_async(self.sign, mechanism, key, data, out_len)

    def verify_async(self, mechanism, key, data, signature):
        return self.run_async(self.verify, mechanism, key, data, signature)

    def encrypt_async(self, mechanism, key, data, out_len=0):
        return self.run_async(self.encrypt, mechanism, key, data, out_len)

    def decrypt_async(self, mechanism, key, data, out_len=0):
        return self.run_async(self.decrypt, mechanism, key, data, out_len)

    def sign_many_async(self, mechanism, key, messages, out_len=0, on_error="raise", workers=1):
        return self.run_async(self.sign_many, mechanism, key, messages, out_len, on_error, workers)

    def verify_many_async(self, mechanism, key, messages, signatures, on_error="raise", workers=1):
        return self.run_async(self.verify_many, mechanism, key, messages, signatures, on_error, workers)

    def encrypt_many_async(self, key, messages, **kwargs):
        return self.run_async(self.encrypt_many, key, messages, **kwargs)

    def decrypt_many_async(self, key, items, **kwargs):
        return self.run_async(self.decrypt_many, key, items, **kwargs)


def run_in_pool(SessionPool pool, fn, *args, **kwargs):
    """``await run_in_pool(pool, fn, *args)``: run a blocking call on the pool's threads (see
    :meth:`SessionPool.run_async`), so the event loop never waits on the token."""
    return pool.run_async(fn, *args, **kwargs)


cdef inline void _pool_token_identity(const CK_TOKEN_INFO* info, unsigned char* out) noexcept:
    memcpy(out, info.serialNumber, 16)
    memcpy(out + 16, info.manufacturerID, 32)
    memcpy(out + 48, info.model, 16)


cdef inline bint _pool_pin_rejected(CK_RV rv) noexcept:
    return _ops_pin_rejected(rv)  # one rule for logins and per-use logins (context_login.pxi)


cdef inline Py_ssize_t _pool_token_limit(CK_ULONG value) noexcept:
    """A token's session maximum, or -1 for 'no limit from the token' (effectively infinite / not reported)."""
    if value == CK_EFFECTIVELY_INFINITE or value == CK_UNAVAILABLE_INFORMATION:
        return -1
    if value > <CK_ULONG>0x7FFFFFFF:
        return -1
    return <Py_ssize_t>value


cdef inline Py_ssize_t _pool_min_limit(Py_ssize_t a, Py_ssize_t b) noexcept:
    if a < 0:
        return b
    if b < 0:
        return a
    return a if a < b else b


cdef inline bint _pool_suspect(CK_RV rv) noexcept:
    """Answers that can mean the module lost its device or its connection (a removed token, a network HSM or p11-kit
    server gone, a module finalised behind p11's back, a token whose store was replaced): worth a health check by the
    module (p11.lowlevel.health.SUSPECT, the same list). A pooled operation reports them once its own recovery (a new
    session, a new login) did not help."""
    return (rv == CKR_DEVICE_ERROR or rv == CKR_DEVICE_REMOVED or rv == CKR_TOKEN_NOT_PRESENT
            or rv == CKR_SESSION_HANDLE_INVALID or rv == CKR_CRYPTOKI_NOT_INITIALIZED or rv == CKR_SLOT_ID_INVALID
            or rv == CKR_OBJECT_HANDLE_INVALID or rv == CKR_KEY_HANDLE_INVALID)


cdef object _pool_stale_error(str function, bint closed=False):
    """The error of a pooled call whose handles belong to an ended generation of the module: refused, never mixed
    with another generation's handles (where a key handle could name another key)."""
    cdef CK_RV rv = CKR_CRYPTOKI_NOT_INITIALIZED
    if closed:
        return _ops_error(rv, function, "the module was closed")
    return _ops_error(rv, function,
                      "the module started a new generation (re-initialised after fork(), C_Finalize or a lost "
                      "device) during this call; nothing was done with the old handles: call again (a pooled key "
                      "finds itself again)")


cdef object _pool_count_error():
    return _ops_error(CKR_SESSION_COUNT, "C_OpenSession",
                      f"the token refuses more sessions and this pool holds none to wait for (other programs, or "
                      f"sessions of this process outside the pool, hold them all); tried for {_POOL_COUNT_WAIT:g} s")
