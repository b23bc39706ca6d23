"""ECDSA signatures from ``p11 sign`` are DER by default (what ``openssl dgst -verify``, Java and Go read), raw
``r || s`` with ``--format raw``; ``p11 verify`` takes either without being told, and OpenSSL's own."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.support import openssl
from tests.support.cli import CLI, PIN_ENV

CURVES = (("P-256", "ECDSA_SHA256", "-sha256", 32), ("P-384", "ECDSA_SHA384", "-sha384", 48),
          ("P-521", "ECDSA_SHA512", "-sha512", 66))


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    cli = CLI(tmp_path_factory.mktemp("signatures"))
    cli.new_token("signer")
    for curve, _, _, _ in CURVES:
        cli.ok("keygen", "ec", "--curve", curve, "--token", "signer", "--label", curve, env=PIN_ENV)
        cli.ok("export", "--token", "signer", "--label", curve, "--out", str(cli.directory / f"{curve}.pem"),
               env=PIN_ENV)
    cli.ok("keygen", "rsa", "--bits", "2048", "--token", "signer", "--label", "rsa", env=PIN_ENV)
    (cli.directory / "data.txt").write_bytes(b"firmware image\n" * 100)
    return cli


def _verify(cli, label, signature, *extra):
    return cli.run("verify", "--token", "signer", "--label", label, "--signature", str(signature),
                   str(cli.directory / "data.txt"), *extra, env=PIN_ENV)


@pytest.mark.parametrize(("curve", "mechanism", "digest", "size"), CURVES)
def test_ecdsa_is_der_by_default_and_openssl_verifies_it(signer, curve, mechanism, digest, size):
    d = signer.directory
    sig = d / f"{curve}.der"
    signer.ok("sign", "--token", "signer", "--label", curve, "-m", mechanism, str(d / "data.txt"), "--out",
              str(sig), env=PIN_ENV)
    r, s = decode_dss_signature(sig.read_bytes())  # DER, or this raises
    assert 0 < r.bit_length() <= size * 8 and 0 < s.bit_length() <= size * 8
    checked = openssl("dgst", digest, "-verify", str(d / f"{curve}.pem"), "-signature", str(sig), str(d / "data.txt"))
    assert checked.stdout.strip() == "Verified OK", checked.stderr
    assert _verify(signer, curve, sig, "-m", mechanism).stdout.strip() == "Signature OK"  # no --format needed

    raw = d / f"{curve}.raw"
    signer.ok("sign", "--token", "signer", "--label", curve, "-m", mechanism, str(d / "data.txt"), "--format", "raw",
              "--out", str(raw), env=PIN_ENV)
    assert len(raw.read_bytes()) == 2 * size
    assert _verify(signer, curve, raw, "-m", mechanism).stdout.strip() == "Signature OK"
    assert _verify(signer, curve, raw, "-m", mechanism, "--format", "raw").code == 0
    wrong = _verify(signer, curve, raw, "-m", mechanism, "--format", "der")
    assert wrong.code == 1 and "not DER" in wrong.stderr


def test_hex_base64_and_json_carry_the_der_form(signer):
    d = signer.directory
    text = signer.ok("sign", "--token", "signer", "--label", "P-256", str(d / "data.txt"), "--format", "base64",
                     env=PIN_ENV).stdout
    (d / "sig.b64").write_text(text)
    assert _verify(signer, "P-256", d / "sig.b64", "--format", "base64").code == 0
    data = signer.ok("sign", "--token", "signer", "--label", "P-256", str(d / "data.txt"), "--json", env=PIN_ENV).json()
    assert data["format"] == "der" and data["mechanism"] is None
    decode_dss_signature(bytes.fromhex(data["signature"]))


def test_verify_says_why_a_signature_does_not_verify(signer):
    d = signer.directory
    sig = d / "good.der"
    signer.ok("sign", "--token", "signer", "--label", "P-256", str(d / "data.txt"), "--out", str(sig), env=PIN_ENV)
    tampered = d / "tampered.txt"
    tampered.write_bytes(b"firmware image\n" * 99)
    bad = signer.run("verify", "--token", "signer", "--label", "P-256", "--signature", str(sig), str(tampered),
                     env=PIN_ENV)
    assert bad.code == 1 and "CKR_SIGNATURE_INVALID" in bad.stderr
    (d / "garbage").write_bytes(b"\x01" * 10)
    garbage = _verify(signer, "P-256", d / "garbage")
    assert garbage.code == 1 and "neither DER nor raw r||s (64 bytes)" in garbage.stderr


def test_openssl_signatures_verify_with_p11(signer, tmp_path):
    key = tmp_path / "ec.pem"
    assert openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)).returncode == 0
    signer.ok("import", str(key), "--token", "signer", "--label", "imported", env=PIN_ENV)
    sig = tmp_path / "openssl.sig"
    data = signer.directory / "data.txt"
    assert openssl("dgst", "-sha256", "-sign", str(key), "-out", str(sig), str(data)).returncode == 0
    assert _verify(signer, "imported", sig).stdout.strip() == "Signature OK"


def test_other_keys_have_one_form(signer):
    d = signer.directory
    sig = d / "rsa.sig"
    signer.ok("sign", "--token", "signer", "--label", "rsa", str(d / "data.txt"), "--out", str(sig), env=PIN_ENV)
    assert len(sig.read_bytes()) == 256
    assert _verify(signer, "rsa", sig).code == 0
    refused = signer.run("sign", "--token", "signer", "--label", "rsa", str(d / "data.txt"), "--format", "der",
                         env=PIN_ENV)
    assert refused.code == 2 and "for ECDSA signatures only" in refused.stderr
