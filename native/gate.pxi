# The call gate: the one way every concern file reaches the module.
#
# Included by _native.pyx. Callers of this package hand in the address of a module's call gate (the integer
# p11.lowlevel.Module.gate_address), or the Module itself. The gate (native/p11_gate.h) holds the module's function
# list and counts the calls in flight; every call goes through a generated p11g_C_* wrapper (gated.pxd, built from the
# header), which enters the gate, calls, and leaves it. A closed gate refuses the call with
# CKR_CRYPTOKI_NOT_INITIALIZED, and a NULL function pointer answers CKR_FUNCTION_NOT_SUPPORTED: never a call through
# NULL, never a call into a finalised module.

from libc.stdint cimport uintptr_t

from gated cimport *

from p11.errors import check as _check

cdef p11_gate* _gate_at(object address) except NULL:
    """The gate at ``address``: an int (``Module.gate_address``), or a ``p11.lowlevel.Module`` (made ready first)."""
    cdef uintptr_t a
    cdef p11_gate* g
    if not isinstance(address, int) or isinstance(address, bool):
        module = address
        address = getattr(module, "gate_address", None)
        if not isinstance(address, int) or isinstance(address, bool):
            raise TypeError(f"expected a module's call gate address (int), got {type(module).__name__}")
        ready = getattr(module, "ensure_ready", None)  # a p11.lowlevel.Module: re-initialise after fork()
        if ready is not None:
            ready()
    if address <= 0:
        raise ValueError("the call gate address is 0: the module is not loaded")
    a = address
    g = <p11_gate*>a
    if g.magic != P11_GATE_MAGIC:
        raise ValueError("not a module call gate (pass p11.lowlevel.Module.gate_address, not a function list address)")
    return g


cdef inline int _require(bint present, str name) except -1:
    """A module may leave a function pointer NULL: that is CKR_FUNCTION_NOT_SUPPORTED, not a crash."""
    if not present:
        _check(CKR_FUNCTION_NOT_SUPPORTED, name)
    return 0
