"""Seed job 2, an HSM-backed CA in EC P-384 and SHA-512 with four ``p11`` commands (selfsign, req, issue, issue):
the chain passes ``openssl verify -CAfile root.pem -untrusted intermediate.pem server.pem``; and what issue
refuses."""

from __future__ import annotations

from cli_support import USER_PIN, openssl
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

PIN = {"P11_PIN": USER_PIN}


def test_root_intermediate_server_chain_verifies_with_openssl(cli, tmp_path):
    cli.new_token("ca")
    common = ("--token", "ca", "--hash", "sha512")
    root = cli.ok("selfsign", *common, "--label", "root", "--new-key", "ec:P-384", "--subject", "CN=Example Root CA",
                  "--days", "3650", "--out", "root.pem", "--json", env=PIN, cwd=tmp_path).json()
    assert root["subject"] == "CN=Example Root CA" and root["issuer"] == root["subject"]
    cli.ok("req", *common, "--label", "intermediate", "--new-key", "ec:P-384", "--subject",
           "CN=Example Intermediate CA", "--out", "intermediate.csr", env=PIN, cwd=tmp_path)
    cli.ok("issue", "intermediate.csr", *common, "--label", "root", "--profile", "intermediate",
           "--out", "intermediate.pem", env=PIN, cwd=tmp_path)  # the root's certificate is on the token (selfsign)
    made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout",
                   "server-key.pem", "-subj", "/CN=server.example", "-out", "server.csr", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    server = cli.ok("issue", "server.csr", *common, "--label", "intermediate", "--ca-cert", "intermediate.pem",
                    "--profile", "server", "--san", "DNS:server.example", "--out", "server.pem", "--json",
                    env=PIN, cwd=tmp_path).json()
    assert server["issuer"] == "CN=Example Intermediate CA"

    verified = openssl("verify", "-CAfile", "root.pem", "-untrusted", "intermediate.pem", "server.pem", cwd=tmp_path)
    assert verified.returncode == 0 and verified.stdout.strip() == "server.pem: OK", verified.stderr

    certs = {n: x509.load_pem_x509_certificate((tmp_path / f"{n}.pem").read_bytes())
             for n in ("root", "intermediate", "server")}
    for cert in certs.values():
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA512)
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    constraints = certs["intermediate"].extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    eku = certs["server"].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not certs["server"].extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    # What issue refuses, each in one line: a CSR whose signature does not verify, a server certificate without
    # a name, a CA certificate that is not the CA key's.
    der = x509.load_pem_x509_csr((tmp_path / "server.csr").read_bytes()).public_bytes(serialization.Encoding.DER)
    tampered = der.replace(b"server.example", b"server.exbmple")  # the signature no longer covers the subject
    assert tampered != der
    (tmp_path / "tampered.csr").write_bytes(tampered)
    bad = cli.run("issue", "tampered.csr", *common, "--label", "intermediate", "--ca-cert", "intermediate.pem",
                  "--san", "DNS:x", env=PIN, cwd=tmp_path)
    assert bad.code == 1 and len(bad.error_lines) == 1 and "signature does not verify" in bad.stderr
    nameless = cli.run("issue", "server.csr", *common, "--label", "intermediate", "--ca-cert", "intermediate.pem",
                       env=PIN, cwd=tmp_path)
    assert nameless.code == 2 and "needs a subjectAltName" in nameless.stderr and len(nameless.error_lines) == 1
    mismatch = cli.run("issue", "server.csr", *common, "--label", "intermediate", "--ca-cert", "root.pem",
                       "--san", "DNS:x", env=PIN, cwd=tmp_path)
    assert mismatch.code == 1 and "does not match the CA certificate" in mismatch.stderr
