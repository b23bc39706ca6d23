"""Seed job 2, an HSM-backed CA in EC P-384 and SHA-512 with three ``p11`` commands on :mod:`p11.pki` (selfsign,
issue --new-ca-dir, issue a server CSR): the chain passes ``openssl verify -CAfile root.pem -untrusted
intermediate.pem server.pem``; ``req`` makes a CSR from a token key; and what issue refuses."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.support import openssl
from tests.support.cli import PIN_ENV


def test_root_intermediate_server_chain_verifies_with_openssl(cli, tmp_path):
    cli.new_token("ca")
    root = cli.ok("selfsign", "--ca-dir", "root-ca", "--token", "ca", "--label", "root", "--new-key", "ec-p384",
                  "--hash", "sha512", "--subject", "CN=Example Root CA", "--out", "root.pem", "--json",
                  env=PIN_ENV, cwd=tmp_path).json()
    assert root["subject"] == "CN=Example Root CA" and root["issuer"] == root["subject"]
    assert root["key"].startswith("pkcs11:token=ca;") and "object=root" in root["key"]
    assert (tmp_path / "root-ca").is_dir()
    cli.ok("issue", "--ca-dir", "root-ca", "--profile", "intermediate", "--new-ca-dir", "issuing-ca", "--token", "ca",
           "--label", "intermediate", "--new-key", "ec-p384", "--hash", "sha512", "--subject",
           "CN=Example Intermediate CA", "--out", "intermediate.pem", env=PIN_ENV, cwd=tmp_path)
    made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout",
                   "server-key.pem", "-subj", "/CN=server.example", "-out", "server.csr", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    server = cli.ok("issue", "server.csr", "--ca-dir", "issuing-ca", "--profile", "server", "--san",
                    "DNS:server.example", "--out", "server.pem", "--json", env=PIN_ENV, cwd=tmp_path).json()
    assert server["issuer"] == "CN=Example Intermediate CA"

    verified = openssl("verify", "-CAfile", "root.pem", "-untrusted", "intermediate.pem", "server.pem", cwd=tmp_path)
    assert verified.returncode == 0 and verified.stdout.strip() == "server.pem: OK", verified.stderr

    certs = {n: x509.load_pem_x509_certificate((tmp_path / f"{n}.pem").read_bytes())
             for n in ("root", "intermediate", "server")}
    for cert in certs.values():
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA512)
    for name in ("root", "intermediate"):
        key = certs[name].public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    constraints = certs["intermediate"].extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    eku = certs["server"].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]

    # req: a device key made on the token and its CSR, issued under the client profile, verifies in the chain.
    csr = cli.ok("req", "--token", "ca", "--label", "device", "--new-key", "ec-p256", "--subject", "CN=device-7",
                 "--out", "device.csr", "--json", env=PIN_ENV, cwd=tmp_path).json()
    assert csr["subject"] == "CN=device-7" and "object=device" in csr["key"]
    cli.ok("issue", "device.csr", "--ca-dir", "issuing-ca", "--profile", "client", "--out", "device.pem", env=PIN_ENV,
           cwd=tmp_path)
    client = openssl("verify", "-CAfile", "root.pem", "-untrusted", "intermediate.pem", "-purpose", "sslclient",
                     "device.pem", cwd=tmp_path)
    assert client.returncode == 0, client.stdout + client.stderr

    # What issue refuses, each in one line: a CSR whose signature does not verify, a server certificate without
    # a name, an unknown CA directory.
    der = x509.load_pem_x509_csr((tmp_path / "server.csr").read_bytes()).public_bytes(serialization.Encoding.DER)
    tampered = der.replace(b"server.example", b"server.exbmple")  # the signature no longer covers the subject
    assert tampered != der
    (tmp_path / "tampered.csr").write_bytes(tampered)
    bad = cli.run("issue", "tampered.csr", "--ca-dir", "issuing-ca", "--san", "DNS:x", env=PIN_ENV, cwd=tmp_path)
    assert bad.code == 1 and len(bad.error_lines) == 1 and "signature does not verify" in bad.stderr
    nameless = cli.run("issue", "server.csr", "--ca-dir", "issuing-ca", env=PIN_ENV, cwd=tmp_path)
    assert nameless.code in (1, 2) and len(nameless.error_lines) == 1 and "subjectAltName" in nameless.stderr
    missing = cli.run("issue", "server.csr", "--ca-dir", "no-such-ca", env=PIN_ENV, cwd=tmp_path)
    assert missing.code == 1 and len(missing.error_lines) == 1 and "no-such-ca" in missing.stderr
