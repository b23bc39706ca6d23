"""Two processes issuing at once, and issuers killed at any point: the index stays whole and serials stay unique.

Children open the CA from its directory (key by URI, module from ``ca.json``) as a real second issuer would. The
kill points are chosen by hypothesis: a child patches ``os.fsync``/``os.replace`` (what
:func:`p11.pki.storage.atomic_write` calls) to SIGKILL itself just before or after the n-th call, so every step of
writing the certificate file and the index is hit; another variant kills the child after a random delay.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p11.api.session import Session
from p11.pki import CertificateAuthority, Index
from p11.testing import SoftHSM
from tests.pki.helpers import csr_for, software_key
from tests.support import USER_PIN

ISSUER = r"""
import os, signal, sys
from pathlib import Path

directory, count, csr_path, fault = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if ":" in fault:
    kind, _, nth = fault.partition(":")
    name, after = {"fsync": ("fsync", False), "replace": ("replace", False), "replaced": ("replace", True)}[kind]
    real, calls = getattr(os, name), [0]

    def hooked(*args, **kwargs):
        calls[0] += 1
        if not after and calls[0] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if after and calls[0] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(os, name, hooked)

from p11.pki import CertificateAuthority

ca = CertificateAuthority.open(directory, pin=os.environ["P11_PIN"])
csr = Path(csr_path).read_bytes()
print("ready", flush=True)
if fault == "wait":
    sys.stdin.readline()  # the go signal
for _ in range(count):
    print(f"{ca.issue(csr, 'server').serial_number:X}", flush=True)
"""


def start_issuer(softhsm: SoftHSM, ca: Path, count: int, csr: Path, fault: str = "") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", ISSUER, str(ca), str(count), str(csr), fault],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**softhsm.env, "P11_PIN": USER_PIN},
    )


def check_directory(ca: CertificateAuthority) -> Index:
    """The index parses, every line's certificate file is there, verifies and matches; returns the index."""
    index = ca.index()
    serials = [entry.serial for entry in index]
    assert len(set(serials)) == len(serials)
    for entry in index:
        cert = ca.certificate_for(entry.serial)
        assert cert.serial_number == entry.serial
        cert.verify_directly_issued_by(ca.certificate)
        assert entry.not_after == cert.not_valid_after_utc
    return index


def certificate_files(ca: CertificateAuthority) -> int:
    """Certificate files in ``certs/`` (a killed write may leave a hidden temporary file, which is not one)."""
    return sum(1 for path in (ca.directory / "certs").iterdir() if not path.name.startswith("."))


@pytest.fixture
def ca(pki_session: Session, tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create_root(tmp_path / "ca", pki_session, "CN=concurrent root", algorithm="ec-p256")


@pytest.fixture
def csr(tmp_path: Path) -> Path:
    path = tmp_path / "req.pem"
    path.write_bytes(csr_for(software_key()))
    return path


def test_two_processes_issuing_100_each_get_200_distinct_serials(
    ca: CertificateAuthority, csr: Path, softhsm: SoftHSM
) -> None:
    # One child opens the CA (C_Initialize, login) after the other is ready: SoftHSM skips a token whose files
    # another process is rewriting at that moment (a login does). Then both issue at once.
    children = []
    for _ in range(2):
        child = start_issuer(softhsm, ca.directory, 100, csr, "wait")
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        children.append(child)
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [child.communicate(timeout=600) for child in children]
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    printed = [[int(line, 16) for line in out.split()] for out, _ in outputs]
    assert [len(serials) for serials in printed] == [100, 100]
    everything = set(printed[0]) | set(printed[1])
    assert len(everything) == 200
    index = check_directory(ca)
    assert len(index) == 200
    assert {entry.serial for entry in index} == everything
    assert len((ca.directory / "index.txt").read_text().splitlines()) == 200
    assert len(list((ca.directory / "certs").iterdir())) == 200


def committed_before_kill(fault: str) -> int:
    """How many issuances replaced the index before the kill: per issuance the child fsyncs the certificate file,
    the directory, the index file (then replaces the index), the directory; it replaces the certificate file, then
    the index."""
    kind, _, nth = fault.partition(":")
    n = int(nth)
    return {"fsync": n // 4, "replace": (n - 1) // 2, "replaced": n // 2}[kind]


@st.composite
def faults(draw: st.DrawFn) -> tuple[int, str]:
    count = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["fsync", "replace", "replaced"]))
    calls = 4 * count if kind == "fsync" else 2 * count
    return count, f"{kind}:{draw(st.integers(1, calls))}"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=faults())
def test_an_issuer_killed_at_any_write_step_leaves_a_whole_index(
    plan: tuple[int, str], ca: CertificateAuthority, csr: Path, softhsm: SoftHSM
) -> None:
    count, fault = plan
    before = list(check_directory(ca))
    files_before = certificate_files(ca)
    child = start_issuer(softhsm, ca.directory, count, csr, fault)
    out, err = child.communicate(timeout=300)
    assert child.returncode == -signal.SIGKILL, err
    printed = [int(line, 16) for line in out.split()[1:]]

    after = list(check_directory(ca))
    committed = committed_before_kill(fault)
    assert after[: len(before)] == before  # nothing already recorded changed
    assert len(after) == len(before) + committed
    assert [e.serial for e in after[len(before) :]][: len(printed)] == printed
    # besides the recorded ones, at most the killed issuance's certificate file, which no index line names
    assert certificate_files(ca) - files_before - committed in (0, 1)
    # the lock died with the child: the next issuance goes through and is recorded
    ca.issue(csr.read_bytes(), "server")
    assert len(check_directory(ca)) == len(after) + 1


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delay=st.floats(0.0, 0.4))
def test_an_issuer_killed_at_a_random_moment_leaves_a_whole_index(
    delay: float, ca: CertificateAuthority, csr: Path, softhsm: SoftHSM
) -> None:
    before = list(check_directory(ca))
    child = start_issuer(softhsm, ca.directory, 50, csr)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(delay)
    child.kill()
    out, _ = child.communicate(timeout=60)
    printed = [int(line, 16) for line in out.split()]
    after = list(check_directory(ca))
    assert after[: len(before)] == before
    recorded = [e.serial for e in after[len(before) :]]
    assert recorded[: len(printed)] == printed  # every issuance the child reported is in the index, in order
    assert len(recorded) - len(printed) in (0, 1)  # plus at most the one it finished but could not report
    assert isinstance(ca.certificate_for(recorded[-1]) if recorded else ca.certificate, x509.Certificate)
