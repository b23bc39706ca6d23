"""``p11.lowlevel``: the thin, 1:1 Cryptoki layer over cffi.

``load(path)`` gives a :class:`Module` with one method per Cryptoki function, named as in the specification::

    from p11 import lowlevel
    from p11._cffi import lib

    mod = lowlevel.load("/usr/lib/softhsm/libsofthsm2.so")
    slot = mod.C_GetSlotList(True)[0]
    session = mod.C_OpenSession(slot, lib.CKF_RW_SESSION)
    mod.C_Login(session, lib.CKU_USER, "1234")
    mod.C_DigestInit(session, lib.CKM_SHA256)
    digest = mod.C_Digest(session, b"abc")

Python types in and out: handles are ``int``, byte strings ``bytes`` (any bytes-like input), PINs ``str``/``bytes``,
information structs small frozen dataclasses, flags the ``IntFlag`` enums of :mod:`p11.constants`. Every
``CK_RV`` but ``CKR_OK`` raises its class from :mod:`p11.errors`. Size queries and ``CKR_BUFFER_TOO_SMALL`` retries
are done here. Templates and attribute values are raw bytes: the attribute-aware codecs live in the layers above.
"""

from __future__ import annotations

from p11.lowlevel.health import ModuleHealth
from p11.lowlevel.loader import FunctionTable
from p11.lowlevel.marshal import AttributeValue, BytesLike, Mech, MechanismLike, Template
from p11.lowlevel.module import Module, ModuleGeneration, load, loaded_modules
from p11.lowlevel.types import Info, Interface, MechanismInfo, SessionInfo, SlotInfo, TokenInfo, Version

__all__ = [
    "AttributeValue",
    "BytesLike",
    "FunctionTable",
    "Info",
    "Interface",
    "Mech",
    "MechanismInfo",
    "MechanismLike",
    "Module",
    "ModuleGeneration",
    "ModuleHealth",
    "SessionInfo",
    "SlotInfo",
    "Template",
    "TokenInfo",
    "Version",
    "load",
    "loaded_modules",
]
