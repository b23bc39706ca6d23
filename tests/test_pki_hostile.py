"""A CA under attack: subjects that hold line breaks of every kind, two creators racing for one directory, issuers
killed mid-write, a full disk, a restrictive umask, a planted link at the example's key file.

Processes that race or die run as children, as a second issuer or a second ``p11 selfsign`` would: they find the
token through the SoftHSM store's environment and the CA through its directory.
"""

from __future__ import annotations

import datetime
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from fs_support import run_on_tiny_filesystem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pki_helpers import openssl, software_key
from support import unique_label

from p11.api.library import load
from p11.api.session import Session
from p11.constants import ObjectClass
from p11.pki import CADirectoryError, CertificateAuthority, Index, IndexEntry, make_csr
from p11.pki.index import oneline_subject
from p11.pki.storage import DirectoryLock
from p11.testing import SoftHSM

pytest_plugins = ["highlevel_fixtures", "pki_fixtures"]

PIN = "1234"
# Every kind of line or field break a subject can smuggle in, and characters that only look harmless.
BREAKS = ["\u2028", "\u2029", "\x85", "\n", "\r", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x00", "\x7f",
          "\x9f", "\u202e", "\u200b", "\ufeff"]


def subject_with(text: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "p11"), x509.NameAttribute(NameOID.COMMON_NAME, text)]
    )


def csr_named(text: str) -> bytes:
    return make_csr(software_key(), subject_with(text), san=["hostile.example"]).public_bytes(
        serialization.Encoding.PEM
    )


def openssl_ca_config(directory: Path) -> Path:
    """An ``openssl ca`` configuration for the CA directory as p11 keeps it (index.txt, certs/, crlnumber)."""
    conf = directory.parent / f"{directory.name}-openssl.cnf"
    conf.write_text(
        "[ca]\ndefault_ca = p11\n[p11]\n"
        f"dir = {directory}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/certs\ncertificate = $dir/ca.pem\n"
        "serial = $dir/serial\ncrlnumber = $dir/crlnumber\ndefault_md = sha256\npolicy = anything\n"
        "[anything]\ncommonName = optional\n",
        encoding="utf-8",
    )
    return conf


# -- item 1: the index ----------------------------------------------------------------------------------------


def test_a_subject_with_any_line_break_is_recorded_on_one_line_and_the_ca_keeps_working(
    pki_session: Session, openssl_env: dict[str, str], tmp_path: Path
) -> None:
    ca = CertificateAuthority.create_root(tmp_path / "ca", pki_session, "CN=hostile root", algorithm="ec-p256")
    issued = [ca.issue(csr_named(f"a{ch}b"), "server") for ch in BREAKS]
    # Every later change still goes through: another issuance, a revocation, a CRL.
    after = ca.issue(csr_named("plain"), "server")
    ca.revoke(issued[0].serial_number, "keyCompromise")
    crl = ca.crl()
    assert crl.get_revoked_certificate_by_serial_number(issued[0].serial_number) is not None

    raw = (tmp_path / "ca" / "index.txt").read_bytes()
    assert raw.count(b"\n") == len(BREAKS) + 1
    text = raw.decode("utf-8")
    assert len(text.splitlines()) == len(BREAKS) + 1  # not even Python's widest idea of a line break is in it
    assert all(line.count("\t") == 5 for line in text.split("\n")[:-1])
    assert all(ch.isprintable() for line in text.split("\n")[:-1] for ch in line.replace("\t", ""))
    assert "/O=p11/CN=a\\xE2\\x80\\xA8b" in text and "/CN=a\\xC2\\x85b" in text and "/CN=a\\x0Ab" in text
    index = ca.index()
    assert [entry.serial for entry in index] == [cert.serial_number for cert in [*issued, after]]
    assert index.get(issued[0].serial_number).revoked

    # openssl ca reads the same index (TXT_DB: lines on "\n", fields on tabs) and finds every certificate.
    conf = openssl_ca_config(tmp_path / "ca")
    for cert, status in ((issued[0], "Revoked (R)"), (issued[1], "Valid (V)"), (after, "Valid (V)")):
        checked = openssl("ca", "-config", conf, "-status", f"{cert.serial_number:X}")
        assert f"{cert.serial_number:X}={status}" in checked.stderr + checked.stdout, checked.stderr
    # ... and writes it back (-revoke rewrites index.txt, the CA key used through the pkcs11 engine): p11 reads it.
    (tmp_path / "victim.pem").write_bytes(issued[2].public_bytes(serialization.Encoding.PEM))
    revoked = openssl("ca", "-config", conf, "-engine", "pkcs11", "-keyform", "engine", "-keyfile",
                      f"{ca.key_uri}?pin-value={PIN}", "-revoke", tmp_path / "victim.pem", env=openssl_env)
    assert revoked.returncode == 0, revoked.stderr
    reread = Index.load(tmp_path / "ca" / "index.txt")
    assert [entry.serial for entry in reread] == [entry.serial for entry in index]
    assert [entry.serial for entry in reread.revoked()] == [issued[0].serial_number, issued[2].serial_number]


def test_an_index_written_before_the_fix_reads_again(tmp_path: Path) -> None:
    # A CA that recorded a raw U+2028 (as the old writer did) is not stuck: the reader splits on "\n" alone.
    when = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    lines = [f"V\t300101000000Z\t\t0A1B\tunknown\t/CN=a{ch}b\n" for ch in ("\u2028", "\u2029", "\x85", "\x1c")]
    (tmp_path / "index.txt").write_text("".join(f"{line[:17]}{i:02X}{line[19:]}" for i, line in enumerate(lines)),
                                        encoding="utf-8")
    index = Index.load(tmp_path / "index.txt")
    assert len(index) == 4 and all(entry.not_after == when for entry in index)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12), min_size=1,
                       max_size=4))
def test_any_subject_text_is_one_line_with_six_fields(values: list[str]) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value) for value in values])
    line = IndexEntry(0x1234, oneline_subject(name), datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)).line()
    assert line.endswith("\n") and len(line.splitlines()) == 1 and line.count("\t") == 5
    assert IndexEntry.parse(line[:-1]).serial == 0x1234


# -- item 2: two creators, one directory ------------------------------------------------------------------------

CREATOR = r"""
import sys
from p11.api.library import load
from p11.pki import CertificateAuthority, PKIError

module, label, me = sys.argv[1], sys.argv[2], sys.argv[3]
token = load(module).get_token(label=label)
with token.open(user_pin="1234", rw=True) as session:
    print("ready", flush=True)
    for line in sys.stdin:
        directory, round_ = line.split()
        try:
            ca = CertificateAuthority.create_root(directory, session, f"CN=creator {me} round {round_}",
                                                  algorithm="ec-p256", label=f"r{round_}c{me}")
        except PKIError as exc:
            print(f"lost {type(exc).__name__}: {exc}", flush=True)
        else:
            print(f"won {ca.certificate.fingerprint(ca.certificate.signature_hash_algorithm).hex()}", flush=True)
"""

ROUNDS = 40


def waiting_on(lock: Path, *processes: subprocess.Popen[str], timeout: float = 120) -> None:
    """Return once every process has opened ``lock``: logged in and waiting for the lock the test holds.

    SoftHSM fails a login (CKR_GENERAL_ERROR) made while another process rewrites the token's files, as a login
    does; so racers log in one after the other and race only for the directory."""
    deadline = time.monotonic() + timeout
    for process in processes:
        fds = Path(f"/proc/{process.pid}/fd")
        while not any(_points_to(fd, lock) for fd in _entries(fds)):
            assert process.poll() is None, f"the racer exited {process.returncode} before reaching the lock"
            assert time.monotonic() < deadline, "the racer never reached the lock"
            time.sleep(0.02)


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except OSError:
        return []


def _points_to(fd: Path, target: Path) -> bool:
    try:
        return os.readlink(fd) == str(target)
    except OSError:
        return False


@pytest.fixture
def race_token(softhsm: SoftHSM) -> str:
    return softhsm.add_token(unique_label("race"), user_pin=PIN).label


def test_two_creators_racing_for_one_directory_one_wins_and_the_other_makes_no_key(
    softhsm: SoftHSM, race_token: str, tmp_path: Path
) -> None:
    children = []
    try:
        for me in (0, 1):  # logged in one after the other (see waiting_on), then racing round after round
            child = subprocess.Popen([sys.executable, "-c", CREATOR, softhsm.module_path, race_token, str(me)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=softhsm.env)
            children.append(child)
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        winners = []
        for round_ in range(ROUNDS):
            directory = tmp_path / f"ca-{round_}"
            for child in children:  # both at once: the line reaches each child within microseconds
                assert child.stdin is not None
                child.stdin.write(f"{directory} {round_}\n")
                child.stdin.flush()
            answers = [child.stdout.readline().strip() for child in children if child.stdout is not None]
            won = [a for a in answers if a.startswith("won ")]
            assert len(won) == 1, f"round {round_}: {answers}"
            lost = next(a for a in answers if not a.startswith("won "))
            assert lost.startswith("lost CADirectoryError:") and "already holds a CA" in lost, lost
            # The directory holds the winner's files: its certificate, and the key that certificate certifies.
            certificate = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
            assert won[0] == f"won {certificate.fingerprint(certificate.signature_hash_algorithm).hex()}"
            winners.append(certificate)
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
        for child in children:
            child.wait(timeout=60)
    library = load(softhsm.module_path)
    with library.get_token(label=race_token).open(user_pin=PIN) as session:
        for round_, certificate in enumerate(winners):
            ca = CertificateAuthority.open(tmp_path / f"ca-{round_}", session=session)  # KeyMismatch if mixed
            assert ca.certificate == certificate
        private = list(session.find(object_class=ObjectClass.PRIVATE_KEY))
        public = list(session.find(object_class=ObjectClass.PUBLIC_KEY))
    assert len(private) == len(public) == ROUNDS  # the losers made no key


def test_a_failed_creation_leaves_no_key_on_the_token(pki_session: Session, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    before = len(list(pki_session.find(object_class=ObjectClass.PRIVATE_KEY)))

    def full_disk(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "ca" / "ca.pem"))

    monkeypatch.setattr("p11.pki.directory.CADirectory.write_new", full_disk)
    with pytest.raises(OSError, match="No space left"):
        CertificateAuthority.create_root(tmp_path / "ca", pki_session, "CN=doomed", algorithm="ec-p256")
    assert len(list(pki_session.find(object_class=ObjectClass.PRIVATE_KEY))) == before
    assert len(list(pki_session.find(label="doomed key"))) == 0


def test_two_selfsign_commands_at_once_make_one_ca(cli: object, tmp_path: Path) -> None:
    from cli_support import CLI

    assert isinstance(cli, CLI)
    label = cli.new_token()["label"]
    for round_ in range(3):
        # Both commands wait for the directory's lock, which the test holds, then race when it lets go.
        directory = tmp_path / f"root-{round_}"
        directory.mkdir()
        args = ["selfsign", "--ca-dir", f"root-{round_}", "--token", label, "--new-key", "ec-p256", "--subject"]
        with DirectoryLock(directory):
            procs = []
            for me in (0, 1):
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "p11", *args, f"CN=root {me}", "--label", f"k{round_}{me}", "--out",
                     f"root-{round_}-{me}.pem"], cwd=tmp_path, env={**cli.env, "P11_PIN": "1234"},
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                waiting_on(directory / ".lock", procs[-1])
        results = [(proc.wait(timeout=120), proc.stderr.read() if proc.stderr else "") for proc in procs]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 1], results
        loser = next(err for code, err in results if code == 1)
        assert "already holds a CA" in loser and len(loser.strip().splitlines()) == 1
        winner = next(me for me, (code, _) in enumerate(results) if code == 0)
        assert (tmp_path / f"root-{round_}-{winner}.pem").read_bytes() == (tmp_path / f"root-{round_}" / "ca.pem"
                                                                         ).read_bytes()
    listed = cli.ok("objects", "--token", label, "--type", "private", "--json", env={"P11_PIN": "1234"}).json()
    assert len(listed["objects"]) == 3


# -- item 10: files -------------------------------------------------------------------------------------------

KILLED_ISSUER = r"""
import os, signal, sys
real, calls = os.replace, [0]
def replace(*args, **kwargs):
    calls[0] += 1
    if calls[0] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
os.replace = replace
from p11.pki import CertificateAuthority
ca = CertificateAuthority.open(sys.argv[1], pin="1234")
ca.issue(open(sys.argv[2], "rb").read(), "server")
"""


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in [*directory.iterdir(), *(directory / "certs").iterdir()] if p.name.endswith(".tmp"))


def test_temporary_files_of_killed_issuers_are_removed_under_the_lock(
    pki_session: Session, softhsm: SoftHSM, tmp_path: Path
) -> None:
    ca = CertificateAuthority.create_root(tmp_path / "ca", pki_session, "CN=tidy root", algorithm="ec-p256")
    (tmp_path / "req.pem").write_bytes(csr_named("victim"))
    left = []
    for kill_at in (1, 2):  # before the certificate file's rename (tmp in certs/), then before the index's
        child = subprocess.run([sys.executable, "-c", KILLED_ISSUER, str(ca.directory), str(tmp_path / "req.pem"),
                                str(kill_at)], env=softhsm.env, capture_output=True, timeout=120, check=False)
        assert child.returncode == -signal.SIGKILL, child.stderr
        left.append(temporaries(ca.directory))
        assert (ca.directory / ".lock").read_bytes() == b"busy\n"  # what the next holder finds
    # The second issuer found the first one's leftover and removed it; its own is there until the next change.
    assert len(left[0]) == 1 and (ca.directory / "certs" / left[0][0]).exists() is False
    assert len(left[1]) == 1 and left[1][0].startswith(".index.txt.")
    ca.issue(csr_named("next"), "server")
    assert temporaries(ca.directory) == []
    assert len(ca.index()) == 1  # neither killed issuance was recorded (one left an unrecorded certificate file)
    assert (ca.directory / ".lock").read_bytes() == b"idle\n"


def test_ca_files_follow_a_restrictive_umask(softhsm: SoftHSM, pki_token: object, tmp_path: Path) -> None:
    label = pki_token.label  # type: ignore[attr-defined]
    script = textwrap.dedent("""
        import os, sys
        os.umask(0o077)
        from p11.api.library import load
        from p11.pki import CertificateAuthority
        with load(sys.argv[1]).get_token(label=sys.argv[2]).open(user_pin="1234", rw=True) as session:
            ca = CertificateAuthority.create_root(sys.argv[3], session, "CN=umask root", algorithm="ec-p256")
    """)
    subprocess.run([sys.executable, "-c", script, softhsm.module_path, label, str(tmp_path / "ca")],
                   env=softhsm.env, check=True, timeout=120)
    for name in ("ca.pem", "index.txt", "ca.json", "key.uri", "chain.pem", "crlnumber", "index.txt.attr"):
        assert stat.S_IMODE((tmp_path / "ca" / name).stat().st_mode) == 0o600, name


def test_a_full_disk_under_the_ca_names_the_file_and_loses_nothing(
    pki_session: Session, softhsm: SoftHSM, tmp_path: Path
) -> None:
    ca = CertificateAuthority.create_root(tmp_path / "ca", pki_session, "CN=full root", algorithm="ec-p256")
    ca.issue(csr_named("first"), "server")
    (tmp_path / "req.pem").write_bytes(csr_named("second"))
    out = run_on_tiny_filesystem(
        tmp_path,
        f"""
        import os, shutil, subprocess
        shutil.copytree({str(ca.directory)!r}, MOUNT / "ca")
        index = (MOUNT / "ca" / "index.txt").read_bytes()
        filler = os.open(MOUNT / "filler", os.O_WRONLY | os.O_CREAT)   # fill the disk to the last byte
        for size in (4096, 512, 1):
            try:
                while True:
                    os.write(filler, b"x" * size)
            except OSError:
                pass
        os.close(filler)
        run = subprocess.run(["p11", "issue", {str(tmp_path / "req.pem")!r}, "--ca-dir", str(MOUNT / "ca")],
                             capture_output=True, text=True, env={{**os.environ, "P11_PIN": "1234"}})
        print(run.returncode)
        print(run.stderr.strip())
        print((MOUNT / "ca" / "index.txt").read_bytes() == index)
        print(sorted(p.name for p in (MOUNT / "ca").rglob("*.tmp")))
        """,
        env={**softhsm.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    code, message, unchanged, leftovers = out.strip().splitlines()
    assert code == "1"
    assert message.startswith("p11: error: cannot read or write '") and "No space left on device" in message
    assert "/mnt/ca/" in message and ".tmp" not in message
    assert unchanged == "True" and leftovers == "[]"


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ca.py"


def run_example(softhsm: SoftHSM, label: str, out: Path) -> subprocess.Popen[str]:
    env = {**softhsm.env, "P11_MODULE": softhsm.module_path, "P11_TOKEN": label, "P11_PIN": PIN}
    return subprocess.Popen([sys.executable, str(EXAMPLE), "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_the_example_replaces_a_world_readable_or_linked_key_file_with_a_0600_one(
    softhsm: SoftHSM, tmp_path: Path
) -> None:
    label = softhsm.add_token(unique_label("example-files"), user_pin=PIN).label
    out = tmp_path / "out"
    out.mkdir()
    (out / "server-key.pem").write_bytes(b"old key")
    (out / "server-key.pem").chmod(0o644)
    first = run_example(softhsm, label, out)
    assert first.wait(timeout=300) == 0, first.stderr.read() if first.stderr else ""
    key = out / "server-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and b"PRIVATE KEY" in key.read_bytes()

    shared = tmp_path / "shared-world-readable"
    shared.write_bytes(b"")
    shared.chmod(0o644)
    key.unlink()
    key.symlink_to(shared)  # planted by someone who can read the target
    second = run_example(softhsm, label, out)
    assert second.wait(timeout=300) == 0, second.stderr.read() if second.stderr else ""
    assert not key.is_symlink() and stat.S_IMODE(key.lstat().st_mode) == 0o600
    assert shared.read_bytes() == b""


def test_the_example_run_twice_at_once_makes_one_pair_of_cas(softhsm: SoftHSM, tmp_path: Path) -> None:
    label = softhsm.add_token(unique_label("example-race"), user_pin=PIN).label
    out = tmp_path / "out"
    (out / "ca" / "root").mkdir(parents=True)
    with DirectoryLock(out / "ca" / "root"):  # both runs logged in and waiting: then they race
        runs = []
        for _ in range(2):
            runs.append(run_example(softhsm, label, out))
            waiting_on(out / "ca" / "root" / ".lock", runs[-1])
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read() if run.stderr else ""
    verified = openssl("verify", "-CAfile", out / "root.pem", "-untrusted", out / "intermediate.pem",
                       out / "server.pem")
    assert verified.returncode == 0, verified.stderr
    for name in ("root", "intermediate"):
        CertificateAuthority.open(out / "ca" / name, pin=PIN, module=softhsm.module_path)  # KeyMismatch if mixed
    assert len((out / "ca" / "intermediate" / "index.txt").read_text().split("\n")) == 3  # two servers issued
    with load(softhsm.module_path).get_token(label=label).open(user_pin=PIN) as session:
        assert len(list(session.find(object_class=ObjectClass.PRIVATE_KEY))) == 2  # one root key, one intermediate


def test_a_directory_named_new_but_holding_a_file_is_refused(pki_session: Session, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CADirectoryError, match="not empty"):
        CertificateAuthority.create_root(tmp_path, pki_session, "CN=squatter", algorithm="ec-p256")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delay=st.floats(0.0, 0.3))
def test_a_creator_killed_at_a_random_moment_leaves_a_directory_a_new_creation_can_take(
    delay: float, pki_session: Session, softhsm: SoftHSM, pki_token: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("killed-creator") / "ca"
    label = pki_token.label  # type: ignore[attr-defined]
    script = textwrap.dedent("""
        import sys
        from p11.api.library import load
        from p11.pki import CertificateAuthority
        with load(sys.argv[1]).get_token(label=sys.argv[2]).open(user_pin="1234", rw=True) as session:
            print("ready", flush=True)
            CertificateAuthority.create_root(sys.argv[3], session, "CN=killed", algorithm="ec-p256")
            print("done", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script, softhsm.module_path, label, str(directory)],
                             stdout=subprocess.PIPE, text=True, env=softhsm.env)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    time.sleep(delay)
    child.kill()
    child.wait(timeout=60)
    if (directory / "ca.pem").exists():
        with pytest.raises(CADirectoryError, match="already holds a CA"):
            CertificateAuthority.create_root(directory, pki_session, "CN=second", algorithm="ec-p256")
    else:
        ca = CertificateAuthority.create_root(directory, pki_session, "CN=second", algorithm="ec-p256")
        assert CertificateAuthority.open(directory, session=pki_session).certificate == ca.certificate


def test_a_link_planted_at_the_lock_file_is_refused_not_followed(pki_session: Session, tmp_path: Path) -> None:
    ca = CertificateAuthority.create_root(tmp_path / "ca", pki_session, "CN=locked root", algorithm="ec-p256")
    (ca.directory / ".lock").unlink()
    (ca.directory / ".lock").symlink_to(tmp_path / "created-elsewhere")
    with pytest.raises(OSError, match="symbolic link") as info:
        ca.issue(csr_named("x"), "server")
    assert info.value.filename == str(ca.directory / ".lock")
    assert not (tmp_path / "created-elsewhere").exists() and len(ca.index()) == 0
