"""Per-module quirk profiles (:mod:`p11.quirks`): which module a profile matches, that a Library applies what its
module's profile says, and that a serialised call gate really lets one call at a time into the module (seen through
the fault shim around SoftHSM, which makes each C_Sign last long enough to be seen)."""

from __future__ import annotations

import threading

import pytest

import p11
from p11 import lowlevel
from p11.lowlevel.types import Info, Version
from p11.quirks import PROFILES, Quirks, profiles_for, quirks_for
from p11.testing import SoftHSM
from tests.support import Faulty


def info(manufacturer: str, description: str, version: tuple[int, int]) -> Info:
    return Info(Version(2, 20), manufacturer.ljust(32), 0, description.ljust(32), Version(*version))


def test_opencryptoki_3_8_is_called_one_call_at_a_time() -> None:
    ock = info("IBM", "Meta PKCS11 LIBRARY", (3, 8))
    assert [p.name for p in profiles_for(ock)] == ["openCryptoki 3.8"]
    assert quirks_for(ock) == Quirks(one_call_at_a_time=True)


def test_the_p11_kit_client_is_called_one_call_at_a_time_but_not_the_proxy() -> None:
    """Both report the same CK_INFO; only the RPC client hangs callers when its server dies (docs/interop.md)."""
    kit = info("PKCS#11 Kit", "PKCS#11 Kit Proxy Module", (1, 1))
    client = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
    assert [p.name for p in profiles_for(kit, client)] == ["p11-kit client (RPC to a p11-kit server)"]
    assert quirks_for(kit, client) == Quirks(one_call_at_a_time=True)
    assert quirks_for(kit, "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so") == Quirks()
    assert quirks_for(kit) == Quirks()  # no file name: not matched on CK_INFO alone


@pytest.mark.parametrize(
    "other",
    [
        info("IBM", "Meta PKCS11 LIBRARY", (3, 9)),  # a version nobody saw crash
        info("IBM", "another IBM library", (3, 8)),
        info("SoftHSM", "Implementation of PKCS11", (3, 0)),  # a major version nobody looked at
        info("tpm2-software.github.io", "TPM2.0 Cryptoki", (1, 9)),
    ],
)
def test_other_modules_get_no_quirks(other: Info) -> None:
    assert profiles_for(other) == []
    assert quirks_for(other) == Quirks()


def test_every_profile_says_what_was_seen() -> None:
    for profile in PROFILES:
        assert profile.manufacturer and profile.seen and profile.quirks != Quirks()
        assert profile.versions[0] <= profile.versions[1]


def test_softhsm_2_reads_its_slots_at_initialize_only() -> None:
    softhsm = info("SoftHSM", "Implementation of PKCS11", (2, 6))
    assert [p.name for p in profiles_for(softhsm)] == ["SoftHSM 2"]
    assert quirks_for(softhsm) == Quirks(slots_fixed_at_initialize=True)


def test_softhsm_library_takes_concurrent_calls(softhsm: SoftHSM) -> None:
    library = p11.load(softhsm.module_path)
    assert library.quirks == Quirks(slots_fixed_at_initialize=True)  # slot events only (tests/api/test_slot_events.py)
    assert library.module.calls_serialized is False


def most_inside(faulty: Faulty, threads: int = 4) -> int:
    """Sign from ``threads`` threads at once (each C_Sign made to last 30 ms by the shim) and return the most calls
    seen inside the module at one time."""
    module = faulty.token.library.module
    faulty.shim.configure("C_Sign latency_us=30000")
    start = threading.Barrier(threads + 1)
    done = threading.Event()
    seen = [0]

    def watch() -> None:
        while not done.is_set():
            seen[0] = max(seen[0], module.calls_in_flight)

    def sign() -> None:
        start.wait()
        faulty.hmac.sign(b"m")

    workers: list[threading.Thread] = [threading.Thread(target=sign) for _ in range(threads)]
    watcher = threading.Thread(target=watch)
    for worker in workers:
        worker.start()
    watcher.start()
    start.wait()
    for worker in workers:
        worker.join(30)
    done.set()
    watcher.join(30)
    faulty.shim.configure("")
    return seen[0]


def test_a_serialised_gate_lets_one_call_at_a_time_into_the_module(faulty: Faulty) -> None:
    module = faulty.token.library.module
    assert most_inside(faulty) > 1  # concurrent: the sleeping C_Signs overlap
    module.serialize_calls()
    try:
        assert module.calls_serialized is True
        assert most_inside(faulty) == 1
    finally:
        module.serialize_calls(False)
    assert module.calls_serialized is False


def test_serialisation_survives_a_new_gate(softhsm: SoftHSM) -> None:
    module = lowlevel.Module(softhsm.module_path, initialize=False)  # its own gates; no C_Initialize, no sessions
    try:
        module.serialize_calls()
        module._new_gate()  # what a fork child and a re-initialisation get
        assert module.calls_serialized is True
    finally:
        module.close()
