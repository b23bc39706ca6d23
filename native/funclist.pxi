# The function list: the one way every concern file reaches the module.
#
# Included by _native.pyx. Callers of this package hand in the address of an initialised CK_FUNCTION_LIST (the
# integer p11.lowlevel.Module.function_list_address; for a 3.x module it is a CK_FUNCTION_LIST_3_0, whose first
# entries are the same), or the Module itself. A NULL function pointer is the module saying "not supported": it
# becomes CKR_FUNCTION_NOT_SUPPORTED, never a call through NULL.

from libc.stdint cimport uintptr_t

from p11.errors import check as _check

cdef CK_FUNCTION_LIST* _function_list(object address) except NULL:
    """The ``CK_FUNCTION_LIST*`` at ``address``: an int, or a ``p11.lowlevel.Module`` (made ready first)."""
    cdef uintptr_t a
    if not isinstance(address, int) or isinstance(address, bool):
        module = address
        address = getattr(module, "function_list_address", None)
        if not isinstance(address, int) or isinstance(address, bool):
            raise TypeError(f"expected the address of a CK_FUNCTION_LIST (int), got {type(module).__name__}")
        ready = getattr(module, "ensure_ready", None)  # a p11.lowlevel.Module: re-initialise after fork()
        if ready is not None:
            ready()
    if address <= 0:
        raise ValueError("the function list address is 0: the module is not loaded (or was finalised)")
    a = address
    return <CK_FUNCTION_LIST*>a


cdef inline int _require(void* fn, str name) except -1:
    """A module may leave a function pointer NULL: that is CKR_FUNCTION_NOT_SUPPORTED, not a crash."""
    if fn == NULL:
        _check(CKR_FUNCTION_NOT_SUPPORTED, name)
    return 0
