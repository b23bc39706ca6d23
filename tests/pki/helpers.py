"""Helpers of the ``p11.pki`` tests (fixtures are in conftest.py here): software keys and CSRs made as a web server
makes them, PEM files, ``openssl verify``."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from p11.api.library import Library
from p11.api.session import Session
from p11.pki import CertificateAuthority, export_chain, make_csr
from tests.support import openssl


@dataclass
class PKIToken:
    library: Library
    label: str
    session: Session


@dataclass
class TwoTierCA:
    root: CertificateAuthority
    intermediate: CertificateAuthority


def software_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_for(key: Any, subject: str = "CN=localhost", san: Sequence[str] = ("localhost", "127.0.0.1")) -> bytes:
    """A PEM CSR signed by ``key``, as a server (or client) makes it."""
    return make_csr(key, subject, san=san).public_bytes(serialization.Encoding.PEM)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_pems(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(export_chain(certs))
    return path


def openssl_verify(root: Path, untrusted: Path, leaf: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    return openssl("verify", "-CAfile", root, "-untrusted", untrusted, *extra, leaf)

