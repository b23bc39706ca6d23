"""Certificate profiles: which extensions a certificate gets, decided by what it is for, not by what was asked.

=================  ====  =========  ====================  ===========================  ============
profile            CA    pathlen    extendedKeyUsage      keyUsage (critical)          SAN
=================  ====  =========  ====================  ===========================  ============
``root``           yes   as given   —                     keyCertSign, cRLSign,        —
                                                          digitalSignature
``intermediate``   yes   0          —                     same as root                 —
``server``         no    —          serverAuth            digitalSignature (+          required
                                                          keyEncipherment for RSA)
``client``         no    —          clientAuth            digitalSignature             optional
``code-signing``   no    —          codeSigning           digitalSignature             optional
=================  ====  =========  ====================  ===========================  ============

Every certificate gets basicConstraints (critical), subjectKeyIdentifier and authorityKeyIdentifier, and the CRL
distribution point and authorityInfoAccess URLs when the CA has them configured. A CSR's own extension requests are
not copied, with one exception: its subjectAltName, when no SAN is given explicitly. A CSR that asks for CA=true on
an end-entity profile is refused (:class:`~p11.pki.errors.ProfileViolation`), not silently downgraded: the request
was wrong, and its sender should know.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from p11.pki.errors import ProfileViolation

__all__ = [
    "CLIENT",
    "CODE_SIGNING",
    "INTERMEDIATE",
    "PROFILES",
    "ROOT",
    "SERVER",
    "Profile",
    "Urls",
    "build_extensions",
    "get_profile",
    "validity",
]


@dataclass(frozen=True)
class Profile:
    """What one kind of certificate is: a CA or not, its default path length, EKU, SAN rule and lifetime."""

    name: str
    ca: bool
    extended_key_usage: tuple[x509.ObjectIdentifier, ...] = ()
    path_length: int | None = None
    require_san: bool = False
    days: int = 397

    def check_key(self, public_key: Any) -> None:
        """A key this profile can certify: one that signs (RSA, EC, Ed25519, Ed448)."""
        if not isinstance(
            public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
        ):
            raise ProfileViolation(
                f"the {self.name} profile needs a signing key (RSA, EC, Ed25519, Ed448), not "
                f"{type(public_key).__name__}"
            )

    def key_usage(self, public_key: Any) -> x509.KeyUsage:
        """keyUsage for this profile and key: CAs sign certificates and CRLs; RSA servers may also decrypt."""
        encipher = self.name == "server" and isinstance(public_key, rsa.RSAPublicKey)  # TLS 1.2 RSA key exchange
        return x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=encipher,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=self.ca,
            crl_sign=self.ca,
            encipher_only=False,
            decipher_only=False,
        )


#: A self-signed root CA: ten years, no path length limit (``create_root`` sets one if asked).
ROOT: Final = Profile("root", ca=True, path_length=None, days=3650)
#: An intermediate (issuing) CA under a root: five years, path length 0 (it issues end-entity certificates only).
INTERMEDIATE: Final = Profile("intermediate", ca=True, path_length=0, days=1825)
#: A TLS server: ``serverAuth``, and a subject alternative name is required (browsers ignore the common name).
SERVER: Final = Profile("server", ca=False, extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,), require_san=True)
#: A TLS client (mutual TLS, a device's certificate): ``clientAuth``.
CLIENT: Final = Profile("client", ca=False, extended_key_usage=(ExtendedKeyUsageOID.CLIENT_AUTH,))
#: Code signing: ``codeSigning``.
CODE_SIGNING: Final = Profile("code-signing", ca=False, extended_key_usage=(ExtendedKeyUsageOID.CODE_SIGNING,))

#: Every profile by name (``code_signing`` is also accepted by :func:`get_profile`).
PROFILES: Final = {p.name: p for p in (ROOT, INTERMEDIATE, SERVER, CLIENT, CODE_SIGNING)}


def get_profile(profile: str | Profile) -> Profile:
    """The profile named ``profile`` (or ``profile`` itself); :class:`ProfileViolation` for an unknown name."""
    if isinstance(profile, Profile):
        return profile
    if not isinstance(profile, str):
        raise TypeError(f"a profile is a name or a Profile, not {type(profile).__name__}")
    found = PROFILES.get(profile.strip().lower().replace("_", "-"))
    if found is None:
        raise ProfileViolation(f"unknown profile {profile!r}; one of: {', '.join(PROFILES)}")
    return found


@dataclass(frozen=True)
class Urls:
    """Where relying parties find the CA's CRL, OCSP responder and certificate (RFC 5280 CRLDP and AIA)."""

    crl: tuple[str, ...] = ()
    ocsp: tuple[str, ...] = ()
    ca_issuers: tuple[str, ...] = ()


def _check_san(san: Sequence[x509.GeneralName], profile: Profile) -> None:
    if profile.require_san and not san:
        reason = f"the {profile.name} profile requires a subjectAltName (DNS names or IP addresses)"
        raise ProfileViolation(f"{reason}: put one in the CSR or pass san=[...]", reason=reason, parameter="san")


def build_extensions(
    profile: Profile,
    subject: x509.Name,
    public_key: Any,
    issuer_public_key: Any,
    *,
    san: Sequence[x509.GeneralName] = (),
    path_length: int | None = None,
    urls: Urls = Urls(),
) -> list[tuple[x509.ExtensionType, bool]]:
    """The extensions (with their critical flags) a certificate of ``profile`` gets; ``issuer_public_key`` is the
    signer's (the subject's own for a self-signed root)."""
    profile.check_key(public_key)
    _check_san(san, profile)
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=profile.ca, path_length=path_length if profile.ca else None), True),
        (profile.key_usage(public_key), True),
        (x509.SubjectKeyIdentifier.from_public_key(public_key), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), False),
    ]
    if profile.extended_key_usage:
        extensions.append((x509.ExtendedKeyUsage(list(profile.extended_key_usage)), False))
    if san:
        # RFC 5280 4.2.1.6: critical when the subject is empty, since then the SAN is the only identity.
        extensions.append((x509.SubjectAlternativeName(list(san)), len(subject) == 0))
    if urls.crl:
        points = [x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None) for u in urls.crl]
        extensions.append((x509.CRLDistributionPoints(points), False))
    access = [
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)) for u in urls.ocsp
    ] + [
        x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u))
        for u in urls.ca_issuers
    ]
    if access:
        extensions.append((x509.AuthorityInformationAccess(access), False))
    return extensions


def validity(
    profile: Profile, issuer: x509.Certificate | None, days: int | None, not_before: datetime.datetime | None
) -> tuple[datetime.datetime, datetime.datetime]:
    """(notBefore, notAfter): ``days`` (the profile's default if None) from ``not_before`` (default now), never
    past the issuer's own notAfter (a certificate cannot outlive the one that vouches for it)."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days <= 0):
        raise ValueError(f"days must be a positive int, got {days!r}")
    start = (not_before or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    end = start + datetime.timedelta(days=days or profile.days)
    if issuer is not None:
        end = min(end, issuer.not_valid_after_utc)
    if end <= start:
        raise ValueError("the certificate would expire before it becomes valid")
    return start, end
