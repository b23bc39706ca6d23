"""Network tests (marker ``network``): HSM hosts in network namespaces of the test's own, each running
``p11-kit server`` over a SoftHSM store, reached over TCP from a client namespace where p11 runs on copies of
``p11-kit-client.so``, with a delay proxy adding the round trip (:mod:`benchmarks.netlab`).

The lab needs root (``ip netns add``); as another user every network test is skipped, saying so. A machine without
its programs fails them with the ``apt-get install`` line (``bash scripts/setup.sh`` installs them), unless
``P11_SKIP_NETWORK=1`` asks to skip them. Each lab is stopped at the end of its module however its tests ended, and
its fixture then asserts that nothing it started is left: no namespace, no process naming its directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the lab is a test tool kept with the benchmarks (benchmarks/netlab.py)
    sys.path.insert(0, str(ROOT))

from benchmarks.netlab import Lab, LabUnavailable, leftovers  # noqa: E402

SKIP_ENV = "P11_SKIP_NETWORK"
#: The round trip the test lab adds between the client and every host (ms).
DELAY_MS = 1.5


@pytest.fixture(scope="session", autouse=True)
def _network_enabled() -> None:
    if os.environ.get(SKIP_ENV, "").strip() == "1":
        pytest.skip(f"{SKIP_ENV}=1: network tests skipped")
    if os.geteuid() != 0:
        pytest.skip("the network lab makes network namespaces: run the network tests as root (CI does)")


def started_lab(hosts: int, delay_ms: float) -> Iterator[Lab]:
    """A lab for a module's tests; stopped however they end, then checked for leftovers."""
    lab = Lab(hosts, delay_ms=delay_ms)
    problem = None
    try:
        lab.start()
    except LabUnavailable as exc:
        problem = str(exc)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield lab
    finally:
        lab.stop()
        left = leftovers(lab.tag, lab.directory)
        assert not left, f"the network lab left {left}"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """Three HSM hosts and a client, DELAY_MS of round trip added."""
    yield from started_lab(3, DELAY_MS)
