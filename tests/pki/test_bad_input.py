"""Bad input to the CA: each is refused with a specific error and leaves no partial state — the CA directory is
byte for byte what it was (no index line, no certificate file, no serial used), and no key was generated."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from p11 import errors
from p11.api.session import Session
from p11.constants import ObjectClass
from p11.crypto import token_key
from p11.pki import (
    CADirectoryError,
    CertificateAuthority,
    CSRInvalid,
    IndexCorrupt,
    IssuerNotValid,
    KeyMismatch,
    NotACertificateAuthority,
    PathLengthExceeded,
    ProfileViolation,
    make_csr,
)
from p11.pki.directory import CADirectory, Settings
from p11.testing import SoftHSM
from tests.pki.helpers import TwoTierCA, csr_for, software_key
from tests.support import USER_PIN, WRONG_PIN, python

NOW = datetime.datetime.now(datetime.UTC)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file of a CA directory but the lock file, by relative path."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def private_keys(session: Session) -> int:
    with session.find(object_class=ObjectClass.PRIVATE_KEY) as found:
        return len(list(found))


def refused(
    ca: CertificateAuthority, session: Session, error: type[Exception], match: str, action: Callable[[], object]
) -> None:
    """``action`` raises ``error`` (message matching ``match``) and changes neither the directory nor the token."""
    before, keys = snapshot(ca.directory), private_keys(session)
    with pytest.raises(error, match=match):
        action()
    assert snapshot(ca.directory) == before
    assert private_keys(session) == keys


def test_csr_whose_signature_does_not_verify(pki_ca: TwoTierCA, pki_session: Session) -> None:
    der = make_csr(software_key(), "CN=victim.example", san=["victim.example"]).public_bytes(serialization.Encoding.DER)
    tampered = der.replace(b"victim.example", b"attack.example")  # the signed part changes, the signature does not
    assert tampered != der
    ca = pki_ca.intermediate
    refused(ca, pki_session, CSRInvalid, "does not verify", lambda: ca.issue(tampered, "server"))
    refused(ca, pki_session, CSRInvalid, "not a certificate signing request", lambda: ca.issue(b"\x30\x03junk"))


def test_csr_asking_for_ca_on_a_server_profile(pki_ca: TwoTierCA, pki_session: Session) -> None:
    key = software_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=sneaky"))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("sneaky.example")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    ca = pki_ca.intermediate
    refused(ca, pki_session, ProfileViolation, "CA=true", lambda: ca.issue(csr, "server"))
    refused(ca, pki_session, ProfileViolation, "CA=true", lambda: ca.issue(csr, "client"))


def test_profile_rules(pki_ca: TwoTierCA, pki_session: Session) -> None:
    ca = pki_ca.intermediate
    no_san = csr_for(software_key(), "CN=no-san", san=())
    refused(ca, pki_session, ProfileViolation, "requires a subjectAltName", lambda: ca.issue(no_san, "server"))
    refused(ca, pki_session, ProfileViolation, "unknown profile", lambda: ca.issue(no_san, "webserver"))
    refused(ca, pki_session, ProfileViolation, "self-signed", lambda: ca.issue(no_san, "root"))
    refused(ca, pki_session, ValueError, "days", lambda: ca.issue(no_san, "client", days=0))


@pytest.mark.parametrize(
    ("not_before", "days", "match"),
    [(NOW - datetime.timedelta(days=10), 1, "expired"), (NOW + datetime.timedelta(days=10), 30, "not valid before")],
)
def test_issuer_outside_its_validity(
    pki_session: Session, tmp_path: Path, not_before: datetime.datetime, days: int, match: str
) -> None:
    root = CertificateAuthority.create_root(
        tmp_path / "root",
        pki_session,
        "CN=out of time",
        algorithm="ec-p256",
        not_before=not_before,
        days=days,
        path_length=1,
    )
    csr = csr_for(software_key())
    refused(root, pki_session, IssuerNotValid, match, lambda: root.issue(csr, "server"))
    refused(root, pki_session, IssuerNotValid, match, lambda: root.crl())
    refused(
        root,
        pki_session,
        IssuerNotValid,
        match,
        lambda: root.create_intermediate(tmp_path / "int", pki_session, "CN=never", algorithm="ec-p256"),
    )
    assert not (tmp_path / "int").exists()


def test_path_length_violations(pki_ca: TwoTierCA, pki_session: Session, tmp_path: Path) -> None:
    leafless = CertificateAuthority.create_root(
        tmp_path / "root0", pki_session, "CN=pathlen 0 root", algorithm="ec-p256", path_length=0
    )
    refused(
        leafless,
        pki_session,
        PathLengthExceeded,
        "pathLenConstraint 0",
        lambda: leafless.create_intermediate(tmp_path / "int", pki_session, "CN=too deep", algorithm="ec-p256"),
    )
    assert not (tmp_path / "int").exists()
    # below a pathlen-1 root there is room for one CA, with pathlen 0 and no more
    root = pki_ca.root
    refused(
        root,
        pki_session,
        PathLengthExceeded,
        "at most 0",
        lambda: root.create_intermediate(tmp_path / "int", pki_session, "CN=x", algorithm="ec-p256", path_length=1),
    )
    # the intermediate (pathlen 0) may not certify another CA, even from a CSR
    ca = pki_ca.intermediate
    sub_ca_csr = csr_for(software_key(), "CN=sub ca", san=())
    refused(ca, pki_session, PathLengthExceeded, "pathLenConstraint 0", lambda: ca.issue(sub_ca_csr, "intermediate"))


def test_a_certificate_that_is_not_a_ca_cannot_issue(pki_ca: TwoTierCA, pki_session: Session, tmp_path: Path) -> None:
    _public, private = pki_session.generate_keypair("EC", curve="P-256", label="end entity key")
    leaf = pki_ca.intermediate.issue(make_csr(token_key(private), "CN=ee", san=["ee.example"]), "server")
    CADirectory(tmp_path / "ee").create(leaf, list(pki_ca.intermediate.chain), private.uri, Settings())
    with pytest.raises(NotACertificateAuthority, match="not a CA certificate"):
        CertificateAuthority.open(tmp_path / "ee", session=pki_session)


def test_key_uri_naming_another_key(pki_ca: TwoTierCA, pki_session: Session, tmp_path: Path) -> None:
    other = CertificateAuthority.create_root(tmp_path / "other", pki_session, "CN=other", algorithm="ec-p256")
    (other.directory / "key.uri").write_text(str(pki_ca.root.key_uri) + "\n")
    with pytest.raises(KeyMismatch, match="public keys differ"):
        CertificateAuthority.open(other.directory, session=pki_session)


def test_directory_already_holding_a_ca(pki_ca: TwoTierCA, pki_session: Session) -> None:
    root = pki_ca.root
    refused(
        root,
        pki_session,
        CADirectoryError,
        "already holds a CA",
        lambda: CertificateAuthority.create_root(root.directory, pki_session, "CN=again", algorithm="ec-p256"),
    )
    refused(
        root,
        pki_session,
        ValueError,
        "unknown key algorithm",
        lambda: CertificateAuthority.create_root(root.directory / "sub", pki_session, "CN=x", algorithm="dsa-1024"),
    )
    with pytest.raises(CADirectoryError, match="no CA directory"):
        CertificateAuthority.open(root.directory / "missing", session=pki_session)


def test_corrupt_index_is_named_and_left_alone(pki_session: Session, tmp_path: Path) -> None:
    root = CertificateAuthority.create_root(tmp_path / "root", pki_session, "CN=corrupt", algorithm="ec-p256")
    root.issue(csr_for(software_key()), "server")
    index = root.directory / "index.txt"
    index.write_bytes(index.read_bytes()[:-20])  # a torn last line, as a non-atomic writer would leave
    refused(
        root,
        pki_session,
        IndexCorrupt,
        "index.txt: the last line is incomplete",
        lambda: root.issue(csr_for(software_key())),
    )


def test_failed_signing_consumes_no_serial(
    pki_token: object, pki_session: Session, tmp_path: Path, softhsm: SoftHSM
) -> None:
    root = CertificateAuthority.create_root(tmp_path / "root", pki_session, "CN=session dies", algorithm="ec-p256")
    first = root.issue(csr_for(software_key()), "server")
    session = pki_session.token.open(user_pin=USER_PIN)
    dying = CertificateAuthority.open(root.directory, session=session)
    session.close()
    refused(
        dying,
        pki_session,
        errors.SessionError,
        "session was closed",
        lambda: dying.issue(csr_for(software_key()), "server"),
    )
    second = root.issue(csr_for(software_key()), "server")
    entries = list(root.index())
    assert [e.serial for e in entries] == [first.serial_number, second.serial_number]
    assert sorted(p.name for p in (root.directory / "certs").iterdir()) == sorted(f"{e.serial:X}.pem" for e in entries)


OPEN_SCRIPT = """
import sys
from p11.pki import CertificateAuthority
try:
    CertificateAuthority.open(sys.argv[1], pin=sys.argv[2])
except Exception as exc:
    print(type(exc).__name__, exc)
else:
    print("opened")
"""


def test_wrong_pin_and_missing_token(pki_ca: TwoTierCA, softhsm: SoftHSM, tmp_path: Path) -> None:
    """In a child process, where nothing is logged in yet (a logged-in token does not check a PIN again)."""
    ca = pki_ca.intermediate
    before = snapshot(ca.directory)
    wrong = python(OPEN_SCRIPT, str(ca.directory), WRONG_PIN, env=softhsm.env)
    assert wrong.stdout.startswith("PinIncorrect"), wrong.stdout + wrong.stderr
    assert WRONG_PIN not in wrong.stdout + wrong.stderr
    right = python(OPEN_SCRIPT, str(ca.directory), USER_PIN, env=softhsm.env)
    assert right.stdout.strip() == "opened", right.stdout + right.stderr

    empty = tmp_path / "no-tokens"
    (empty / "tokens").mkdir(parents=True)
    (empty / "softhsm2.conf").write_text(f"directories.tokendir = {empty / 'tokens'}\nobjectstore.backend = file\n")
    missing = python(
        OPEN_SCRIPT, str(ca.directory), USER_PIN, env={**softhsm.env, "SOFTHSM2_CONF": str(empty / "softhsm2.conf")}
    )
    assert missing.stdout.startswith("NoSuchToken"), missing.stdout + missing.stderr
    assert ca.key_uri["token"] in missing.stdout  # the message names the token it looked for
    assert snapshot(ca.directory) == before
