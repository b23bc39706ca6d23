/* The few CPython C-API spellings p11._native uses that the limited API (the stable ABI, abi3) lacks.
 *
 * The wheels are built with Py_LIMITED_API = 3.11 (CMakeLists.txt), so one wheel per platform serves CPython 3.11 and
 * every later version. The limited API leaves out the unchecked macros that read an object's internals and the
 * private _PyBytes_Resize; the same file still builds the version-specific module (pip -C wheel.py-api=), where the
 * fast forms are used. Included once, module-wide, by native/ops.pxi's extern block (Cython emits every included header
 * before any function body, so the fallbacks below cover attributes.pxi too).
 */
#ifndef P11_LIMITED_H
#define P11_LIMITED_H

#include <Python.h>

#ifdef Py_LIMITED_API
/* The checked functions behind the macros: one type check more per call, on objects already known to be bytes. */
#  ifndef PyBytes_AS_STRING
#    define PyBytes_AS_STRING(op) PyBytes_AsString(op)
#  endif
#  ifndef PyBytes_GET_SIZE
#    define PyBytes_GET_SIZE(op) PyBytes_Size(op)
#  endif
#endif

/* Shrink a bytes object the caller just made (and holds the only reference to) to its first n bytes.
 * As _PyBytes_Resize: on failure *b is released and set to NULL, -1 returned with the exception set. The limited API
 * cannot resize in place: it copies the n bytes into a new object, which only happens when an output came out
 * shorter than the size reserved for it. */
static inline int p11_bytes_shrink(PyObject **b, Py_ssize_t n)
{
#ifdef Py_LIMITED_API
    PyObject *shorter = PyBytes_FromStringAndSize(PyBytes_AsString(*b), n);
    Py_DECREF(*b);
    *b = shorter;
    return shorter == NULL ? -1 : 0;
#else
    return _PyBytes_Resize(b, n);
#endif
}

/* The start and length of a C-contiguous memoryview's buffer. The pointer stays valid for as long as the caller keeps
 * the memoryview alive: the view holds its own export of the underlying object, so the short-lived export taken here
 * under the limited API (which has no PyMemoryView_GET_BUFFER) can be released at once. */
static inline int p11_memoryview_buffer(PyObject *mv, const void **buf, Py_ssize_t *len)
{
#ifdef Py_LIMITED_API
    Py_buffer view;
    if (PyObject_GetBuffer(mv, &view, PyBUF_SIMPLE) < 0)
        return -1;
    *buf = view.buf;
    *len = view.len;
    PyBuffer_Release(&view);
#else
    Py_buffer *view = PyMemoryView_GET_BUFFER(mv);
    *buf = view->buf;
    *len = view->len;
#endif
    return 0;
}

#endif /* P11_LIMITED_H */
