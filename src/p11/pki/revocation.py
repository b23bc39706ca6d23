"""Revocation reasons and the CRL: what ``CertificateAuthority.revoke`` records and ``.crl()`` signs.

Reasons are named as OpenSSL names them in ``index.txt`` and ``openssl ca -crl_reason`` (``keyCompromise``,
``superseded`` …), so the index stays readable by ``openssl ca``; ``cryptography``'s ``x509.ReasonFlags`` members
and their names (``key_compromise``) are accepted too. ``certificateHold`` and the attribute-authority reasons are
left out: OpenSSL's index cannot record a hold instruction, and this CA issues no attribute certificates.

A CRL (RFC 5280 section 5) carries the CRL number and the issuer's authority key identifier, lists every revoked
serial with its date and a reasonCode entry extension (left out for ``unspecified``, as section 5.3.1 asks), and
is signed on the token with the CA's key.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any, Final

from cryptography import x509

__all__ = ["REASON_NAMES", "build_crl", "parse_reason", "reason_name"]

#: OpenSSL's name for each revocation reason this CA records.
REASON_NAMES: Final[Mapping[x509.ReasonFlags, str]] = {
    x509.ReasonFlags.unspecified: "unspecified",
    x509.ReasonFlags.key_compromise: "keyCompromise",
    x509.ReasonFlags.ca_compromise: "CACompromise",
    x509.ReasonFlags.affiliation_changed: "affiliationChanged",
    x509.ReasonFlags.superseded: "superseded",
    x509.ReasonFlags.cessation_of_operation: "cessationOfOperation",
}
_BY_NAME: Final = {name.lower(): flag for flag, name in REASON_NAMES.items()} | {
    flag.name.lower(): flag for flag in REASON_NAMES
}


def parse_reason(reason: str | x509.ReasonFlags) -> x509.ReasonFlags:
    """The reason named ``reason`` (OpenSSL's name, any case, or a ``ReasonFlags`` member or value)."""
    if isinstance(reason, x509.ReasonFlags):
        flag = reason
    elif isinstance(reason, str):
        found = _BY_NAME.get(reason.strip().lower())
        if found is None:
            raise ValueError(f"unknown revocation reason {reason!r}; one of: {', '.join(REASON_NAMES.values())}")
        flag = found
    else:
        raise TypeError(f"a revocation reason is a str or x509.ReasonFlags, not {type(reason).__name__}")
    if flag not in REASON_NAMES:
        raise ValueError(
            f"revocation reason {flag.value!r} is not recorded by this CA; one of: {', '.join(REASON_NAMES.values())}"
        )
    return flag


def reason_name(reason: x509.ReasonFlags) -> str:
    """OpenSSL's name for ``reason``."""
    return REASON_NAMES[reason]


def build_crl(
    issuer: x509.Certificate,
    key: Any,
    revoked: Iterable[tuple[int, datetime.datetime, x509.ReasonFlags]],
    *,
    number: int,
    this_update: datetime.datetime,
    next_update: datetime.datetime,
    algorithm: Any,
) -> x509.CertificateRevocationList:
    """A CRL of ``revoked`` (serial, revocation date, reason) signed by ``key`` (the issuer's, on the token)."""
    if next_update <= this_update:
        raise ValueError("a CRL's nextUpdate must be after its thisUpdate")
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:  # an adopted CA certificate without SKI: derive the identifier from its key
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(aki, critical=False)
    )
    for serial, when, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason != x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key, algorithm)
