"""A remote token whose server dies and comes back (issue 21 item 2): ``p11-kit server`` exports a private SoftHSM
token, p11 uses it through ``p11-kit-client.so``, and the server is killed (SIGKILL to its whole process group) and
started again while 4 threads sign with one key. The same key object signs again within seconds of the restart,
nothing done but wait; meanwhile every failure is a typed error; every signature is verified against the public key.

The server and the client run in processes this test starts, in temp dirs, with time limits, and stops."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import pytest

from tests.interop.harness import LineChild, P11KitServerToken
from tests.support import ROOT

pytestmark = pytest.mark.interop

CHILD = "tests.interop.reconnect_child"
CYCLES = 3
TYPED = {"DeviceError", "CryptokiNotInitialized", "SlotIdInvalid", "TokenNotPresent", "SessionHandleInvalid",
         "ObjectHandleInvalid", "KeyHandleInvalid", "DeviceRemoved", "StaleObject", "GeneralError"}


@pytest.fixture(scope="module")
def remote() -> Iterator[P11KitServerToken]:
    token = P11KitServerToken()
    problem = None
    try:
        token.start()
    except Exception as exc:  # InteropUnavailable names the packages; a start error says what failed
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield token
    finally:
        token.stop()


def start_child(token: P11KitServerToken) -> LineChild:
    """The client process (reconnect_child.py), on the token, from the checkout (it imports the harness)."""
    env = token.child_env({"P11_INTEROP_PIN": token.user_pin, "PYTHONFAULTHANDLER": "1"})
    return LineChild([sys.executable, "-m", CHILD, token.module, token.label], env=env, cwd=ROOT)


def test_the_same_key_signs_again_after_the_server_restarts(remote: P11KitServerToken) -> None:
    child = start_child(remote)
    try:
        child.expect("READY", 60)
        recovered = []
        for _ in range(CYCLES):
            time.sleep(0.5)
            remote.kill_server()
            child.send("KILLED")
            time.sleep(1.0)  # the server is gone for a second: every call fails meanwhile, none hangs
            remote.start_server()
            child.send("RESTARTED")
            recovered.append(float(child.expect("RECOVERED", 40).split()[1]))
        child.send("DONE")
        facts = json.loads(child.expect("FACTS", 60)[len("FACTS "):])
        assert child.proc.wait(30) == 0
    finally:
        child.stop()
    print(f"recovered after {recovered} s; {facts}")  # the figures, with -s
    assert remote.user_pin not in json.dumps(facts)
    assert facts["wrong"] == 0, facts  # never a signature by another key
    assert facts["untyped"] == [], facts
    assert facts["stuck_threads"] == 0, facts
    assert set(facts["typed"]) <= TYPED and facts["typed"], facts  # the outages were seen, as typed errors only
    assert facts["slowest"] < 10.0, facts  # no call waited on the dead server
    assert all(seconds < 5.0 for seconds in recovered), recovered  # within seconds of each restart
    assert facts["renewals"] >= CYCLES and facts["state"] == "ok", facts
