"""``CertificateAuthority``: a root or intermediate CA whose key stays on the token, kept in a directory.

Everything that changes the directory (issuing, revoking, signing a CRL) runs under the directory's lock
(:class:`~p11.pki.storage.DirectoryLock`) and in this order: read the index, check, sign on the token, write the
certificate file, then replace the index (:func:`~p11.pki.storage.atomic_write`). A request that fails a check
fails before anything is signed or written; a process killed at any point leaves the old index or the new one,
and at worst a certificate file that no index line names (never the other way round). Serials are drawn at random
(:mod:`p11.pki.serials`) and checked against the index read under the lock, so two processes never hand out the
same one.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from p11.api.objects import PrivateKey
from p11.crypto import token_key
from p11.errors import P11Error
from p11.opener import module_path_for
from p11.opener import open as open_uri
from p11.pki.chain import export_chain
from p11.pki.directory import SETTINGS_NAME, CADirectory, Settings
from p11.pki.errors import (
    IssuerNotValid,
    NotACertificateAuthority,
    PathLengthExceeded,
    ProfileViolation,
)
from p11.pki.index import Index, IndexEntry
from p11.pki.keys import (
    adopt_key,
    check_algorithm_hash,
    check_key_matches,
    generate_key_pair,
    hash_setting,
    signature_hash,
)
from p11.pki.profiles import INTERMEDIATE, ROOT, Profile, Urls, build_extensions, get_profile, validity
from p11.pki.requests import csr_san, load_csr, parse_name, parse_san
from p11.pki.revocation import build_crl, parse_reason
from p11.pki.serials import check_serial, random_serial
from p11.pki.storage import atomic_write
from p11.trust import AllowModules
from p11.uri import URI

if TYPE_CHECKING:
    from p11.api.session import Session
    from p11.crypto.keys import TokenPrivateKey

__all__ = ["CertificateAuthority"]

PathLike = str | Path
KeyRef = PrivateKey | URI | str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:X}"


def _constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _check_is_ca(cert: x509.Certificate) -> None:
    constraints = _constraints(cert)
    if constraints is None or not constraints.ca:
        raise NotACertificateAuthority(
            f"{_describe(cert)} is not a CA certificate (basicConstraints CA=true is missing): it cannot issue"
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise NotACertificateAuthority(f"{_describe(cert)}'s keyUsage does not allow keyCertSign: it cannot issue")


def _label_for(subject: x509.Name, label: str | None) -> str:
    if label is not None:
        return label
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common = names[0].value if names else "CA"
    return f"{common if isinstance(common, str) else 'CA'} key"


@contextlib.contextmanager
def _ca_key(
    session: Session,
    key: KeyRef | None,
    algorithm: str,
    subject: x509.Name,
    label: str | None,
    target: CADirectory,
) -> Iterator[PrivateKey]:
    """``key`` adopted from ``session``'s token, or a new ``algorithm`` key pair generated there for the CA being
    made in ``target``. A generated pair is destroyed again when the block fails before ``target`` holds the CA:
    nothing refers to it then, and a failed creation must not leave keys behind on the token."""
    if key is not None:
        yield adopt_key(session, key)
        return
    public, private = generate_key_pair(session, algorithm, _label_for(subject, label))
    try:
        yield private
    except BaseException:
        if not target.exists():
            for made in (private, public):
                with contextlib.suppress(P11Error):
                    made.destroy()
        raise


def _urls(crl_urls: Iterable[str], ocsp_urls: Iterable[str], ca_issuers_urls: Iterable[str]) -> Urls:
    for group in (crl_urls, ocsp_urls, ca_issuers_urls):
        if isinstance(group, str):
            raise TypeError("URLs are given as a list of strings, not one string")
    return Urls(tuple(crl_urls), tuple(ocsp_urls), tuple(ca_issuers_urls))


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: Any,
    serial: int,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder


class CertificateAuthority:
    """A CA: its certificate, the chain above it, its token key and its directory.

    Make one with :meth:`create_root`, :meth:`create_intermediate` or :meth:`open`; the constructor checks that the
    certificate is a CA certificate (:class:`~p11.pki.errors.NotACertificateAuthority`) and that the token key is its
    key (:class:`~p11.pki.errors.KeyMismatch`). The CA signs through the token session its key was found in: keep
    that session open while the CA is used.
    """

    def __init__(
        self,
        directory: PathLike,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        key_uri: URI,
        key: Any,
        settings: Settings,
        *,
        lock_timeout: float = 60.0,
    ) -> None:
        _check_is_ca(certificate)
        check_key_matches(key, certificate.public_key(), f"the CA certificate {_describe(certificate)}")
        self._dir = CADirectory(Path(directory))
        self._certificate = certificate
        self._above = list(chain)
        self._key_uri = key_uri
        self._key = key
        self._settings = settings
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"<CertificateAuthority {_describe(self._certificate)!r} in {str(self._dir.path)!r}>"

    # -- what it is ----------------------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The CA directory: certificate, chain, key URI, settings, index and CRL (``p11.pki.directory``)."""
        return self._dir.path

    @property
    def certificate(self) -> x509.Certificate:
        """This CA's certificate."""
        return self._certificate

    @property
    def chain(self) -> list[x509.Certificate]:
        """This CA's certificate and every one above it, the root last (a root CA's chain is itself)."""
        return [self._certificate, *self._above]

    @property
    def root(self) -> x509.Certificate:
        """The root certificate at the top of this CA's chain (this CA's own, for a root CA): what verifiers trust."""
        return self.chain[-1]

    @property
    def key_uri(self) -> URI:
        """The RFC 7512 URI of the CA's token key (no PIN, no module)."""
        return self._key_uri

    @property
    def key(self) -> Any:
        """The CA key as a ``cryptography`` private key that signs on the token."""
        return self._key

    @property
    def urls(self) -> Urls:
        """The CRL distribution point and AIA URLs put in the certificates this CA issues."""
        return self._settings.urls

    def chain_pem(self, leaf: x509.Certificate | None = None, *, include_root: bool = False) -> bytes:
        """A PEM bundle as a TLS peer sends it: ``leaf`` (if given), then this CA and the CAs above it, without the
        root unless ``include_root`` (relying parties have the root already)."""
        certs = ([leaf] if leaf is not None else []) + self.chain
        if not include_root and len(certs) > 1:
            certs = certs[:-1]
        return export_chain(certs)

    def index(self) -> Index:
        """The index as it is on disk now."""
        return Index.load(self._dir.index_path)

    def certificate_for(self, serial: int) -> x509.Certificate:
        """The issued certificate with ``serial`` (from ``certs/``)."""
        return self._dir.read_certificate(check_serial(serial))

    # -- making and opening ---------------------------------------------------------------------------------------

    @classmethod
    def create_root(
        cls,
        directory: PathLike,
        session: Session,
        subject: str | x509.Name,
        *,
        algorithm: str = "ec-p384",
        key: KeyRef | None = None,
        hash: str | None = None,
        days: int | None = None,
        path_length: int | None = None,
        label: str | None = None,
        crl_urls: Iterable[str] = (),
        ocsp_urls: Iterable[str] = (),
        ca_issuers_urls: Iterable[str] = (),
        not_before: datetime.datetime | None = None,
        lock_timeout: float = 60.0,
    ) -> CertificateAuthority:
        """A new self-signed root CA in ``directory`` (new or empty), its key generated on ``session``'s token
        (``algorithm``: ``ec-p256``/``ec-p384``/``ec-p521``/``rsa-3072``/``rsa-4096``/``ed25519``) or, with ``key``
        (a PrivateKey or its URI), an existing token key adopted. ``session`` must be logged in (and read-write to
        generate). The URLs go into the certificates this CA issues.

        The directory is made and locked before the key: of two creations at once, one wins and the other raises
        :class:`~p11.pki.errors.CADirectoryError` without having made a key. A key generated here is destroyed
        again if the creation fails."""
        name = parse_name(subject)
        hash_name = hash_setting(hash)
        if key is None:
            check_algorithm_hash(algorithm, hash_name)
        _check_path_length(path_length)
        urls = _urls(crl_urls, ocsp_urls, ca_issuers_urls)
        start, end = validity(ROOT, None, days, not_before)
        target = CADirectory(Path(directory))
        with target.creating(lock_timeout), _ca_key(session, key, algorithm, name, label, target) as private:
            signer = token_key(private)
            public = signer.public_key()
            extensions = build_extensions(ROOT, name, public, public, path_length=path_length)
            builder = _builder(name, name, public, random_serial(), start, end, extensions)
            certificate = builder.sign(signer, signature_hash(public, hash_name))
            settings = Settings(hash_name, urls, session.token.library.path)
            target.write_new(certificate, [], private.uri, settings)
        return cls(target.path, certificate, [], private.uri, signer, settings, lock_timeout=lock_timeout)

    def create_intermediate(
        self,
        directory: PathLike,
        session: Session | None,
        subject: str | x509.Name,
        *,
        algorithm: str = "ec-p384",
        key: KeyRef | None = None,
        hash: str | None = None,
        issuer_hash: str | None = None,
        days: int | None = None,
        path_length: int | None = 0,
        label: str | None = None,
        crl_urls: Iterable[str] = (),
        ocsp_urls: Iterable[str] = (),
        ca_issuers_urls: Iterable[str] = (),
        not_before: datetime.datetime | None = None,
    ) -> CertificateAuthority:
        """A new intermediate CA below this one, in its own ``directory``: key generated on ``session``'s token (or
        ``key`` adopted), certificate signed by this CA on the token and recorded in this CA's index. ``hash`` is
        what the new CA signs with; ``issuer_hash`` what this CA signs the new CA's certificate with (default: this
        CA's own). Refused before any key is made if this CA is not valid now, or a pathLenConstraint above leaves no
        room (:class:`~p11.pki.errors.PathLengthExceeded`); creation is exclusive and a generated key is destroyed
        again if it fails, as in :meth:`create_root`."""
        name = parse_name(subject)
        hash_name = hash_setting(hash)
        if key is None:
            check_algorithm_hash(algorithm, hash_name)
        signing_hash = self._signing_hash(issuer_hash)
        _check_path_length(path_length)
        urls = _urls(crl_urls, ocsp_urls, ca_issuers_urls)
        self._check_valid_now()
        self._check_room_for_ca(path_length)
        start, end = validity(INTERMEDIATE, self._certificate, days, not_before)
        target = CADirectory(Path(directory))
        if key is None and session is None:
            raise TypeError("create_intermediate needs a session to generate the key in, or key= to adopt one")
        if session is None and not isinstance(key, PrivateKey):
            raise TypeError("a key given by URI is looked up in a session: pass the session too")
        with target.creating(self.lock_timeout), contextlib.ExitStack() as stack:
            if session is not None:
                private = stack.enter_context(_ca_key(session, key, algorithm, name, label, target))
            else:
                assert isinstance(key, PrivateKey)
                private = key
            signer = token_key(private)
            public = signer.public_key()
            extensions = build_extensions(
                INTERMEDIATE, name, public, self._certificate.public_key(), path_length=path_length, urls=self.urls
            )
            certificate = self._sign_and_record(name, public, start, end, extensions, signing_hash)
            settings = Settings(hash_name, urls, private.session.token.library.path)
            target.write_new(certificate, self.chain, private.uri, settings)
        return CertificateAuthority(
            target.path, certificate, self.chain, private.uri, signer, settings, lock_timeout=self.lock_timeout
        )

    @classmethod
    def open(
        cls,
        directory: PathLike,
        *,
        session: Session | None = None,
        pin: str | bytes | None = None,
        module: str | None = None,
        allow_modules: AllowModules = None,
        lock_timeout: float = 60.0,
    ) -> CertificateAuthority:
        """The CA kept in ``directory``, its key found by the URI in ``key.uri``: in ``session`` when given (its
        token must be the one the URI names), else through :func:`p11.open` with ``pin`` in the module ``module``
        (the caller's choice), else the one ``key.uri`` names, else ``$P11_MODULE``, else the one recorded in
        ``ca.json`` (as :func:`p11.open` finds a module). What the directory names is data: such a module is loaded
        only if the caller trusts it (``p11.trust``; ``allow_modules`` adds to that), else
        :class:`p11.errors.UntrustedModule`. A wrong PIN raises :class:`p11.errors.PinIncorrect`, a missing token
        :class:`p11.errors.NoSuchToken`."""
        target = CADirectory(Path(directory))
        certificate, chain, key_uri, settings = target.read()
        _check_is_ca(certificate)  # before any login: a directory that cannot issue needs no PIN
        if session is not None:
            signer = token_key(adopt_key(session, key_uri))
        else:
            recorded = f"the module recorded in {str(target.path / SETTINGS_NAME)!r}"
            path = module_path_for(key_uri, module=module, default=settings.module, default_named_by=recorded,
                                   allow_modules=allow_modules)
            opened = open_uri(key_uri.replace(type="private"), pin=pin, module=path)
            # type=private: a token key's cryptography adapter, or the p11 key of a type cryptography has no
            # interface for (token_key says which).
            signer = token_key(opened) if isinstance(opened, PrivateKey) else cast("TokenPrivateKey", opened)
        return cls(target.path, certificate, chain, key_uri, signer, settings, lock_timeout=lock_timeout)

    # -- issuing ------------------------------------------------------------------------------------------------

    def issue(
        self,
        csr: x509.CertificateSigningRequest | bytes | str,
        profile: str | Profile = "server",
        *,
        days: int | None = None,
        san: Iterable[str | x509.GeneralName] | None = None,
        subject: str | x509.Name | None = None,
        path_length: int | None = 0,
        not_before: datetime.datetime | None = None,
        hash: str | None = None,
    ) -> x509.Certificate:
        """A certificate for the key in ``csr`` (PEM, DER or a CSR object; its signature is checked first), with the
        extensions of ``profile`` (``server``, ``client``, ``code-signing``, or ``intermediate`` for a CA whose key
        lives elsewhere). ``subject`` and ``san`` replace the CSR's; the SAN is otherwise taken from the CSR.
        ``days`` defaults to the profile's and never reaches past this CA's own notAfter. ``hash`` is the signature
        hash for this certificate (``sha256``/``sha384``/``sha512``; default: the CA's setting, else by its key;
        ValueError for an EdDSA CA, which signs without one).

        Refused, with nothing signed or recorded: a CSR that does not verify (:class:`CSRInvalid`), one asking for
        CA=true on an end-entity profile or lacking a SAN the profile requires (:class:`ProfileViolation`), this CA
        expired or not yet valid (:class:`IssuerNotValid`), no room under a pathLenConstraint
        (:class:`PathLengthExceeded`)."""
        request = load_csr(csr)
        chosen = get_profile(profile)
        signing_hash = self._signing_hash(hash)
        if chosen.name == ROOT.name:
            reason = "a root certificate is self-signed, not issued"
            raise ProfileViolation(
                f"{reason}: use CertificateAuthority.create_root", reason=reason, parameter="profile"
            )
        requested = _requested_constraints(request)
        if requested is not None and requested.ca and not chosen.ca:
            raise ProfileViolation(
                f"the CSR asks for a CA certificate (basicConstraints CA=true), which the {chosen.name} profile "
                "does not issue"
            )
        name = parse_name(subject) if subject is not None else request.subject
        names = parse_san(san) if san is not None else csr_san(request)
        public = request.public_key()
        chosen.check_key(public)
        self._check_valid_now()
        if chosen.ca:
            _check_path_length(path_length)
            self._check_room_for_ca(path_length)
        start, end = validity(chosen, self._certificate, days, not_before)
        extensions = build_extensions(
            chosen,
            name,
            public,
            self._certificate.public_key(),
            san=names,
            path_length=path_length if chosen.ca else None,
            urls=self.urls,
        )
        return self._sign_and_record(name, public, start, end, extensions, signing_hash)

    def _signing_hash(self, name: str | None) -> Any:
        """The hash to sign one certificate with: ``name``, else the CA's setting, else by key (ValueError when
        this CA's key takes no hash choice, or ``name`` is not a hash)."""
        return signature_hash(self._key.public_key(), hash_setting(name) or self._settings.hash)

    def _sign_and_record(
        self,
        subject: x509.Name,
        public_key: Any,
        start: datetime.datetime,
        end: datetime.datetime,
        extensions: Sequence[tuple[x509.ExtensionType, bool]],
        algorithm: Any,
    ) -> x509.Certificate:
        """Sign under the lock with a serial the index does not hold, write the certificate, then the index."""
        with self._dir.lock(self.lock_timeout):
            index = Index.load(self._dir.index_path)
            serial = random_serial()
            while serial in index:
                serial = random_serial()
            builder = _builder(subject, self._certificate.subject, public_key, serial, start, end, extensions)
            certificate = builder.sign(self._key, algorithm)
            updated = index.add(IndexEntry.for_certificate(certificate))
            self._dir.write_certificate(certificate)
            updated.save(self._dir.index_path)
        return certificate

    # -- revocation -----------------------------------------------------------------------------------------------

    def revoke(
        self,
        serial: int | x509.Certificate,
        reason: str | x509.ReasonFlags = "unspecified",
        *,
        at: datetime.datetime | None = None,
    ) -> IndexEntry:
        """Mark the certificate with ``serial`` revoked in the index (it appears on the next :meth:`crl`);
        :class:`UnknownSerial` if this CA did not issue it, :class:`AlreadyRevoked` if it already is."""
        number = serial.serial_number if isinstance(serial, x509.Certificate) else check_serial(serial)
        flag = parse_reason(reason)
        when = at or _now()
        with self._dir.lock(self.lock_timeout):
            updated = Index.load(self._dir.index_path).revoke(number, when, flag)
            updated.save(self._dir.index_path)
        return updated.get(number)

    def crl(self, *, days: int = 7, at: datetime.datetime | None = None) -> x509.CertificateRevocationList:
        """A new CRL of every certificate revoked so far, signed on the token, with the next CRL number and
        nextUpdate ``days`` ahead; also written to ``crl.pem`` in the directory."""
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise ValueError(f"days must be a positive int, got {days!r}")
        self._check_valid_now()
        this_update = (at or _now()).replace(microsecond=0)
        algorithm = self._signing_hash(None)
        with self._dir.lock(self.lock_timeout):
            revoked = [
                (entry.serial, entry.revoked_at, entry.reason or x509.ReasonFlags.unspecified)
                for entry in Index.load(self._dir.index_path).revoked()
                if entry.revoked_at is not None
            ]
            number = self._dir.next_crl_number()
            crl = build_crl(
                self._certificate,
                self._key,
                revoked,
                number=number,
                this_update=this_update,
                next_update=this_update + datetime.timedelta(days=days),
                algorithm=algorithm,
            )
            atomic_write(self._dir.crl_path, crl.public_bytes(serialization.Encoding.PEM))
        return crl

    # -- checks ---------------------------------------------------------------------------------------------------

    def _check_valid_now(self) -> None:
        now = _now()
        cert = self._certificate
        if now < cert.not_valid_before_utc:
            raise IssuerNotValid(
                f"the CA certificate {_describe(cert)} is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC: what it signed now would not verify"
            )
        if now > cert.not_valid_after_utc:
            raise IssuerNotValid(
                f"the CA certificate {_describe(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
            )

    def _check_room_for_ca(self, path_length: int | None) -> None:
        """A new CA below this one follows ``k + 1`` CAs after the k-th certificate of the chain (this CA is 0)."""
        room: int | None = None
        for k, cert in enumerate(self.chain):
            constraints = _constraints(cert)
            if constraints is None or constraints.path_length is None:
                continue
            left = constraints.path_length - (k + 1)
            if left < 0:
                raise PathLengthExceeded(
                    f"{_describe(cert)} has pathLenConstraint {constraints.path_length}: no CA may be made "
                    f"{k + 1} level(s) below it"
                )
            room = left if room is None else min(room, left)
        if room is not None and (path_length is None or path_length > room):
            asked = "no limit" if path_length is None else path_length
            reason = f"the new CA may have at most {room} CA(s) below it (pathLenConstraint above), not {asked}"
            raise PathLengthExceeded(
                f"{reason}: ask for path_length <= {room}", reason=reason, parameter="path_length"
            )


def _check_path_length(path_length: int | None) -> None:
    if path_length is None:
        return
    if isinstance(path_length, bool) or not isinstance(path_length, int) or path_length < 0:
        raise ValueError(f"path_length must be None or an int >= 0, got {path_length!r}")


def _requested_constraints(csr: x509.CertificateSigningRequest) -> x509.BasicConstraints | None:
    try:
        return csr.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
