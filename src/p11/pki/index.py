"""The CA's record of what it issued: ``index.txt`` in the format ``openssl ca`` reads and writes.

One line per certificate, six tab-separated fields::

    V	350101120000Z		8A3F…	unknown	/C=DE/O=Example/CN=www.example.com
    R	350101120000Z	270101120000Z,keyCompromise	9B41…	unknown	/CN=old.example.com

status (``V`` valid, ``R`` revoked; ``E``, which ``openssl ca -updatedb`` writes, is read as valid-but-expired),
notAfter, revocation date and reason, serial in upper-case hex, file name (always ``unknown``), and the subject in
OpenSSL's one-line form. Keeping OpenSSL's format lets ``openssl ca`` and ``openssl ocsp -index`` work on the same
directory.

A line is one certificate, whatever its subject holds: a subject comes from a CSR, that is from whoever asks for a
certificate, so every character that is not printable (C0 and C1 controls, tab and newline among them, U+2028 and
U+2029, format characters such as bidirectional overrides, unassigned code points) is written as ``\\xHH`` escapes of
its UTF-8 bytes, as OpenSSL's ``X509_NAME_oneline`` writes bytes outside printable ASCII. No subject can split a line
or a field, and ``openssl ca`` (which splits lines on ``\\n`` and fields on tabs) reads what is written. The reader
splits on ``\\n`` alone, as OpenSSL does: an index written before this rule, with such a character in a subject,
still reads.

An :class:`Index` is an immutable value: :meth:`Index.add` and :meth:`Index.revoke` return a new one (refusing a
duplicate serial or an unknown one), and :meth:`Index.save` replaces the file atomically. The CA reads, changes and
saves it under the directory lock, so the file on disk is always a whole index, the one before a change or the one
after. Any line that does not parse is :class:`~p11.pki.errors.IndexCorrupt`, naming the file and line.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

from p11.pki.errors import AlreadyRevoked, IndexCorrupt, SerialInUse, UnknownSerial
from p11.pki.revocation import parse_reason, reason_name
from p11.pki.serials import check_serial
from p11.pki.storage import atomic_write

__all__ = ["INDEX_NAME", "Index", "IndexEntry", "oneline_subject"]

#: The index file's name inside a CA directory.
INDEX_NAME: Final = "index.txt"
Status = Literal["V", "R", "E"]

_SHORT_NAMES: Final = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
}


def _escape(text: str) -> str:
    """Every character that is not printable as ``\\xHH`` escapes of its UTF-8 bytes (see the module docstring):
    no line or field separator of any kind reaches the file."""
    return "".join(ch if ch.isprintable() else "".join(f"\\x{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
                   for ch in text)


def oneline_subject(name: x509.Name) -> str:
    """``name`` as OpenSSL's ``X509_NAME_oneline`` writes it: ``/C=DE/O=Example/CN=host``, in DER order."""
    parts = []
    for attribute in name:
        short = _SHORT_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
        parts.append(f"/{short}={_escape(value)}")
    return "".join(parts)


def _hex(serial: int) -> str:
    """The serial as OpenSSL writes it (``BN_bn2hex``): upper case, an even number of digits, no other padding.
    ``openssl ca`` finds a certificate by comparing this text, so it must be exactly that."""
    text = f"{serial:X}"
    return "0" + text if len(text) % 2 else text


def _format_time(when: datetime.datetime) -> str:
    """ASN.1 time as OpenSSL writes it in the index: UTCTime before 2050, GeneralizedTime from then on."""
    when = when.astimezone(datetime.UTC)
    return when.strftime("%y%m%d%H%M%SZ" if when.year < 2050 else "%Y%m%d%H%M%SZ")


def _parse_time(text: str) -> datetime.datetime:
    if len(text) == 13 and text.endswith("Z"):
        parsed = datetime.datetime.strptime(text, "%y%m%d%H%M%SZ")
        # RFC 5280: UTCTime years 50-99 are 19xx, 00-49 are 20xx (strptime's pivot is 69).
        year = parsed.year % 100
        parsed = parsed.replace(year=(1900 if year >= 50 else 2000) + year)
    elif len(text) == 15 and text.endswith("Z"):
        parsed = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    else:
        raise ValueError(f"not an ASN.1 UTC or generalized time: {text!r}")
    return parsed.replace(tzinfo=datetime.UTC)


@dataclass(frozen=True)
class IndexEntry:
    """One issued certificate: its serial, subject (one-line form), notAfter and revocation state."""

    serial: int
    subject: str
    not_after: datetime.datetime
    revoked_at: datetime.datetime | None = None
    reason: x509.ReasonFlags | None = None

    @classmethod
    def for_certificate(cls, certificate: x509.Certificate) -> IndexEntry:
        """The entry recording ``certificate`` as issued and valid."""
        return cls(certificate.serial_number, oneline_subject(certificate.subject), certificate.not_valid_after_utc)

    @property
    def revoked(self) -> bool:
        """Whether the certificate was revoked (``R``), whatever its expiry."""
        return self.revoked_at is not None

    def status(self, at: datetime.datetime | None = None) -> Status:
        """``R`` revoked, ``E`` expired at ``at`` (default now), else ``V``."""
        if self.revoked:
            return "R"
        now = at or datetime.datetime.now(datetime.UTC)
        return "E" if self.not_after < now else "V"

    def line(self) -> str:
        """The entry as one ``index.txt`` line, newline included."""
        revocation = ""
        if self.revoked_at is not None:
            revocation = _format_time(self.revoked_at)
            if self.reason is not None:
                revocation += "," + reason_name(self.reason)
        status = "R" if self.revoked else "V"
        return f"{status}\t{_format_time(self.not_after)}\t{revocation}\t{_hex(self.serial)}\tunknown\t{self.subject}\n"

    @classmethod
    def parse(cls, line: str) -> IndexEntry:
        """One index line (without its newline); ValueError says what is wrong with it."""
        fields = line.split("\t")
        if len(fields) != 6:
            raise ValueError(f"expected 6 tab-separated fields, found {len(fields)}")
        status, not_after, revocation, serial_hex, _filename, subject = fields
        if status not in ("V", "R", "E"):
            raise ValueError(f"unknown status {status!r} (V, R or E)")
        try:
            serial = check_serial(int(serial_hex, 16))
        except ValueError:
            raise ValueError(f"bad serial {serial_hex!r}") from None
        revoked_at = reason = None
        if status == "R":
            when, _, name = revocation.partition(",")
            revoked_at = _parse_time(when)
            reason = parse_reason(name) if name else x509.ReasonFlags.unspecified
        elif revocation:
            raise ValueError(f"a certificate with status {status} has a revocation date")
        return cls(serial, subject, _parse_time(not_after), revoked_at, reason)


class Index:
    """The issued certificates, in the order they were issued; an immutable value (see the module docstring)."""

    def __init__(self, entries: tuple[IndexEntry, ...] = ()) -> None:
        self._entries = entries
        self._by_serial = {entry.serial: entry for entry in entries}
        if len(self._by_serial) != len(entries):
            raise SerialInUse("the index holds the same serial twice")

    @classmethod
    def load(cls, path: Path) -> Index:
        """The index in ``path`` (empty if there is no such file). :class:`IndexCorrupt` names a bad line."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IndexCorrupt(f"{path}: not UTF-8 at byte {exc.start}") from None
        if text and not text.endswith("\n"):
            raise IndexCorrupt(f"{path}: the last line is incomplete (no newline)")
        entries: list[IndexEntry] = []
        seen: set[int] = set()
        for number, line in enumerate(text.split("\n")[:-1], 1):  # "\n" alone ends a line, as for OpenSSL
            try:
                entry = IndexEntry.parse(line)
            except ValueError as exc:
                raise IndexCorrupt(f"{path}, line {number}: {exc}") from None
            if entry.serial in seen:
                raise IndexCorrupt(f"{path}, line {number}: serial {entry.serial:X} appears twice")
            seen.add(entry.serial)
            entries.append(entry)
        return cls(tuple(entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[IndexEntry]:
        return iter(self._entries)

    def __contains__(self, serial: object) -> bool:
        return serial in self._by_serial

    def get(self, serial: int) -> IndexEntry:
        """The entry for ``serial``; :class:`UnknownSerial` if there is none."""
        try:
            return self._by_serial[serial]
        except KeyError:
            raise UnknownSerial(f"no certificate with serial {serial:X} in the index") from None

    def add(self, entry: IndexEntry) -> Index:
        """A new index with ``entry`` appended; :class:`SerialInUse` if its serial is already there."""
        if entry.serial in self._by_serial:
            raise SerialInUse(f"serial {entry.serial:X} is already in the index; serials are never reused")
        return Index((*self._entries, entry))

    def revoke(self, serial: int, at: datetime.datetime, reason: x509.ReasonFlags) -> Index:
        """A new index with ``serial`` revoked at ``at`` for ``reason``."""
        entry = self.get(serial)
        if entry.revoked_at is not None:
            raise AlreadyRevoked(
                f"serial {serial:X} was already revoked on {entry.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
                f" ({reason_name(entry.reason or x509.ReasonFlags.unspecified)})"
            )
        changed = replace(entry, revoked_at=at.replace(microsecond=0), reason=reason)
        return Index(tuple(changed if e.serial == serial else e for e in self._entries))

    def revoked(self) -> list[IndexEntry]:
        """The revoked entries, in index order."""
        return [entry for entry in self._entries if entry.revoked]

    def dump(self) -> bytes:
        """The index as ``index.txt`` holds it (what :meth:`save` writes), one line per certificate."""
        return "".join(entry.line() for entry in self._entries).encode("utf-8")

    def save(self, path: Path) -> None:
        """Replace ``path`` with this index, atomically (``p11.pki.storage.atomic_write``)."""
        atomic_write(path, self.dump())
