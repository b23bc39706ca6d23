"""p11.pki end to end on SoftHSM: roots and intermediates for every key algorithm, issuing under each profile,
chains checked by ``openssl verify``, ``cryptography``'s verifier and ``verify_chain``; revocation and CRLs; the CA
directory reopened from disk."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from p11.api.session import Session
from p11.pki import (
    AlreadyRevoked,
    CertificateAuthority,
    ChainInvalid,
    Index,
    UnknownSerial,
    load_certificates,
    verify_chain,
)
from tests.pki.helpers import TwoTierCA, csr_for, openssl_verify, software_key, write_pems
from tests.support import USER_PIN

ALGORITHMS = {
    "ec-p256": (ec.EllipticCurvePublicKey, "sha256"),
    "ec-p384": (ec.EllipticCurvePublicKey, "sha384"),
    "ec-p521": (ec.EllipticCurvePublicKey, "sha512"),
    "rsa-3072": (rsa.RSAPublicKey, "sha256"),
    "rsa-4096": (rsa.RSAPublicKey, "sha256"),
    "ed25519": (ed25519.Ed25519PublicKey, None),
}


def ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_two_tier_ca_for_each_key_algorithm_passes_openssl_and_verify_chain(
    algorithm: str, pki_session: Session, tmp_path: Path
) -> None:
    key_class, hash_name = ALGORITHMS[algorithm]
    root = CertificateAuthority.create_root(
        tmp_path / "root", pki_session, f"CN=root {algorithm}", algorithm=algorithm, path_length=1
    )
    issuing = root.create_intermediate(tmp_path / "int", pki_session, f"CN=issuing {algorithm}", algorithm=algorithm)
    leaf = issuing.issue(csr_for(software_key()), "server")

    assert isinstance(root.certificate.public_key(), key_class)
    assert isinstance(issuing.certificate.public_key(), key_class)
    algorithm_used = leaf.signature_hash_algorithm
    assert (algorithm_used.name if algorithm_used else None) == hash_name
    assert root.certificate.subject == root.certificate.issuer
    assert ext(root.certificate, x509.BasicConstraints).value == x509.BasicConstraints(ca=True, path_length=1)
    assert ext(issuing.certificate, x509.BasicConstraints).value == x509.BasicConstraints(ca=True, path_length=0)
    # the intermediate is recorded in the root's index, the leaf in the intermediate's
    assert [e.serial for e in root.index()] == [issuing.certificate.serial_number]
    assert [e.serial for e in issuing.index()] == [leaf.serial_number]

    files = tmp_path / "files"
    files.mkdir()
    result = openssl_verify(
        write_pems(files / "root.pem", root.certificate),
        write_pems(files / "intermediate.pem", issuing.certificate),
        write_pems(files / "server.pem", leaf),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("server.pem: OK")
    path = verify_chain(leaf, [issuing.certificate], [root.certificate], purpose="server")
    assert path == [leaf, issuing.certificate, root.certificate]


def test_profiles_give_the_extensions_the_issue_asks_for(pki_ca: TwoTierCA) -> None:
    ca = pki_ca.intermediate
    server = ca.issue(csr_for(software_key()), "server")
    client = ca.issue(csr_for(software_key(), "CN=alice", san=["alice@example.com"]), "client")
    signer = ca.issue(csr_for(software_key(), "CN=release signing", san=()), "code-signing")
    rsa_server = ca.issue(csr_for(rsa.generate_private_key(65537, 2048)), "server")

    for cert, eku in (
        (server, ExtendedKeyUsageOID.SERVER_AUTH),
        (client, ExtendedKeyUsageOID.CLIENT_AUTH),
        (signer, ExtendedKeyUsageOID.CODE_SIGNING),
    ):
        constraints = ext(cert, x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca is False
        usage = ext(cert, x509.KeyUsage)
        assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
        assert not usage.value.key_encipherment  # EC keys do not encipher
        assert list(ext(cert, x509.ExtendedKeyUsage).value) == [eku]
        ski = ext(cert, x509.SubjectKeyIdentifier).value
        assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
        aki = ext(cert, x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == ext(ca.certificate, x509.SubjectKeyIdentifier).value.digest
        crldp = ext(cert, x509.CRLDistributionPoints).value
        assert crldp[0].full_name == [x509.UniformResourceIdentifier("http://127.0.0.1/issuing.crl")]
        assert 0 < cert.serial_number < 2**159 and cert.serial_number.bit_length() == 159
    assert ext(rsa_server, x509.KeyUsage).value.key_encipherment  # RSA servers may do RSA key exchange
    assert ext(server, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["localhost"]
    ca_usage = ext(ca.certificate, x509.KeyUsage)
    assert ca_usage.critical and ca_usage.value.key_cert_sign and ca_usage.value.crl_sign
    with pytest.raises(x509.ExtensionNotFound):
        ext(signer, x509.SubjectAlternativeName)


def test_leaf_lifetime_never_outlives_the_issuer(pki_ca: TwoTierCA) -> None:
    leaf = pki_ca.intermediate.issue(csr_for(software_key()), "server", days=100_000)
    assert leaf.not_valid_after_utc == pki_ca.intermediate.certificate.not_valid_after_utc
    short = pki_ca.intermediate.issue(csr_for(software_key()), "server", days=30)
    assert short.not_valid_after_utc - short.not_valid_before_utc == datetime.timedelta(days=30)


@pytest.mark.parametrize("purpose", ["server", "client"])
def test_cryptography_verifier_accepts_the_chain(pki_ca: TwoTierCA, purpose: str) -> None:
    san = ["localhost", "127.0.0.1"] if purpose == "server" else ["alice@example.com"]
    leaf = pki_ca.intermediate.issue(csr_for(software_key(), san=san), purpose)
    builder = verification.PolicyBuilder().store(verification.Store([pki_ca.root.certificate]))
    if purpose == "server":
        verifier = builder.build_server_verifier(x509.DNSName("localhost"))
        chain = verifier.verify(leaf, [pki_ca.intermediate.certificate])
        assert chain == [leaf, pki_ca.intermediate.certificate, pki_ca.root.certificate]
    else:
        verified = builder.build_client_verifier().verify(leaf, [pki_ca.intermediate.certificate])
        assert verified.chain == [leaf, pki_ca.intermediate.certificate, pki_ca.root.certificate]
        assert verified.subjects is not None and x509.RFC822Name("alice@example.com") in verified.subjects


def test_verify_chain_rejects_what_openssl_rejects(pki_ca: TwoTierCA, pki_session: Session, tmp_path: Path) -> None:
    ca = pki_ca.intermediate
    client = ca.issue(csr_for(software_key(), "CN=bob", san=()), "client")
    with pytest.raises(ChainInvalid, match="not for server"):
        verify_chain(client, [ca.certificate], [pki_ca.root.certificate], purpose="server")
    other = CertificateAuthority.create_root(tmp_path / "other", pki_session, "CN=other root", algorithm="ec-p256")
    with pytest.raises(ChainInvalid, match="no path"):
        verify_chain(client, [ca.certificate], [other.certificate])
    with pytest.raises(ChainInvalid, match="no path"):
        verify_chain(client, [], [pki_ca.root.certificate])  # the intermediate is missing
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2000)
    with pytest.raises(ChainInvalid, match="expired"):
        verify_chain(client, [ca.certificate], [pki_ca.root.certificate], at=later)
    # openssl agrees on the purpose check
    root_pem = write_pems(tmp_path / "root.pem", pki_ca.root.certificate)
    int_pem = write_pems(tmp_path / "int.pem", ca.certificate)
    leaf_pem = write_pems(tmp_path / "client.pem", client)
    assert openssl_verify(root_pem, int_pem, leaf_pem, "-purpose", "sslclient").returncode == 0
    assert openssl_verify(root_pem, int_pem, leaf_pem, "-purpose", "sslserver").returncode != 0


def test_revoked_certificate_is_rejected_by_openssl_crl_check(pki_ca: TwoTierCA, tmp_path: Path) -> None:
    ca = pki_ca.intermediate
    keep = ca.issue(csr_for(software_key(), "CN=keep"), "server")
    gone = ca.issue(csr_for(software_key(), "CN=gone"), "server")
    entry = ca.revoke(gone.serial_number, "keyCompromise")
    assert entry.revoked and entry.reason == x509.ReasonFlags.key_compromise
    first = ca.crl(days=3)
    second = ca.crl(days=3)

    number = first.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert second.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number + 1
    assert first.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    assert first.next_update_utc is not None
    assert first.next_update_utc - first.last_update_utc == datetime.timedelta(days=3)
    revoked = first.get_revoked_certificate_by_serial_number(gone.serial_number)
    assert revoked is not None
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert first.get_revoked_certificate_by_serial_number(keep.serial_number) is None
    assert (ca.directory / "crl.pem").read_bytes() == second.public_bytes(serialization.Encoding.PEM)

    root_pem = write_pems(tmp_path / "root.pem", pki_ca.root.certificate)
    int_pem = write_pems(tmp_path / "int.pem", ca.certificate)
    crl_pem = ca.directory / "crl.pem"
    crl_check = ("-crl_check", "-CRLfile", crl_pem)
    refused = openssl_verify(root_pem, int_pem, write_pems(tmp_path / "gone.pem", gone), *crl_check)
    assert refused.returncode != 0
    assert "certificate revoked" in refused.stdout + refused.stderr
    accepted = openssl_verify(root_pem, int_pem, write_pems(tmp_path / "keep.pem", keep), *crl_check)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr

    with pytest.raises(ChainInvalid, match="revoked"):
        verify_chain(gone, [ca.certificate], [pki_ca.root.certificate], crls=[second])
    assert verify_chain(keep, [ca.certificate], [pki_ca.root.certificate], crls=[second])[0] == keep
    with pytest.raises(AlreadyRevoked):
        ca.revoke(gone.serial_number, "superseded")
    with pytest.raises(UnknownSerial):
        ca.revoke(12345, "superseded")
    line = next(e for e in Index.load(ca.directory / "index.txt") if e.serial == gone.serial_number)
    assert line.status() == "R" and line.reason == x509.ReasonFlags.key_compromise


def test_ca_directory_survives_a_restart(pki_ca: TwoTierCA, pki_session: Session, tmp_path: Path) -> None:
    ca = pki_ca.intermediate
    first = ca.issue(csr_for(software_key(), "CN=before restart"), "server")
    key_uri = (ca.directory / "key.uri").read_text()
    assert "pin" not in key_uri and key_uri.startswith("pkcs11:") and "type=private" in key_uri

    again = CertificateAuthority.open(ca.directory, pin=USER_PIN)  # module from ca.json, key by URI
    assert again.certificate == ca.certificate and again.chain == ca.chain
    second = again.issue(csr_for(software_key(), "CN=after restart"), "server")
    serials = [e.serial for e in again.index()]
    assert serials[-2:] == [first.serial_number, second.serial_number]
    assert again.certificate_for(second.serial_number) == second
    with_session = CertificateAuthority.open(ca.directory, session=pki_session)
    assert with_session.key_uri == again.key_uri
    chain = load_certificates(again.chain_pem(second))
    assert chain == [second, ca.certificate]  # the root is left out of what a server sends
