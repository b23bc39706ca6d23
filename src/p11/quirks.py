"""Per-module quirk profiles: the one table of what p11 does differently for a particular PKCS#11 module, and why.

Most differences between tokens need no profile: p11 discovers them from the token itself — the mechanism list
(a hash-then-sign mechanism missing: hash in software, :mod:`p11.ops.plans`), a known-answer test (which OAEP
parameters ``CKM_RSA_PKCS_OAEP`` really takes, :mod:`p11.ops.oaep`), a refused template (flags a token will not
write false, :mod:`p11.defaults`). A profile is for what cannot be discovered safely, such as a module that crashes
the process: asking would be the crash. Each row names the module as ``C_GetInfo`` does (manufacturer, description,
library versions seen), what p11 does for it, and what was seen; docs/interop.md has the full comparison.

The workaround for each field lives where it acts: ``one_call_at_a_time`` in the module's call gate
(:meth:`p11.lowlevel.Module.serialize_calls`, native/p11_gate.h), applied by :class:`p11.api.library.Library` when
it first wraps the module; ``slots_fixed_at_initialize`` in the library's slot watch (:mod:`p11.api.events`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

__all__ = ["PROFILES", "LibraryIdentity", "Profile", "Quirks", "profiles_for", "quirks_for"]


@dataclass(frozen=True)
class Quirks:
    """What p11 does differently for a module (the defaults: nothing)."""

    one_call_at_a_time: bool = False
    """Serialise every call into the module (no two threads inside it at once), whatever ``CKF_OS_LOCKING_OK``
    says: for modules that crash under concurrent calls."""

    slots_fixed_at_initialize: bool = False
    """The module reads its slots and tokens once, in ``C_Initialize``, and reports no slot events: waiting for a
    slot event initialises it again before each look while nothing uses it (asking whether the module would
    report events means a blocking ``C_WaitForSlotEvent``, which only ``C_Finalize`` can end)."""

    def merged(self, other: Quirks) -> Quirks:
        return Quirks(
            one_call_at_a_time=self.one_call_at_a_time or other.one_call_at_a_time,
            slots_fixed_at_initialize=self.slots_fixed_at_initialize or other.slots_fixed_at_initialize,
        )


@dataclass(frozen=True)
class Profile:
    """One row: the module it applies to (``CK_INFO`` manufacturer, exact; description, exact; library versions
    ``versions[0] <= v <= versions[1]``; and, where ``CK_INFO`` cannot tell two modules apart, the module's file
    name), its :class:`Quirks`, and what was seen that makes them necessary."""

    name: str
    manufacturer: str
    description: str | None
    versions: tuple[tuple[int, int], tuple[int, int]]
    quirks: Quirks
    seen: str
    file: str | None = None

    def matches(self, info: LibraryIdentity, path: str | None = None) -> bool:
        version = (info.library_version.major, info.library_version.minor)
        return (
            info.manufacturer_id.strip() == self.manufacturer
            and (self.description is None or info.library_description.strip() == self.description)
            and self.versions[0] <= version <= self.versions[1]
            and (self.file is None or (path is not None and os.path.basename(path) == self.file))
        )


class _Version(Protocol):
    @property
    def major(self) -> int: ...
    @property
    def minor(self) -> int: ...


class LibraryIdentity(Protocol):
    """What a profile is matched on: a module's ``CK_INFO`` (:class:`p11.lowlevel.Info`)."""

    @property
    def manufacturer_id(self) -> str: ...
    @property
    def library_description(self) -> str: ...
    @property
    def library_version(self) -> _Version: ...


PROFILES: tuple[Profile, ...] = (
    Profile(
        name="openCryptoki 3.8",
        manufacturer="IBM",
        description="Meta PKCS11 LIBRARY",
        versions=((3, 0), (3, 8)),
        quirks=Quirks(one_call_at_a_time=True),
        seen="openCryptoki 3.8.1 (Debian 12), soft token: two threads signing at once with one RSA key on two "
        "sessions crash the process (SIGSEGV inside C_Sign) about one run in four, although C_Initialize was "
        "given CKF_OS_LOCKING_OK (tests/interop/test_interop_matrix.py::test_pool_signs_from_threads). Newer "
        "versions were not tried, so they are not matched.",
    ),
    Profile(
        name="SoftHSM 2",
        manufacturer="SoftHSM",
        description="Implementation of PKCS11",
        versions=((2, 0), (2, 99)),
        quirks=Quirks(slots_fixed_at_initialize=True),
        seen="SoftHSM 2.6.1 (Debian 12): a token that softhsm2-util initialises in another process is absent from "
        "C_GetSlotList until C_Finalize + C_Initialize (its object store lists token directories once); "
        "C_WaitForSlotEvent answers CKR_NO_EVENT with CKF_DONT_BLOCK, always, and CKR_FUNCTION_NOT_SUPPORTED "
        "without (tests/api/test_slot_events.py).",
    ),
    Profile(
        name="p11-kit client (RPC to a p11-kit server)",
        manufacturer="PKCS#11 Kit",
        description=None,
        versions=((1, 0), (1, 1)),
        file="p11-kit-client.so",
        quirks=Quirks(one_call_at_a_time=True),
        seen="p11-kit 0.24.1 (Debian 12), p11-kit-client.so: when its server dies while several threads have calls "
        "in flight, all but one stay blocked for ever inside the client (pthread_cond_wait in its RPC read: they "
        "wait for a reply that nobody will read), so the module can never be finalised and started again; 4 "
        "threads signing, server killed: hung in about one run in three (tests/interop/test_interop_reconnect.py). "
        "With one call at a time nobody waits there. p11-kit-proxy.so reports the same CK_INFO but talks RPC only "
        "to remote modules configured in it: not matched (its file name differs).",
    ),
)
"""Every profile p11 knows; a module matching several gets them all (:func:`quirks_for`)."""


def profiles_for(info: LibraryIdentity, path: str | None = None) -> list[Profile]:
    """The profiles whose module ``info`` (a ``CK_INFO``) describes (loaded from ``path``, when known)."""
    return [profile for profile in PROFILES if profile.matches(info, path)]


def quirks_for(info: LibraryIdentity, path: str | None = None) -> Quirks:
    """What p11 does differently for the module ``info`` describes, loaded from ``path`` (``Quirks()`` for most)."""
    result = Quirks()
    for profile in profiles_for(info, path):
        result = result.merged(profile.quirks)
    return result
