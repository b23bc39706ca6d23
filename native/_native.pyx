# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""p11._native: the hot paths of p11, in Cython, calling the module's function list with the GIL released.

This file is only the hub: each concern lives in its own ``.pxi`` and is included below, one line each, so the whole
package is ONE extension module (``p11._native``) whose parts can share C-level helpers (``Template``,
``_gate`` …) without a Python call in between. The Cython view of the header is ``cryptoki.pxd``.

Callers hand in the address of a module's call gate (``p11.lowlevel.Module.gate_address``), which holds its function list,
so this layer and the cffi layer drive the same loaded module.
"""

from cryptoki cimport *

include "gate.pxi"              # the call gate from an address: every call counted, refused once the module closes
include "attribute_table.pxi"   # which codec each CKA_* uses (the single table), attribute names
include "attributes.pxi"        # codecs, SENSITIVE/ABSENT/UNAVAILABLE markers, Template
include "objects.pxi"           # get_attributes, set_attributes, create_object, find_objects
include "context_login.pxi"     # the per-use PIN of CKA_ALWAYS_AUTHENTICATE keys, logged in between Init and the call
include "ops.pxi"               # one-crossing sign/verify/encrypt/decrypt/digest/random; batches with the GIL released
include "session.pxi"           # the life-cycle of an explicit session (open, close, drop), in C
include "workers.pxi"           # the native worker threads of parallel batches
include "pool.pxi"              # SessionPool: bounded per-token pool, dead-session retry, parallel batches, asyncio
