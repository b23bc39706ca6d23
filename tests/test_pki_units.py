"""The parts of p11.pki that need no token: serials, the index format, reasons, names, profiles, the lock."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from p11.pki import (
    CLIENT,
    SERVER,
    IndexCorrupt,
    IndexEntry,
    LockTimeout,
    SerialInUse,
    UnknownSerial,
    get_profile,
    parse_name,
    parse_reason,
    parse_san,
    random_serial,
)
from p11.pki.index import Index, oneline_subject
from p11.pki.serials import MAX_SERIAL, check_serial
from p11.pki.storage import DirectoryLock, atomic_write


def test_random_serials_are_positive_20_octets_and_distinct() -> None:
    serials = [random_serial() for _ in range(2000)]
    assert len(set(serials)) == len(serials)
    for serial in serials:
        assert 0 < serial <= MAX_SERIAL
        assert serial.bit_length() == 159  # DER: 20 octets, the leading one below 0x80, never 21
        assert len(serial.to_bytes(20, "big", signed=True)) == 20


@pytest.mark.parametrize("bad", [0, -1, MAX_SERIAL + 1, 2**160])
def test_check_serial_refuses_what_rfc5280_forbids(bad: int) -> None:
    with pytest.raises(ValueError, match="serial number"):
        check_serial(bad)
    with pytest.raises(TypeError):
        check_serial(True)


times = st.datetimes(
    min_value=datetime.datetime(1950, 1, 1), max_value=datetime.datetime(9998, 12, 31), timezones=st.just(datetime.UTC)
).map(lambda t: t.replace(microsecond=0))
reasons = st.sampled_from(["unspecified", "keyCompromise", "CACompromise", "superseded", "cessationOfOperation"])


@given(
    serial=st.integers(1, MAX_SERIAL),
    # X.509 bounds a common name at 64 (UTF-8) bytes, which cryptography enforces: only such names are names.
    cn=st.text(min_size=1, max_size=30).filter(lambda s: len(s.encode("utf-8", "surrogatepass")) <= 64),
    not_after=times,
    revoked=st.none() | st.tuples(times, reasons),
)
def test_index_lines_round_trip(
    serial: int, cn: str, not_after: datetime.datetime, revoked: tuple[datetime.datetime, str] | None
) -> None:
    subject = oneline_subject(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    entry = IndexEntry(serial, subject, not_after)
    if revoked is not None:
        entry = IndexEntry(serial, subject, not_after, revoked[0], parse_reason(revoked[1]))
    line = entry.line()
    assert line.endswith("\n") and line.count("\n") == 1 and line.count("\t") == 5
    assert IndexEntry.parse(line[:-1]) == entry
    hex_serial = line.split("\t")[3]
    assert hex_serial == f"{serial:X}".rjust(len(hex_serial), "0") and len(hex_serial) % 2 == 0


def test_index_is_immutable_and_refuses_duplicates(tmp_path: Path) -> None:
    when = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    empty = Index()
    one = empty.add(IndexEntry(0xABCD, "/CN=a", when))
    assert len(empty) == 0 and len(one) == 1
    with pytest.raises(SerialInUse):
        one.add(IndexEntry(0xABCD, "/CN=other", when))
    with pytest.raises(UnknownSerial):
        one.revoke(0x1234, when, x509.ReasonFlags.superseded)
    path = tmp_path / "index.txt"
    one.revoke(0xABCD, when, x509.ReasonFlags.superseded).save(path)
    assert path.read_text() == "R\t300101000000Z\t300101000000Z,superseded\tABCD\tunknown\t/CN=a\n"
    assert Index.load(path).get(0xABCD).status() == "R"
    assert len(Index.load(tmp_path / "missing.txt")) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("V\t300101000000Z\t\tABCD\tunknown\t/CN=a", "last line is incomplete"),
        ("X\t300101000000Z\t\tABCD\tunknown\t/CN=a\n", "line 1: unknown status"),
        ("V\t300101000000Z\t\tABCD\tunknown\t/CN=a\nV\t300101000000Z\t\tABCD\tunknown\t/CN=b\n", "line 2: serial"),
        ("V\t300101000000Z\t\tZZ\tunknown\t/CN=a\n", "bad serial"),
        ("V\t300101000000Z\t300101000000Z\tAB\tunknown\t/CN=a\n", "has a revocation date"),
        ("V\t3001\t\tAB\tunknown\t/CN=a\n", "not an ASN.1"),
        ("V\tAB\tunknown\t/CN=a\n", "6 tab-separated fields"),
        (
            "R\t300101000000Z\t300101000000Z,certificateHold\tAB\tunknown\t/CN=a\n",
            "unknown revocation reason 'certificateHold'",
        ),
    ],
)
def test_a_bad_index_line_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "index.txt"
    path.write_text(content)
    with pytest.raises(IndexCorrupt, match=message) as caught:
        Index.load(path)
    assert str(path) in str(caught.value)


def test_oneline_subject_is_openssls_form() -> None:
    name = parse_name("CN=www.example.com,O=Example\\, Inc.,C=DE")
    assert oneline_subject(name) == "/C=DE/O=Example, Inc./CN=www.example.com"
    assert oneline_subject(parse_name("CN=tab\there")) == "/CN=tab\\x09here"
    assert parse_name("/C=DE/O=Example/CN=host") == parse_name("CN=host,O=Example,C=DE")


def test_parse_san_reads_each_kind() -> None:
    import ipaddress

    assert parse_san(["www.example.com", "192.0.2.1", "::1", "a@example.com", "https://example.com/x"]) == [
        x509.DNSName("www.example.com"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.RFC822Name("a@example.com"),
        x509.UniformResourceIdentifier("https://example.com/x"),
    ]
    assert parse_san(["DNS:1.2.3.4", "IP:10.0.0.1", "email:b@example.com", "URI:urn:x"]) == [
        x509.DNSName("1.2.3.4"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.RFC822Name("b@example.com"),
        x509.UniformResourceIdentifier("urn:x"),
    ]
    with pytest.raises(TypeError, match="not one string"):
        parse_san("www.example.com")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an IP address"):
        parse_san(["IP:999.1.1.1"])


def test_reasons() -> None:
    assert parse_reason("KeyCompromise") == x509.ReasonFlags.key_compromise
    assert parse_reason("key_compromise") == x509.ReasonFlags.key_compromise
    assert parse_reason(x509.ReasonFlags.superseded) == x509.ReasonFlags.superseded
    with pytest.raises(ValueError, match="unknown revocation reason"):
        parse_reason("lost it")
    with pytest.raises(ValueError, match="not recorded"):
        parse_reason(x509.ReasonFlags.certificate_hold)


def test_key_usage_follows_profile_and_key_type() -> None:
    rsa_key = rsa.generate_private_key(65537, 2048).public_key()
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    ed_key = ed25519.Ed25519PrivateKey.generate().public_key()
    assert SERVER.key_usage(rsa_key).key_encipherment
    assert not SERVER.key_usage(ec_key).key_encipherment
    assert not SERVER.key_usage(ed_key).key_encipherment and SERVER.key_usage(ed_key).digital_signature
    assert not CLIENT.key_usage(rsa_key).key_encipherment
    ca = get_profile("intermediate").key_usage(ec_key)
    assert ca.key_cert_sign and ca.crl_sign
    assert get_profile("code_signing") is get_profile("code-signing")


def test_directory_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with DirectoryLock(tmp_path):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(30)
    with pytest.raises(LockTimeout, match="stayed locked"), DirectoryLock(tmp_path, timeout=0.05):
        pass
    release.set()
    thread.join(30)
    with DirectoryLock(tmp_path, timeout=5):  # free again
        pass


def test_atomic_write_replaces_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    atomic_write(target, b"old")
    atomic_write(target, b"new content", secret=True)
    assert target.read_bytes() == b"new content"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
