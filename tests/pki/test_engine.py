"""Interop with the tools people already run a CA with: OpenSSL's ``pkcs11`` engine (Debian's
libengine-pkcs11-openssl) signs with a CA key p11 generated, and a key ``pkcs11-tool`` generated becomes a CA key by
its URI. The engine is configured through a private ``OPENSSL_CONF`` (fixture ``openssl_env``); this module has a
token of its own, because libp11 0.4.12 cannot enumerate a token holding an Ed25519 key (see test_pki_ca)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from p11.api.session import Session
from p11.constants import ObjectClass
from p11.crypto import export_public_key
from p11.pki import CertificateAuthority, load_csr
from p11.testing import SoftHSM
from tests.pki.helpers import PKIToken, TwoTierCA, csr_for, software_key, write_pems
from tests.support import USER_PIN, openssl

DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def spki(key: object) -> bytes:
    return key.public_bytes(DER, SPKI)  # type: ignore[attr-defined, no-any-return]


def test_openssl_req_signs_with_the_p11_generated_ca_key(
    pki_ca: TwoTierCA, openssl_env: dict[str, str], tmp_path: Path
) -> None:
    ca = pki_ca.intermediate
    engine_key = ("-engine", "pkcs11", "-keyform", "engine", "-key", f"{ca.key_uri}?pin-value=1234")
    made = openssl(
        "req", "-new", *engine_key, "-subj", "/CN=on the token", "-out", tmp_path / "req.pem", env=openssl_env
    )
    assert made.returncode == 0, made.stderr
    csr = load_csr((tmp_path / "req.pem").read_bytes())  # its signature verifies
    assert spki(csr.public_key()) == spki(ca.certificate.public_key())

    selfsigned = openssl(
        "req", "-new", "-x509", "-days", "1", *engine_key, "-subj", "/CN=x509", "-out", tmp_path / "x509.pem",
        env=openssl_env,
    )  # fmt: skip
    assert selfsigned.returncode == 0, selfsigned.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "x509.pem").read_bytes())
    cert.verify_directly_issued_by(cert)
    assert spki(cert.public_key()) == spki(ca.certificate.public_key())


def test_openssl_ca_reads_and_extends_the_same_index(
    pki_ca: TwoTierCA, openssl_env: dict[str, str], tmp_path: Path
) -> None:
    """``openssl ca -engine pkcs11`` signs with the CA's token key (by its URI) into the same directory; our index
    reads the line it appended, and our next issuance goes on from there."""
    ca = pki_ca.intermediate
    before = len(ca.index())
    (tmp_path / "req.pem").write_bytes(csr_for(software_key(), "CN=from openssl ca"))
    config = tmp_path / "ca.cnf"
    config.write_text(
        f"[ca]\ndefault_ca = p11\n[p11]\ndir = {ca.directory}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/certs\n"
        "certificate = $dir/ca.pem\nserial = $dir/serial\ndefault_md = sha256\ndefault_days = 30\n"
        "policy = anything\n[anything]\ncommonName = supplied\n",
        encoding="utf-8",
    )
    result = openssl(
        "ca", "-config", config, "-engine", "pkcs11", "-keyform", "engine",
        "-keyfile", f"{ca.key_uri}?pin-value=1234", "-rand_serial", "-batch", "-notext",
        "-in", tmp_path / "req.pem", "-out", tmp_path / "out.pem",
        env=openssl_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    made = x509.load_pem_x509_certificate((tmp_path / "out.pem").read_bytes())
    made.verify_directly_issued_by(ca.certificate)
    index = ca.index()
    assert len(index) == before + 1
    assert index.get(made.serial_number).subject == "/CN=from openssl ca"
    mine = ca.issue(csr_for(software_key(), "CN=after openssl"), "server")
    assert [e.serial for e in ca.index()][-2:] == [made.serial_number, mine.serial_number]


def test_a_pkcs11_tool_key_is_adopted_as_ca_key_by_uri(
    pki_token: PKIToken, pki_session: Session, softhsm: SoftHSM, tmp_path: Path
) -> None:
    made = subprocess.run(
        [
            "pkcs11-tool",
            "--module",
            softhsm.module_path,
            "--token-label",
            pki_token.label,
            "--login",
            "--pin",
            USER_PIN,
            "--keypairgen",
            "--key-type",
            "EC:secp384r1",
            "--label",
            "pkcs11-tool ca key",
            "--id",
            "c0ffee",
        ],
        capture_output=True,
        text=True,
        env=softhsm.env,
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    uri = f"pkcs11:token={pki_token.label};object=pkcs11-tool%20ca%20key"
    root = CertificateAuthority.create_root(tmp_path / "root", pki_session, "CN=adopted root", key=uri)

    public = pki_session.get_key(label="pkcs11-tool ca key", object_class=ObjectClass.PUBLIC_KEY)
    assert spki(root.certificate.public_key()) == spki(export_public_key(public))
    assert root.key_uri["id"] == bytes.fromhex("c0ffee")
    leaf = root.issue(csr_for(software_key()), "server")
    root_pem = write_pems(tmp_path / "root.pem", root.certificate)
    result = openssl("verify", "-CAfile", root_pem, write_pems(tmp_path / "leaf.pem", leaf))
    assert result.returncode == 0, result.stderr
    # and the adopted CA reopens from its directory like any other
    again = CertificateAuthority.open(root.directory, pin=USER_PIN)
    assert again.issue(csr_for(software_key()), "client").issuer == root.certificate.subject
