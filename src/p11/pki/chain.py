"""Certificate chains: a PEM bundle out, and :func:`verify_chain`, which checks what ``openssl verify`` checks.

:func:`verify_chain` builds a path from the leaf through the given intermediates to one of the given roots (by
issuer name, key identifiers and signature; more than one candidate issuer is tried in turn) and accepts it only
if, at ``at`` (default now):

* every signature verifies with its issuer's public key;
* every certificate is within its validity period (the root's included, as OpenSSL does);
* every issuer is a CA (basicConstraints CA=true) whose keyUsage, if present, allows keyCertSign;
* no pathLenConstraint is exceeded (counting non-self-issued intermediates below each CA);
* no certificate has a critical extension that is not understood;
* for a ``purpose`` (a profile name: ``server``, ``client``, ``code-signing``) the leaf's extendedKeyUsage names
  it, as does every CA's extendedKeyUsage where a CA has one, and the leaf's keyUsage allows digitalSignature;
* with ``crls``, the leaf is not on its issuer's CRL (a CRL for it must be there, as with
  ``openssl verify -crl_check``), and neither is any other certificate whose issuer's CRL is given. A CRL counts only
  if its signature verifies with the issuer's key and it is not past its nextUpdate.

It returns the path, leaf first and root last, or raises :class:`~p11.pki.errors.ChainInvalid` saying which check
failed on which certificate.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from p11.pki.errors import ChainInvalid
from p11.pki.profiles import get_profile

__all__ = ["export_chain", "load_certificates", "verify_chain"]

_MAX_DEPTH: Final = 10
_TIME: Final = "%Y-%m-%d %H:%M:%S UTC"
# Extensions verify_chain understands; any other marked critical makes a certificate unusable (RFC 5280 4.2).
_UNDERSTOOD: Final = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.CERTIFICATE_POLICIES,
    }
)


def export_chain(certificates: Iterable[x509.Certificate]) -> bytes:
    """The certificates as one PEM bundle, in the order given (a TLS chain: leaf first, then its issuers)."""
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, in order (ValueError if there is none)."""
    certificates = x509.load_pem_x509_certificates(data)
    return list(certificates)


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:X}"


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    ski = _extension(issuer, x509.SubjectKeyIdentifier)
    if (
        isinstance(aki, x509.AuthorityKeyIdentifier)
        and aki.key_identifier is not None
        and isinstance(ski, x509.SubjectKeyIdentifier)
        and aki.key_identifier != ski.digest
    ):
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _paths(
    cert: x509.Certificate, pool: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], depth: int
) -> Iterable[list[x509.Certificate]]:
    """Every path from ``cert`` to a root, ``cert`` first (depth-first, roots preferred at each step)."""
    if cert in roots:
        yield [cert]
        return
    if depth >= _MAX_DEPTH:
        return
    for issuer in [*(r for r in roots if _issued_by(cert, r)), *(c for c in pool if _issued_by(cert, c))]:
        if issuer == cert:
            continue
        for rest in _paths(issuer, [c for c in pool if c != issuer], roots, depth + 1):
            yield [cert, *rest]


def _check_time(cert: x509.Certificate, at: datetime.datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise ChainInvalid(f"{_name(cert)} is not yet valid (notBefore {cert.not_valid_before_utc:{_TIME}})", cert)
    if at > cert.not_valid_after_utc:
        raise ChainInvalid(f"{_name(cert)} has expired (notAfter {cert.not_valid_after_utc:{_TIME}})", cert)


def _check_critical(cert: x509.Certificate) -> None:
    for extension in cert.extensions:
        if extension.critical and extension.oid not in _UNDERSTOOD:
            raise ChainInvalid(f"{_name(cert)} has an unhandled critical extension {extension.oid.dotted_string}", cert)


def _check_ca(cert: x509.Certificate, below: int) -> None:
    """``cert`` may sign certificates, with ``below`` non-self-issued intermediates under it in this path."""
    constraints = _extension(cert, x509.BasicConstraints)
    if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
        raise ChainInvalid(f"{_name(cert)} is not a CA certificate (basicConstraints CA=true missing)", cert)
    usage = _extension(cert, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.key_cert_sign:
        raise ChainInvalid(f"{_name(cert)} is a CA whose keyUsage does not allow keyCertSign", cert)
    if constraints.path_length is not None and below > constraints.path_length:
        raise ChainInvalid(
            f"path length constraint exceeded: {_name(cert)} allows {constraints.path_length} intermediate CA(s) "
            f"below it, the path has {below}",
            cert,
        )


def _check_purpose(path: list[x509.Certificate], purpose: str) -> None:
    wanted = get_profile(purpose).extended_key_usage
    leaf = path[0]
    for position, cert in enumerate(path):
        eku = _extension(cert, x509.ExtendedKeyUsage)
        if eku is None and position > 0:
            continue  # a CA without EKU does not restrict
        names = list(eku) if isinstance(eku, x509.ExtendedKeyUsage) else []
        if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in names and position > 0:
            continue
        missing = [oid for oid in wanted if oid not in names]
        if missing:
            raise ChainInvalid(
                f"{_name(cert)} is not for {purpose}: extendedKeyUsage lacks {', '.join(oid._name for oid in missing)}",
                cert,
            )
    usage = _extension(leaf, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.digital_signature:
        raise ChainInvalid(f"{_name(leaf)}'s keyUsage does not allow digitalSignature, needed for {purpose}", leaf)


CRLs = Sequence[x509.CertificateRevocationList]


def _crl_for(issuer: x509.Certificate, crls: CRLs, at: datetime.datetime) -> x509.CertificateRevocationList | None:
    for crl in crls:
        if crl.issuer != issuer.subject:
            continue
        if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            continue
        next_update = crl.next_update_utc
        if next_update is not None and at > next_update:
            raise ChainInvalid(f"the CRL of {_name(issuer)} has expired (nextUpdate {next_update:{_TIME}})", issuer)
        return crl
    return None


def _check_revocation(path: list[x509.Certificate], crls: CRLs, at: datetime.datetime) -> None:
    for position, cert in enumerate(path[:-1]):
        issuer = path[position + 1]
        crl = _crl_for(issuer, crls, at)
        if crl is None:
            if position == 0:
                raise ChainInvalid(f"no valid CRL from {_name(issuer)} to check {_name(cert)} against", cert)
            continue
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise ChainInvalid(f"{_name(cert)} (serial {cert.serial_number:X}) has been revoked", cert)


def _check_path(
    path: list[x509.Certificate],
    at: datetime.datetime,
    purpose: str | None,
    crls: Sequence[x509.CertificateRevocationList],
) -> None:
    below = 0
    for position, cert in enumerate(path):
        _check_time(cert, at)
        _check_critical(cert)
        if position > 0:
            _check_ca(cert, below)
            if not _self_issued(cert) and position < len(path) - 1:
                below += 1
    if purpose is not None:
        _check_purpose(path, purpose)
    if crls:
        _check_revocation(path, crls, at)


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Iterable[x509.Certificate] = (),
    roots: Iterable[x509.Certificate] = (),
    *,
    purpose: str | None = None,
    at: datetime.datetime | None = None,
    crls: Iterable[x509.CertificateRevocationList] = (),
) -> list[x509.Certificate]:
    """The verified path from ``leaf`` to one of ``roots`` (leaf first); :class:`ChainInvalid` if there is none.
    See the module docstring for the checks."""
    root_list = list(roots)
    if not root_list:
        raise ValueError("verify_chain needs at least one trusted root certificate")
    when = at or datetime.datetime.now(datetime.UTC)
    if when.tzinfo is None:
        raise ValueError("at must be timezone-aware (datetime.UTC)")
    if purpose is not None:
        get_profile(purpose)
    crl_list = list(crls)
    first_error: ChainInvalid | None = None
    for path in _paths(leaf, [c for c in intermediates if c not in root_list], root_list, 0):
        try:
            _check_path(path, when, purpose, crl_list)
        except ChainInvalid as exc:
            first_error = first_error or exc
            continue
        return path
    if first_error is not None:
        raise first_error
    raise ChainInvalid(
        f"no path from {_name(leaf)} to a trusted root: its issuer {leaf.issuer.rfc4514_string()!r} "
        "is not among the intermediates and roots given, or no signature verifies",
        leaf,
    )
