"""Helpers for the ``p11.pki`` tests (fixtures are in ``pki_fixtures.py``): software keys and CSRs made as a web
server makes them, PEM files, and ``openssl``/``python`` children."""

from __future__ import annotations

import subprocess
import sys
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

USER_PIN = "1234"


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


def openssl(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``openssl`` (never through a shell), capturing its output."""
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=120
    )


def openssl_verify(root: Path, untrusted: Path, leaf: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    return openssl("verify", "-CAfile", root, "-untrusted", untrusted, *extra, leaf)


def python(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a child interpreter (this venv's), capturing its output."""
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=False, timeout=300
    )
