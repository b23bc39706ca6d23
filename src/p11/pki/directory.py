"""The CA directory: what a CA keeps between runs, and where.

::

    DIR/
      ca.pem            the CA's certificate
      chain.pem         the certificates above it, nearest first, root last (empty for a root CA)
      key.uri           the RFC 7512 URI of its key on the token (never a PIN)
      ca.json           settings: signature hash, CRL/OCSP/CA-issuer URLs, the module path last used
      index.txt         issued certificates, OpenSSL's format (:mod:`p11.pki.index`)
      index.txt.attr    ``unique_subject = no``, so ``openssl ca`` accepts the directory as it is
      crlnumber         the number of the next CRL, hex (as ``openssl ca`` keeps it)
      certs/SERIAL.pem  every issued certificate
      crl.pem           the last CRL signed
      .lock             the lock every change is made under (:class:`p11.pki.storage.DirectoryLock`)

Every file is written with :func:`~p11.safewrite.atomic_write`. A new CA directory is made under its lock
(:meth:`CADirectory.creating`: the "is it new?" check is repeated once the lock is held, so of two creators at once
exactly one gets the directory and the other :class:`CADirectoryError` before it has made a key), and written file by
file with ``ca.pem`` last: a directory without ``ca.pem`` is an interrupted creation, which :meth:`CADirectory.read`
refuses and a later creation may overwrite.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from p11.pki.chain import export_chain, load_certificates
from p11.pki.errors import CADirectoryError
from p11.pki.index import INDEX_NAME
from p11.pki.profiles import Urls
from p11.pki.storage import LOCK_NAME, DirectoryLock, atomic_write
from p11.uri import URI, URIError

__all__ = ["CADirectory", "Settings"]

CERT_NAME: Final = "ca.pem"
CHAIN_NAME: Final = "chain.pem"
KEY_URI_NAME: Final = "key.uri"
SETTINGS_NAME: Final = "ca.json"
CRL_NAME: Final = "crl.pem"
CRL_NUMBER_NAME: Final = "crlnumber"
CERTS_DIR: Final = "certs"
_FORMAT: Final = 1


@dataclass(frozen=True)
class Settings:
    """What ``ca.json`` holds: the signature hash (None: by key), the URLs put in issued certificates, and the
    module the CA's token was last opened through (a path; a hint for :meth:`p11.pki.CertificateAuthority.open`)."""

    hash: str | None = None
    urls: Urls = field(default_factory=Urls)
    module: str | None = None

    def dump(self) -> bytes:
        data = {
            "format": _FORMAT,
            "hash": self.hash,
            "crl_urls": list(self.urls.crl),
            "ocsp_urls": list(self.urls.ocsp),
            "ca_issuers_urls": list(self.urls.ca_issuers),
            "module": self.module,
        }
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes, where: Path) -> Settings:
        try:
            raw: Any = json.loads(data)
            if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
                raise ValueError(f"not a format {_FORMAT} settings file")
            urls = Urls(*(tuple(_strings(raw, name)) for name in ("crl_urls", "ocsp_urls", "ca_issuers_urls")))
            hash_name = raw.get("hash")
            module = raw.get("module")
            if not isinstance(hash_name, str | None) or not isinstance(module, str | None):
                raise ValueError("hash and module must be strings or null")
        except ValueError as exc:
            raise CADirectoryError(f"{where}: {exc}") from None
        return cls(hash_name, urls, module)


def _strings(raw: dict[str, Any], name: str) -> list[str]:
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of strings")
    return value


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CADirectory:
    """A CA directory's paths, and reading and writing the files that do not change while the CA issues."""

    path: Path

    @property
    def index_path(self) -> Path:
        return self.path / INDEX_NAME

    @property
    def crl_path(self) -> Path:
        return self.path / CRL_NAME

    @property
    def crl_number_path(self) -> Path:
        return self.path / CRL_NUMBER_NAME

    def cert_path(self, serial: int) -> Path:
        """Where the certificate with ``serial`` is kept (``certs/<HEX>.pem``, as ``openssl ca`` names it)."""
        text = f"{serial:X}"
        return self.path / CERTS_DIR / f"{'0' * (len(text) % 2)}{text}.pem"

    def check_new(self) -> None:
        """:class:`CADirectoryError` unless ``path`` is missing, empty, or an interrupted creation (no ``ca.pem``)."""
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise CADirectoryError(f"{self.path} is not a directory")
        if self.exists():
            raise CADirectoryError(f"{self.path} already holds a CA ({CERT_NAME}): a new CA needs its own directory")
        leftovers = {p.name for p in self.path.iterdir() if not p.name.startswith(".")} - {
            CHAIN_NAME,
            KEY_URI_NAME,
            SETTINGS_NAME,
            INDEX_NAME,
            "index.txt.attr",
            CRL_NUMBER_NAME,
            CERTS_DIR,
            LOCK_NAME,
        }
        if leftovers:
            raise CADirectoryError(
                f"{self.path} is not empty ({', '.join(sorted(leftovers)[:5])}): a new CA needs a directory of its own"
            )
        if (self.path / CERTS_DIR).is_dir() and any((self.path / CERTS_DIR).iterdir()):
            raise CADirectoryError(f"{self.path / CERTS_DIR} holds certificates: not a new CA directory")

    def lock(self, timeout: float = 60.0) -> DirectoryLock:
        """The directory's lock; its holder tidies up what a killed writer left (here and in ``certs/``)."""
        return DirectoryLock(self.path, timeout, tidy=[self.path / CERTS_DIR])

    @contextlib.contextmanager
    def creating(self, timeout: float = 60.0) -> Iterator[None]:
        """``with directory.creating():`` the directory, made if missing, locked and checked to be new
        (:meth:`check_new`, before and again under the lock); make the key and certificate, then :meth:`write_new`,
        inside it. A second creator waits for the lock and then fails the check: one creation wins."""
        self.check_new()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise CADirectoryError(f"{self.path} is not a directory") from None
        with self.lock(timeout):
            self.check_new()
            yield

    def create(
        self, certificate: x509.Certificate, chain: list[x509.Certificate], key_uri: URI, settings: Settings
    ) -> None:
        """A new CA directory for a certificate and key made already: :meth:`write_new` inside :meth:`creating`."""
        with self.creating():
            self.write_new(certificate, chain, key_uri, settings)

    def write_new(
        self, certificate: x509.Certificate, chain: list[x509.Certificate], key_uri: URI, settings: Settings
    ) -> None:
        """Write a new CA directory's files, ``ca.pem`` last; only inside :meth:`creating`."""
        (self.path / CERTS_DIR).mkdir(exist_ok=True)
        atomic_write(self.path / SETTINGS_NAME, settings.dump())
        atomic_write(self.path / KEY_URI_NAME, (str(key_uri) + "\n").encode("utf-8"))
        atomic_write(self.path / CHAIN_NAME, export_chain(chain))
        atomic_write(self.index_path, b"")
        atomic_write(self.path / "index.txt.attr", b"unique_subject = no\n")
        atomic_write(self.crl_number_path, b"01\n")
        atomic_write(self.path / CERT_NAME, _pem(certificate))

    def _read(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            if not self.path.is_dir():
                raise CADirectoryError(f"no CA directory at {self.path}") from None
            raise CADirectoryError(f"{self.path} is not a complete CA directory: {name} is missing") from None

    def read(self) -> tuple[x509.Certificate, list[x509.Certificate], URI, Settings]:
        """(certificate, chain above it, key URI, settings); :class:`CADirectoryError` if anything is missing."""
        cert_data = self._read(CERT_NAME)
        try:
            certificate = x509.load_pem_x509_certificate(cert_data)
        except ValueError as exc:
            raise CADirectoryError(f"{self.path / CERT_NAME}: not a PEM certificate ({exc})") from None
        chain_data = self._read(CHAIN_NAME)
        try:
            chain = load_certificates(chain_data) if chain_data.strip() else []
        except ValueError as exc:
            raise CADirectoryError(f"{self.path / CHAIN_NAME}: not a PEM bundle ({exc})") from None
        text = self._read(KEY_URI_NAME).decode("utf-8", "replace").strip()
        try:
            key_uri = URI.parse(text)
        except URIError as exc:
            raise CADirectoryError(f"{self.path / KEY_URI_NAME}: not a PKCS #11 URI ({exc})") from None
        if "pin-value" in key_uri:
            raise CADirectoryError(f"{self.path / KEY_URI_NAME} holds a PIN: remove pin-value from it")
        settings = Settings.parse(self._read(SETTINGS_NAME), self.path / SETTINGS_NAME)
        return certificate, chain, key_uri, settings

    def write_settings(self, settings: Settings) -> None:
        atomic_write(self.path / SETTINGS_NAME, settings.dump())

    def write_certificate(self, certificate: x509.Certificate) -> None:
        atomic_write(self.cert_path(certificate.serial_number), _pem(certificate))

    def read_certificate(self, serial: int) -> x509.Certificate:
        path = self.cert_path(serial)
        try:
            return x509.load_pem_x509_certificate(path.read_bytes())
        except FileNotFoundError:
            raise CADirectoryError(f"no certificate file {path}") from None

    def next_crl_number(self) -> int:
        """The CRL number to use now, after moving ``crlnumber`` past it (so a crash never reuses one)."""
        try:
            text = self.crl_number_path.read_text("ascii").strip()
            number = int(text, 16) if text else 1
        except FileNotFoundError:
            number = 1
        except ValueError:
            raise CADirectoryError(f"{self.crl_number_path}: not a hex number") from None
        following = f"{number + 1:X}"
        atomic_write(self.crl_number_path, (("0" * (len(following) % 2)) + following + "\n").encode("ascii"))
        return number

    def exists(self) -> bool:
        """Whether the directory holds a CA (its ``ca.pem``: written last, so only a finished creation has it)."""
        return (self.path / CERT_NAME).exists()
