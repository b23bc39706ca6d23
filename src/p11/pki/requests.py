"""Certificate signing requests and the names in them: make one, read one, check its signature.

:func:`make_csr` signs a CSR with any ``cryptography`` private key — a software key, or a token key from
:func:`p11.crypto.token_key` (then the CSR is signed on the token). :func:`load_csr` reads PEM or DER and checks the
CSR's self-signature before anything else looks at it: a CSR whose signature does not verify was altered, or its
sender does not hold the key, and a CA must not certify it (:class:`~p11.pki.errors.CSRInvalid`).

Names are written as RFC 4514 strings (``CN=www.example.com,O=Example``, most significant last) or in OpenSSL's
slash form (``/O=Example/CN=www.example.com``); subjectAltName entries as ``DNS:host``, ``IP:192.0.2.1``,
``email:a@example.com``, ``URI:https://...``, or bare (an IP address, something with ``@``, something with ``://``,
else a DNS name).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from cryptography import x509

from p11.pki.errors import CSRInvalid
from p11.pki.keys import signature_hash

__all__ = ["csr_san", "load_csr", "make_csr", "parse_name", "parse_san"]


def parse_name(subject: str | x509.Name) -> x509.Name:
    """An ``x509.Name`` from RFC 4514 text or OpenSSL's ``/A=b/C=d`` form (or a Name, returned as it is)."""
    if isinstance(subject, x509.Name):
        return subject
    if not isinstance(subject, str):
        raise TypeError(f"a subject is a str or x509.Name, not {type(subject).__name__}")
    text = subject.strip()
    if text.startswith("/"):
        # OpenSSL's form lists the most significant RDN first; RFC 4514 lists it last.
        parts = [part for part in text.split("/") if part]
        text = ",".join(part.replace(",", "\\,") for part in reversed(parts))
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise ValueError(f"cannot read subject {subject!r}: {exc}") from None


def _general_name(value: str | x509.GeneralName) -> x509.GeneralName:
    if isinstance(value, x509.GeneralName):
        return value
    if not isinstance(value, str):
        raise TypeError(f"a subjectAltName entry is a str or x509.GeneralName, not {type(value).__name__}")
    kind, sep, rest = value.partition(":")
    kind_l = kind.strip().lower()
    if sep and kind_l in ("dns", "ip", "email", "uri"):
        rest = rest.strip()
        if kind_l == "dns":
            return x509.DNSName(rest)
        if kind_l == "ip":
            try:
                return x509.IPAddress(ipaddress.ip_address(rest))
            except ValueError:
                raise ValueError(f"subjectAltName {value!r}: not an IP address") from None
        if kind_l == "email":
            return x509.RFC822Name(rest)
        return x509.UniformResourceIdentifier(rest)
    text = value.strip()
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass
    if "://" in text:
        return x509.UniformResourceIdentifier(text)
    if "@" in text:
        return x509.RFC822Name(text)
    if not text:
        raise ValueError("an empty subjectAltName entry")
    return x509.DNSName(text)


def parse_san(values: Iterable[str | x509.GeneralName]) -> list[x509.GeneralName]:
    """subjectAltName entries from text (see the module docstring) or ``GeneralName`` objects."""
    if isinstance(values, str):
        raise TypeError("san is a list of entries, not one string (write san=['www.example.com'])")
    return [_general_name(value) for value in values]


def make_csr(
    key: Any,
    subject: str | x509.Name,
    *,
    san: Iterable[str | x509.GeneralName] = (),
    hash: str | None = None,
) -> x509.CertificateSigningRequest:
    """A CSR for ``key``'s public key, signed with ``key`` (software or token), asking for ``subject`` and ``san``.

    ``hash`` is ``"sha256"``/``"sha384"``/``"sha512"`` (default: by key, see :func:`p11.pki.keys.signature_hash`).
    """
    builder = x509.CertificateSigningRequestBuilder().subject_name(parse_name(subject))
    names = parse_san(san)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, signature_hash(key.public_key(), hash))


def load_csr(csr: x509.CertificateSigningRequest | bytes | str) -> x509.CertificateSigningRequest:
    """A CSR from PEM or DER (or a CSR object), whose signature has been checked: :class:`CSRInvalid` if it cannot
    be read or does not verify with its own public key."""
    if isinstance(csr, str):
        csr = csr.encode("ascii", "replace")
    if isinstance(csr, bytes | bytearray | memoryview):
        data = bytes(csr)
        try:
            csr = x509.load_pem_x509_csr(data) if data.lstrip().startswith(b"-----") else x509.load_der_x509_csr(data)
        except ValueError as exc:
            raise CSRInvalid(f"not a certificate signing request (PEM or DER): {exc}") from None
    if not isinstance(csr, x509.CertificateSigningRequest):
        raise TypeError(f"a CSR is PEM/DER bytes or an x509.CertificateSigningRequest, not {type(csr).__name__}")
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # an unsupported signature algorithm or key: not verifiable, so not valid
        raise CSRInvalid(f"the CSR's signature cannot be checked: {exc}") from None
    if not valid:
        raise CSRInvalid(
            "the CSR's signature does not verify with its own public key: it was altered, or its sender does not "
            "hold the private key"
        )
    return csr


def csr_san(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    """The subjectAltName entries a CSR asks for (none if it has no such extension request)."""
    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(extension.value)
