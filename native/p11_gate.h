/*
 * The call gate: every crossing into a loaded PKCS#11 module is counted, so that finalising it (close, interpreter
 * exit) and forking can wait for the calls in flight instead of pulling the module out from under them.
 *
 * Why a counter in C and not a Python lock: calls run with the GIL released, from Python threads and from p11's own
 * native batch workers, through two extension modules (p11._cffi for the 1:1 calls, p11._native for the hot paths).
 * Both include this header and the generated p11_gated.h, and both operate on the one p11_gate of a module, found at
 * p11.lowlevel.Module.gate_address. Entering is two atomic operations; no lock is taken on the call path.
 *
 * States:
 *   OPEN    calls go through.
 *   PAUSED  new calls wait (without the GIL) until the gate opens again; used around fork() and C_Finalize so that no
 *           thread is inside the module while the process forks or the module is finalised.
 *   CLOSED  new calls are refused with CKR_CRYPTOKI_NOT_INITIALIZED (the module was closed, or this process forked
 *           while a call was running and must not touch the inherited state); never reopened.
 *
 * Enter the gate only WITHOUT the GIL (cffi releases it around every call; in Cython every p11g_* call sits in a
 * nogil block or function): a caller waiting at a paused gate must not hold the GIL that the forking or closing
 * thread needs to finish.
 *
 * One at a time: a module that crashes when two threads are inside it at once, even on different sessions and with
 * CKF_OS_LOCKING_OK (openCryptoki 3.8's soft token, in C_Sign: see p11.quirks), gets p11_gate_serialize(g, 1); its
 * calls then also take the gate's `busy` flag (taken before the call is counted, so a drain never waits on a caller
 * queued for it). Only for such modules: it makes every call into the module wait for the one before.
 *
 * p11_gate_drain(g, state, timeout) moves to PAUSED or CLOSED and waits, bounded, until no call is in flight; it
 * returns how many still are (0: drained). The caller decides what a timeout means: close() then skips C_Finalize,
 * a fork child refuses to use the module. A gate is never freed: old objects may still hold its address, and a
 * closed gate is what tells them so.
 */
#ifndef P11_GATE_H
#define P11_GATE_H

#include <stddef.h>
#include <stdlib.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#include <sched.h>
#endif

#define P11_GATE_MAGIC 0x7031316761746531ULL /* "p11gate1" */

enum { P11_GATE_OPEN = 0, P11_GATE_PAUSED = 1, P11_GATE_CLOSED = 2 };

typedef struct p11_gate {
    unsigned long long magic;   /* P11_GATE_MAGIC: callers handed an address check they got a gate */
    void *function_list;        /* the module's CK_FUNCTION_LIST (or CK_FUNCTION_LIST_3_0 when major >= 3) */
    int major;                  /* the function list's version.major: which struct it is */
    volatile long inflight;     /* calls inside the module now */
    volatile int state;         /* P11_GATE_OPEN / PAUSED / CLOSED */
    volatile int serial;        /* 1: one call inside the module at a time (p11_gate_serialize) */
    volatile int busy;          /* with serial: a call holds the module */
    struct p11_gate *next;      /* the gate made before this one (p11_gate_all): every gate stays reachable */
} p11_gate;

#if defined(_MSC_VER)
#include <intrin.h>
static __inline long p11_atomic_add(volatile long *p, long d) { return _InterlockedExchangeAdd(p, d) + d; }
static __inline long p11_atomic_load(volatile long *p) { return _InterlockedOr(p, 0); }
static __inline int p11_atomic_load_int(volatile int *p) { return (int)_InterlockedOr((volatile long *)p, 0); }
static __inline void p11_atomic_store_int(volatile int *p, int v) { _InterlockedExchange((volatile long *)p, v); }
static __inline int p11_atomic_take(volatile int *p) { return _InterlockedCompareExchange((volatile long *)p, 1, 0) == 0; }
#else
static inline long p11_atomic_add(volatile long *p, long d) { return __atomic_add_fetch(p, d, __ATOMIC_SEQ_CST); }
static inline long p11_atomic_load(volatile long *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline int p11_atomic_load_int(volatile int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void p11_atomic_store_int(volatile int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline int p11_atomic_take(volatile int *p)
{
    int expected = 0;
    return __atomic_compare_exchange_n(p, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}
#endif

#ifdef _WIN32
#define P11_GATE_NAP_US 1000L
#else
#define P11_GATE_NAP_US 200L
#endif

static inline void p11_gate_nap(void)
{
#ifdef _WIN32
    Sleep(1);
#else
    struct timespec ts = {0, 200000}; /* 0.2 ms */
    nanosleep(&ts, NULL);
#endif
}

/* Take the module for one call (serialised gates only); spins briefly, then naps. */
static inline void p11_gate_take(p11_gate *g)
{
    int spins = 0;
    while (!p11_atomic_take(&g->busy)) {
        if (++spins < 64) {
#ifndef _WIN32
            sched_yield();
#endif
        } else {
            p11_gate_nap();
        }
    }
}

/* 1 or 2: the caller may call into the module and must call p11_gate_exit(g, what this returned) after; 0: refused
 * (gate closed). Whether a call is serialised is read once, here: p11_gate_serialize is meant for before first use. */
static inline int p11_gate_enter(p11_gate *g)
{
    int s;
    int serial = p11_atomic_load_int(&g->serial);
    if (serial) p11_gate_take(g);
    for (;;) {
        p11_atomic_add(&g->inflight, 1);
        s = p11_atomic_load_int(&g->state);
        if (s == P11_GATE_OPEN) return 1 + serial; /* 2: holds `busy`, which p11_gate_exit gives back */
        p11_atomic_add(&g->inflight, -1);
        if (s == P11_GATE_CLOSED) {
            if (serial) p11_atomic_store_int(&g->busy, 0);
            return 0;
        }
        while (p11_atomic_load_int(&g->state) == P11_GATE_PAUSED) p11_gate_nap();
    }
}

static inline void p11_gate_exit(p11_gate *g, int entered)
{
    p11_atomic_add(&g->inflight, -1);
    if (entered == 2) p11_atomic_store_int(&g->busy, 0);
}

/* One call at a time into this module from now on (1), or back to concurrent calls (0). */
static inline void p11_gate_serialize(p11_gate *g, int on) { p11_atomic_store_int(&g->serial, on ? 1 : 0); }

static inline int p11_gate_serialized(p11_gate *g) { return p11_atomic_load_int(&g->serial); }

static inline int p11_gate_state(p11_gate *g) { return p11_atomic_load_int(&g->state); }

static inline long p11_gate_inflight(p11_gate *g) { return p11_atomic_load(&g->inflight); }

/* Open again after a pause (fork done, C_Finalize done). A closed gate stays closed. */
static inline void p11_gate_resume(p11_gate *g)
{
    if (p11_atomic_load_int(&g->state) == P11_GATE_PAUSED) p11_atomic_store_int(&g->state, P11_GATE_OPEN);
}

/* Close for good: refuse every later call (does not wait). */
static inline void p11_gate_close(p11_gate *g) { p11_atomic_store_int(&g->state, P11_GATE_CLOSED); }

/* Move to `state` (PAUSED or CLOSED; a closed gate stays closed) and wait up to timeout_ms for the calls in flight
 * to leave. Returns how many are still inside (0: none). Call it without holding the GIL (cffi releases it). */
static inline long p11_gate_drain(p11_gate *g, int state, long timeout_ms)
{
    long waited_us = 0, left;
    if (state == P11_GATE_CLOSED || p11_atomic_load_int(&g->state) != P11_GATE_CLOSED)
        p11_atomic_store_int(&g->state, state);
    while ((left = p11_atomic_load(&g->inflight)) > 0 && waited_us < timeout_ms * 1000L) {
        p11_gate_nap();
        waited_us += P11_GATE_NAP_US;
    }
    return left;
}

/* Every gate made in this extension module, newest first. Gates are never freed (see above), one per generation of
 * each module; the list keeps them reachable, so a memory checker does not report them lost when the interpreter
 * drops the objects that knew their addresses. Pushed without a lock (several threads may make gates at once). */
static p11_gate *volatile p11_gate_all = NULL;

/* A new, open gate for a function list (never freed: see above). */
static inline p11_gate *p11_gate_new(void *function_list, int major)
{
    p11_gate *g = (p11_gate *)calloc(1, sizeof(p11_gate));
    if (g == NULL) return NULL;
    g->magic = P11_GATE_MAGIC;
    g->function_list = function_list;
    g->major = major;
#if defined(_MSC_VER)
    do {
        g->next = p11_gate_all;
    } while (_InterlockedCompareExchangePointer((void *volatile *)&p11_gate_all, g, g->next) != g->next);
#else
    g->next = __atomic_load_n(&p11_gate_all, __ATOMIC_SEQ_CST);
    while (!__atomic_compare_exchange_n(&p11_gate_all, &g->next, g, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
#endif
    return g;
}

#endif /* P11_GATE_H */
