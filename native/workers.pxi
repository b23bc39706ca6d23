# Included by _native.pyx after ops.pxi, before pool.pxi: the native worker threads that run a parallel batch's
# chunks (SessionPool's batches with ``workers`` > 1).
#
# Parallel batches run one chunk on the calling thread and the others on persistent native worker threads
# (``PyThread_start_new_thread``: portable, Windows included), each on its own borrowed session. A worker is a C
# loop that waits on its own lock and runs ``_batch_run``: handing it a chunk is one lock release, and it never
# takes the GIL (a Python thread pool cost a Future, a queue and a GIL handoff per chunk).

from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock, PyThread_free_lock,
                               PyThread_acquire_lock, PyThread_release_lock, PyThread_start_new_thread,
                               WAIT_LOCK, NOWAIT_LOCK, PY_LOCK_ACQUIRED, PyLockStatus)
from libc.stdlib cimport calloc, free

cdef extern from "pythread.h":
    PyLockStatus PyThread_acquire_lock_timed(PyThread_type_lock lock, long long microseconds,
                                             int intr_flag) nogil

_POOL_WAIT_SLICE_US = 100000  # waiters (and a batch's caller waiting for its workers) wake this often for Ctrl-C

# Persistent native workers for parallel batches. Claimed and released with the GIL held (the GIL is their lock);
# a worker thread itself never touches Python.
ctypedef struct _PoolWorker:
    PyThread_type_lock go      # held while idle: released to hand the worker a chunk
    PyThread_type_lock done    # held while working: released by the worker when its chunk is finished
    _BatchC* c
    Py_ssize_t start
    Py_ssize_t end
    CK_SESSION_HANDLE h
    Py_ssize_t stop
    bint claimed

cdef enum:
    _POOL_MAX_WORKERS = 64
cdef _PoolWorker* _pool_workers[_POOL_MAX_WORKERS]
cdef Py_ssize_t _pool_n_workers = 0


cdef void _pool_worker_main(void* arg) noexcept nogil:
    cdef _PoolWorker* w = <_PoolWorker*>arg
    while True:
        PyThread_acquire_lock(w.go, WAIT_LOCK)
        w.stop = _batch_run(w.c, w.start, w.end, w.h)
        PyThread_release_lock(w.done)


cdef int _pool_join_workers(_Batch b, _PoolWorker** ws, Py_ssize_t got, bint check) except -1:
    """Wait until every worker finished its chunk (always: the chunks use the batch and its sessions), waking
    every _POOL_WAIT_SLICE_US to run signal handlers when ``check``. A handler's exception (Ctrl-C) cancels the
    rest of the workers' chunks (each stops before its next item) and is raised once all have stopped."""
    cdef Py_ssize_t j
    cdef PyLockStatus got_lock
    cdef long long slice_us = _POOL_WAIT_SLICE_US if check else -1
    cdef object pending = None
    for j in range(got):
        while True:
            with nogil:
                got_lock = PyThread_acquire_lock_timed(ws[j].done, slice_us, 0)
            if got_lock == PY_LOCK_ACQUIRED:
                break
            try:
                b.check_signals()
            except BaseException as exc:
                pending = exc
                slice_us = -1  # wait for the (now cancelled) rest without checking again
    if pending is not None:
        raise pending
    return 0


cdef _PoolWorker* _pool_claim_worker() noexcept:
    """An idle worker, started if needed (GIL held); NULL when none can be had (the caller runs fewer chunks)."""
    global _pool_n_workers
    cdef Py_ssize_t i
    cdef _PoolWorker* w
    for i in range(_pool_n_workers):
        w = _pool_workers[i]
        if not w.claimed:
            w.claimed = True
            return w
    if _pool_n_workers >= _POOL_MAX_WORKERS:
        return NULL
    w = <_PoolWorker*>calloc(1, sizeof(_PoolWorker))
    if w == NULL:
        return NULL
    w.go = PyThread_allocate_lock()
    w.done = PyThread_allocate_lock()
    if w.go == NULL or w.done == NULL:
        if w.go != NULL:
            PyThread_free_lock(w.go)
        if w.done != NULL:
            PyThread_free_lock(w.done)
        free(w)
        return NULL
    PyThread_acquire_lock(w.go, WAIT_LOCK)    # both fresh, so neither blocks
    PyThread_acquire_lock(w.done, WAIT_LOCK)
    if PyThread_start_new_thread(_pool_worker_main, w) == -1:
        PyThread_free_lock(w.go)
        PyThread_free_lock(w.done)
        free(w)
        return NULL
    w.claimed = True
    _pool_workers[_pool_n_workers] = w
    _pool_n_workers += 1
    return w



cdef list _workers_run_chunks(_Batch b, list handles, list bounds):
    """Run chunk 0 on this thread and the others on native workers, all without the GIL; where each stopped.
    This thread runs its chunk in interruptible pieces (:meth:`_Batch.run_interruptible`); a signal stops the
    workers before their next item (``_BatchC.cancel``), and is raised once every worker has stopped."""
    cdef _PoolWorker* ws[_POOL_MAX_WORKERS]
    cdef Py_ssize_t k = len(handles)
    cdef Py_ssize_t j, got = 0, stop0
    cdef list stops
    while got < k - 1 and got < _POOL_MAX_WORKERS:
        ws[got] = _pool_claim_worker()
        if ws[got] == NULL:
            break
        got += 1
    try:
        if got < k - 1:  # too few workers: this thread runs what they cannot, one chunk after another
            stops = [b.run_interruptible(bounds[j][0], bounds[j][1], handles[j]) for j in range(got + 1, k)]
        else:
            stops = []
        for j in range(got):
            ws[j].c = &b.c
            ws[j].start = bounds[j + 1][0]
            ws[j].end = bounds[j + 1][1]
            ws[j].h = handles[j + 1]
        with nogil:
            for j in range(got):
                PyThread_release_lock(ws[j].go)
        try:
            stop0 = b.run_interruptible(bounds[0][0], bounds[0][1], handles[0])
        except BaseException:
            b.c.cancel = 1
            _pool_join_workers(b, ws, got, False)
            raise
        _pool_join_workers(b, ws, got, True)
        return [stop0] + [ws[j].stop for j in range(got)] + stops
    finally:
        for j in range(got):
            ws[j].claimed = False

