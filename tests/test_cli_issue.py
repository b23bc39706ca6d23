"""``p11 issue`` as a CA operator runs it: ``--hash`` signs this certificate with that hash (or is refused, nothing
signed), the signature algorithm is said, ``--days`` past the CA's own end is said, ``--chain`` writes what a web
server serves (openssl verifies it), errors name the options; and ``--out`` of secrets is 0600, links replaced."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from cli_support import CLI, USER_PIN, openssl, p11_executable
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fs_support import run_on_tiny_filesystem

from p11.pki import load_certificates, make_csr

PIN = {"P11_PIN": USER_PIN}


def csr_file(path: Path, cn: str = "www.example", san: tuple[str, ...] = ("www.example",)) -> Path:
    csr = make_csr(ec.generate_private_key(ec.SECP256R1()), f"CN={cn}", san=list(san))
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def cas(cli: CLI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A P-384 root (SHA-384 by key) and below it an intermediate that says SHA-512 and ends within 30 days, plus an
    Ed25519 root; all on one token of the module's own store."""
    work = tmp_path_factory.mktemp("issue")
    label = cli.new_token()["label"]
    cli.ok("selfsign", "--ca-dir", "root", "--token", label, "--label", "root", "--new-key", "ec-p384",
           "--subject", "CN=Issue Root", "--out", "root.pem", env=PIN, cwd=work)
    cli.ok("issue", "--ca-dir", "root", "--profile", "intermediate", "--new-ca-dir", "int", "--token", label,
           "--label", "int", "--new-key", "ec-p384", "--hash", "sha512", "--days", "30", "--subject",
           "CN=Issue Intermediate", "--out", "int.pem", env=PIN, cwd=work)
    cli.ok("selfsign", "--ca-dir", "ed-root", "--token", label, "--label", "ed-root", "--new-key", "ed25519",
           "--subject", "CN=Ed Root", env=PIN, cwd=work)
    return {"work": work, "label": label}


def issue(cli: CLI, cas: dict[str, Any], *args: str) -> Any:
    return cli.run("issue", *args, env=PIN, cwd=cas["work"])


def leaf(cas: dict[str, Any], name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((cas["work"] / name).read_bytes())


def index_lines(cas: dict[str, Any], ca: str) -> int:
    return len((cas["work"] / ca / "index.txt").read_text().split("\n")) - 1


@pytest.mark.parametrize(("asked", "algorithm", "name"), [
    ("sha512", hashes.SHA512, "ecdsa-with-SHA512"),  # the intermediate says SHA-512 already
    ("sha256", hashes.SHA256, "ecdsa-with-SHA256"),  # was signed SHA-512 regardless
    ("sha384", hashes.SHA384, "ecdsa-with-SHA384"),
])
def test_hash_is_honoured_for_this_certificate_and_said(cli: CLI, cas: dict[str, Any], asked: str,
                                                        algorithm: type[hashes.HashAlgorithm], name: str) -> None:
    req = csr_file(cas["work"] / f"{asked}.csr")
    result = issue(cli, cas, str(req), "--ca-dir", "int", "--hash", asked, "--out", f"{asked}.pem")
    assert result.code == 0, result.stderr
    cert = leaf(cas, f"{asked}.pem")
    assert isinstance(cert.signature_hash_algorithm, algorithm)
    assert f"p11: signed {name} by CN=Issue Intermediate: serial {cert.serial_number:X}" in result.stderr
    checked = openssl("verify", "-CAfile", "root.pem", "-untrusted", "int.pem", f"{asked}.pem", cwd=cas["work"])
    assert checked.returncode == 0, checked.stderr
    text = openssl("x509", "-in", f"{asked}.pem", "-noout", "-text", cwd=cas["work"]).stdout
    assert f"Signature Algorithm: {name}" in text


def test_without_hash_the_ca_setting_is_used_and_json_says_it(cli: CLI, cas: dict[str, Any]) -> None:
    req = csr_file(cas["work"] / "default.csr")
    data = issue(cli, cas, str(req), "--ca-dir", "root", "--json").json()
    cert = x509.load_pem_x509_certificate(data["pem"].encode())
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)  # P-384 root: by key
    assert data["signature_algorithm"] == "ecdsa-with-SHA384" and data["notes"] == []


def test_days_past_the_issuers_end_are_capped_and_said(cli: CLI, cas: dict[str, Any]) -> None:
    req = csr_file(cas["work"] / "long.csr")
    result = issue(cli, cas, str(req), "--ca-dir", "int", "--days", "365", "--out", "long.pem")
    assert result.code == 0, result.stderr
    cert, ca = leaf(cas, "long.pem"), leaf(cas, "int.pem")
    assert cert.not_valid_after_utc == ca.not_valid_after_utc
    assert "note: --days 365 would outlive the issuing CA: the certificate ends with it, on " in result.stderr
    default = issue(cli, cas, str(req), "--ca-dir", "int", "--json").json()
    assert default["notes"] and "the server profile's 397 days would outlive the issuing CA" in default["notes"][0]
    short = issue(cli, cas, str(req), "--ca-dir", "int", "--days", "7", "--out", "short.pem")
    assert short.code == 0 and "note:" not in short.stderr


def test_chain_is_the_leaf_and_the_intermediates_and_openssl_verifies_it(cli: CLI, cas: dict[str, Any]) -> None:
    req = csr_file(cas["work"] / "web.csr", "web.example", ("web.example",))
    result = issue(cli, cas, str(req), "--ca-dir", "int", "--chain", "--out", "web-chain.pem")
    assert result.code == 0, result.stderr
    bundle = load_certificates((cas["work"] / "web-chain.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in bundle] == ["CN=web.example", "CN=Issue Intermediate"]
    # What a web server is given as its certificate file: the leaf first, then what leads to the root.
    checked = openssl("verify", "-CAfile", "root.pem", "-untrusted", "web-chain.pem", "-purpose", "sslserver",
                      "web-chain.pem", cwd=cas["work"])
    assert checked.returncode == 0 and checked.stdout.strip() == "web-chain.pem: OK", checked.stderr
    piped = issue(cli, cas, str(req), "--ca-dir", "int", "--chain")
    assert piped.stdout.count("BEGIN CERTIFICATE") == 2 and "p11: signed" not in piped.stdout
    from_root = issue(cli, cas, str(req), "--ca-dir", "root", "--chain")
    assert from_root.stdout.count("BEGIN CERTIFICATE") == 1  # the root itself is left out: clients have it


def test_errors_speak_options(cli: CLI, cas: dict[str, Any]) -> None:
    nameless = csr_file(cas["work"] / "nameless.csr", "nameless", ())
    before = index_lines(cas, "int")
    missing = issue(cli, cas, str(nameless), "--ca-dir", "int")
    assert missing.code == 2 and len(missing.error_lines) == 1
    assert "--san DNS:NAME" in missing.stderr and "san=[" not in missing.stderr
    ed = issue(cli, cas, str(nameless), "--ca-dir", "ed-root", "--san", "DNS:x.example", "--hash", "sha512")
    assert ed.code == 2 and ed.error_lines == [
        "p11: error: --hash sha512: the issuing CA's key: Ed25519 signs without a separate hash; leave --hash out"]
    bad_san = issue(cli, cas, str(nameless), "--ca-dir", "int", "--san", "IP:300.1.1.1")
    assert bad_san.code == 2 and bad_san.error_lines[0].startswith("p11: error: --san: ")
    bad_subject = issue(cli, cas, str(nameless), "--ca-dir", "int", "--san", "DNS:x", "--subject", "no equals sign")
    assert bad_subject.code == 2 and bad_subject.error_lines[0].startswith("p11: error: --subject 'no equals sign'")
    cli.ok("selfsign", "--ca-dir", "pl-root", "--token", cas["label"], "--label", "pl-root", "--new-key", "ec-p256",
           "--pathlen", "1", "--subject", "CN=pathlen root", env=PIN, cwd=cas["work"])
    deep = issue(cli, cas, "--ca-dir", "pl-root", "--profile", "intermediate", "--new-ca-dir", "too-deep", "--token",
                 cas["label"], "--label", "deep", "--new-key", "ec-p256", "--pathlen", "1", "--subject", "CN=deep")
    assert deep.code == 2 and deep.error_lines == [
        "p11: error: the new CA may have at most 0 CA(s) below it (pathLenConstraint above), not 1: give a lower "
        "--pathlen"]
    root = issue(cli, cas, str(nameless), "--ca-dir", "int", "--profile", "root")
    assert root.code == 2 and "'root' is not one of" in root.stderr
    assert index_lines(cas, "int") == before  # nothing was signed or recorded
    assert not (cas["work"] / "too-deep" / "ca.pem").exists()


def test_new_ca_with_ed25519_and_a_hash_is_refused_before_a_key_is_made(cli: CLI, cas: dict[str, Any]) -> None:
    refused = cli.run("selfsign", "--ca-dir", "ed-hash", "--token", cas["label"], "--label", "ed-hash", "--new-key",
                      "ed25519", "--hash", "sha256", "--subject", "CN=x", env=PIN, cwd=cas["work"])
    assert refused.code == 2 and refused.error_lines == [
        "p11: error: --hash sha256: the new key: Ed25519 signs without a separate hash; leave --hash out"]
    listed = cli.ok("objects", "--token", cas["label"], "--label", "ed-hash", "--json", env=PIN).json()
    assert listed["objects"] == []


@pytest.mark.parametrize("command", [["random", "32", "--format", "raw"], ["random", "16"]])
def test_secret_output_is_0600_whatever_was_there(cli: CLI, cas: dict[str, Any], tmp_path: Path,
                                                  command: list[str]) -> None:
    target = tmp_path / "secret.bin"
    target.write_bytes(b"old")
    target.chmod(0o644)
    cli.ok(*command, "--token", cas["label"], "--out", str(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_bytes() != b"old"
    shared = tmp_path / "shared"
    shared.write_bytes(b"")
    target.unlink()
    target.symlink_to(shared)
    cli.ok(*command, "--token", cas["label"], "--out", str(target))
    assert not target.is_symlink() and shared.read_bytes() == b""


def test_output_on_a_full_disk_names_the_file(cli: CLI, cas: dict[str, Any], tmp_path: Path) -> None:
    out = run_on_tiny_filesystem(
        tmp_path,
        "",
        command=[p11_executable(), "random", "100000", "--token", cas["label"], "--out", "{MOUNT}/random.bin"],
        env=cli.env,
    )
    assert "p11: error: cannot read or write '" in out and "/mnt/random.bin': No space left on device" in out
