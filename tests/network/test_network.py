"""Remote tokens over a real (virtual) network, and a token group surviving one of its HSMs going away.

Three HSM hosts in network namespaces (``p11-kit server`` over SoftHSM, socat taking TCP on 198.18.k.2:5400), a
client namespace reaching each over its own veth link through a delay proxy (+1.5 ms round trip), and p11 there on
one copy of ``p11-kit-client.so`` per host, as a :class:`p11.TokenGroup` (tests/network/conftest.py,
benchmarks/netlab.py). The client is a child process (:mod:`benchmarks.network_child`) that verifies every signature
against the public key with ``cryptography``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DELAY_MS, ROOT

from benchmarks.netlab import Lab, leftovers, members_arg, remove_stale_labs
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


def test_a_host_that_hangs_costs_callers_at_most_the_call_timeout(lab: Lab) -> None:
    # SIGSTOP: the server's TCP connections stay open and p11-kit's client waits on them with no timeout of its own.
    facts = run_failover(lab, threads=16, member=3, before=1.0, down=3.0, after=1.0, cycles=1, hang=True,
                         call_timeout=1.0)
    print(json.dumps(facts))
    assert facts["failed"] == 0 and facts["bad"] == 0 and facts["stuck_threads"] == 0, facts
    assert facts["slowest"] < 1.0 + 1.5, facts  # the wait for the hung host, then another host's answer
    assert facts["out_after_kill"][0] is not None and facts["out_after_kill"][0] < 2.0, facts
    host = facts["members"][2]
    assert host["outages"] >= 1 and host["state"] == "serving", facts  # back once its hung call returned
    assert "did not answer within 1 s" in (host["last_error"] or ""), facts


def test_a_lab_whose_run_was_killed_is_removed_by_the_next_lab() -> None:
    # SIGKILL leaves no time to stop a lab: its processes die with their parent, its namespaces and directory stay
    # until the next lab starts (any run's: the dead run's PID is in their names).
    code = ("import sys, time; from benchmarks.netlab import Lab; lab = Lab(1).start(); "
            "print(lab.tag, lab.directory, flush=True); time.sleep(120)")
    run = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        tag, directory = run.stdout.readline().split()
    finally:
        run.kill()
        run.wait(10)
    deadline = time.monotonic() + 15
    while any(entry.startswith("pid") for entry in leftovers(tag, Path(directory))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [entry for entry in leftovers(tag, Path(directory)) if entry.startswith("pid")] == []  # died with it
    assert leftovers(tag, Path(directory)) != []  # its namespaces are still there
    removed = remove_stale_labs()
    assert f"netns {tag}-c" in removed and f"netns {tag}-h1" in removed and directory in removed, removed
    assert leftovers(tag, Path(directory)) == [] and not Path(directory).exists()
