"""What the ``p11.integrations`` tests share besides fixtures (conftest.py here): the keys they generate and a
software test CA."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from p11.api.session import Session
from p11.constants import KeyType
from p11.crypto import token_key

KEY_SPECS: dict[str, tuple[KeyType, dict[str, Any]]] = {
    "p256": (KeyType.EC, {"curve": "P-256"}),
    "p384": (KeyType.EC, {"curve": "P-384"}),
    "p521": (KeyType.EC, {"curve": "P-521"}),
    "rsa": (KeyType.RSA, {"bits": 2048}),
    "ed25519": (KeyType.EC_EDWARDS, {"curve": "ed25519"}),
    "ed448": (KeyType.EC_EDWARDS, {"curve": "ed448"}),
}


def generate(session: Session, name: str, **kw: Any) -> Any:
    """A key of ``KEY_SPECS[name]`` generated on the token (a session object), as a ``cryptography`` adapter."""
    key_type, spec = KEY_SPECS[name]
    spec = dict(spec)
    bits = spec.pop("bits", None)
    args = (key_type, bits) if bits else (key_type,)
    _, private = session.generate_keypair(*args, label=kw.pop("label", name), token=False, **spec, **kw)
    return token_key(private)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class TestCA:
    """A software root CA (P-256) issuing leaf certificates for token keys."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    cert: x509.Certificate = field(init=False)
    _serials: Iterator[int] = field(default_factory=lambda: itertools.count(2), repr=False)

    __test__ = False  # not a test class, whatever its name

    def __post_init__(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("p11 integrations test CA"))
            .issuer_name(_name("p11 integrations test CA"))
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue(
        self,
        public_key: Any,
        cn: str,
        *,
        usages: tuple[x509.ObjectIdentifier, ...] | None = None,
        san: list[x509.GeneralName] | None = None,
        non_repudiation: bool = False,
    ) -> x509.Certificate:
        """A one-day leaf for ``public_key``: digitalSignature (and nonRepudiation when asked), ``usages`` as its
        extendedKeyUsage (none when None), ``san`` as subjectAltName."""
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(next(self._serials))
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, non_repudiation, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if usages is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.key, hashes.SHA256())


SERVER_AUTH = (ExtendedKeyUsageOID.SERVER_AUTH,)
CLIENT_AUTH = (ExtendedKeyUsageOID.CLIENT_AUTH,)
