"""Remote tokens over a real (virtual) network, and a token group surviving one of its HSMs going away.

Three HSM hosts in network namespaces (``p11-kit server`` over SoftHSM, socat taking TCP on 198.18.k.2:5400), a
client namespace reaching each over its own veth link through a delay proxy (+1.5 ms round trip), and p11 there on
one copy of ``p11-kit-client.so`` per host, as a :class:`p11.TokenGroup` (tests/network/conftest.py,
benchmarks/netlab.py). The client is a child process (:mod:`benchmarks.network_child`) that verifies every signature
against the public key with ``cryptography``.
"""

from __future__ import annotations

import json

import pytest
from conftest import DELAY_MS

from benchmarks.netlab import Lab, leftovers, members_arg
from benchmarks.network import Child, run_failover, run_sweep

pytestmark = pytest.mark.network


def test_each_host_is_its_own_remote_token_across_the_delayed_link(lab: Lab) -> None:
    child = Child(lab, ["probe", members_arg(lab.members)])
    try:
        found = json.loads(child.expect("PROBE ", 60)[len("PROBE "):])
        assert child.proc.wait(30) == 0
    finally:
        child.stop()
    assert [f["label"] for f in found] == ["hsm1", "hsm2", "hsm3"]  # three connections, one per host
    assert len({f["serial"] for f in found}) == 3 and len({f["module"] for f in found}) == 3
    assert [f["capacity"] for f in found] == [1, 1, 1]  # the p11-kit client's profile: one call at a time
    for f in found:  # every call crosses the proxy both ways: never faster than the round trip it adds
        assert f["fastest_ms"] >= DELAY_MS, found


def test_a_group_of_remote_tokens_spreads_signatures_over_every_host(lab: Lab) -> None:
    cells = run_sweep(lab, counts=[1, 3], concurrency=[1, 6], seconds=0.3, rounds=1)
    assert [(c["members"], c["n"]) for c in cells] == [(1, 1), (1, 6), (3, 1), (3, 6)]
    assert all(c["ops_per_s"] > 0 for c in cells)
    one, three = cells[1]["calls"], cells[3]["calls"]
    assert len(one) == 1 and len(three) == 3
    assert all(calls > 0 for calls in three), three  # each host signed


def test_a_host_killed_and_restarted_under_16_callers_fails_no_call(lab: Lab) -> None:
    facts = run_failover(lab, threads=16, member=2, before=1.0, down=1.0, after=1.0, cycles=2)
    print(json.dumps(facts))  # the figures, with -s
    assert facts["failed"] == 0, facts  # every call that met the dead host was signed by another
    assert facts["bad"] == 0, facts  # every signature verifies against the group's public key
    assert facts["stuck_threads"] == 0, facts
    assert facts["ok"] > facts["ok_before_kill"] > 0, facts
    host = facts["members"][1]
    assert host["outages"] >= 2 and host["state"] == "serving", facts  # taken out each time, back each time
    assert len(facts["recovered"]) == 2 and all(0 <= s < 10 for s in facts["recovered"]), facts
    assert all(m["state"] == "serving" and m["calls"] > 0 for m in facts["members"]), facts


def test_a_lab_that_cannot_start_leaves_nothing_behind() -> None:
    lab = Lab(2, delay_ms=1.0, client_module="/nonexistent/p11-kit-client.so")
    with pytest.raises(OSError):
        lab.start()  # the namespaces, links and hosts were made before the copy failed: all undone
    assert leftovers(lab.tag, lab.directory) == []
    assert not lab.directory.exists()
