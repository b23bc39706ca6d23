"""Every ``p11`` subcommand as a subprocess against a throwaway SoftHSM token: JSON parsed, the effect checked on
the token or with an independent tool (openssl, hashlib, cryptography). Grouped so each test makes a token once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import sys

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support import SO_PIN, openssl
from tests.support.cli import PIN_ENV


def _objects(cli, label, *selection):
    return cli.ok("objects", "--token", label, *selection, "--json", env=PIN_ENV).json()["objects"]


def test_info_mechanisms_random_digest(cli, tmp_path):
    token = cli.new_token()
    info = cli.ok("info", "--json").json()
    assert info["module"]["path"] == cli.module and "SoftHSM" in info["module"]["manufacturer"]
    mine = [s for s in info["slots"] if s["token"] and s["token"]["label"] == token["label"]]
    assert len(mine) == 1 and mine[0]["id"] == token["slot"]
    assert mine[0]["token"]["initialized"] and "USER_PIN_INITIALIZED" in mine[0]["token"]["flags"]
    assert mine[0]["token"]["uri"] == token["uri"]
    assert any(s["token"] and not s["token"]["initialized"] for s in info["slots"])  # SoftHSM's spare slot

    mechanisms = cli.ok("mechanisms", "--uri", token["uri"], "--json").json()["mechanisms"]
    ecdsa = next(m for m in mechanisms if m["name"] == "CKM_ECDSA")
    assert {"SIGN", "VERIFY"} <= set(ecdsa["flags"]) and ecdsa["max_key_size"] >= 384

    random = cli.ok("random", "24", "--token", token["label"], "--json").json()["random"]
    assert len(bytes.fromhex(random)) == 24
    raw = cli.run("random", "8", "--token", token["label"], "--format", "raw")
    assert raw.code == 0 and len(raw.raw) == 8

    data = tmp_path / "data.bin"
    data.write_bytes(b"digest me" * 1000)
    digest = cli.ok("digest", str(data), "--token", token["label"], "-m", "sha384", "--json").json()
    assert digest == {"mechanism": "CKM_SHA384", "digest": hashlib.sha384(data.read_bytes()).hexdigest()}
    by_name = cli.ok("info", "--module-name", "softhsm2", "--token", token["label"], "--json").json()
    assert by_name["module"]["path"].endswith("libsofthsm2.so") and len(by_name["slots"]) == 1
    table = cli.ok("info", "--token", token["label"]).stdout
    assert table.startswith("# Module ") and token["label"] in table  # piped: a heading line, then rows


def test_keygen_objects_export_set_attr_delete(cli, tmp_path):
    label = cli.new_token()["label"]
    made = cli.ok("keygen", "ec", "--curve", "P-384", "--token", label, "--label", "dev", "--id", "01",
                  "--json", env=PIN_ENV).json()["objects"]
    assert [(o["type"], o["key_type"], o["key_size"], o["id"]) for o in made] == [
        ("private", "EC", 384, "01"), ("public", "EC", 384, "01")]
    assert made[0]["sensitive"] is True and made[0]["extractable"] is False and "sign" in made[0]["usages"]
    mac = cli.ok("keygen", "hmac", "--bits", "256", "--token", label, "--label", "mac", "--usage", "encrypt",
                 "--json", env=PIN_ENV).json()["objects"]
    assert mac[0]["key_type"] == "GENERIC_SECRET" and {"sign", "verify", "encrypt"} <= set(mac[0]["usages"])
    rsa = cli.ok("keygen", "rsa", "--bits", "2048", "--token", label, "--label", "signer", "--json", env=PIN_ENV).json()
    assert rsa["objects"][0]["key_size"] == 2048
    aes = cli.ok("keygen", "aes", "--token", label, "--label", "data", "--json", env=PIN_ENV).json()["objects"]
    assert aes[0]["key_size"] == 256 and "encrypt" in aes[0]["usages"]
    ed = cli.ok("keygen", "ed25519", "--token", label, "--label", "ed", "--json", env=PIN_ENV).json()["objects"]
    assert ed[0]["key_type"] == "EC_EDWARDS"

    private = _objects(cli, label, "--type", "private")
    assert sorted(o["label"] for o in private) == ["dev", "ed", "signer"]
    public_only = cli.ok("objects", "--token", label, "--public", "--json").json()["objects"]
    assert all(o["type"] == "public" for o in public_only) and len(public_only) == 3

    pem = cli.ok("export", "--token", label, "--label", "dev", env=PIN_ENV).stdout.encode()
    key = serialization.load_pem_public_key(pem)
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    cli.ok("export", "--token", label, "--id", "01", "--format", "der", "--out", str(tmp_path / "dev.der"), env=PIN_ENV)
    assert serialization.load_der_public_key((tmp_path / "dev.der").read_bytes()) == key

    changed = cli.ok("set-attr", "--token", label, "--label", "dev", "--type", "private", "label=device",
                     "id=hex:0a0b", "--json", env=PIN_ENV).json()["object"]
    assert changed["label"] == "device" and changed["id"] == "0a0b"

    refused = cli.run("delete", "--token", label, "--label", "device", env=PIN_ENV)  # no terminal to ask on, no --yes
    assert refused.code == 2 and "add --yes" in refused.stderr
    deleted = cli.ok("delete", "--token", label, "--label", "device", "--yes", "--json", env=PIN_ENV).json()["deleted"]
    assert [(o["label"], o["type"]) for o in deleted] == [("device", "private")]
    assert sorted(o["label"] for o in _objects(cli, label, "--type", "private")) == ["ed", "signer"]
    both = cli.ok("delete", "--token", label, "--label", "signer", "--all", "--yes", "--json", env=PIN_ENV).json()
    assert sorted(o["type"] for o in both["deleted"]) == ["private", "public"]


def test_sign_verify_with_openssl_and_hmac(cli, tmp_path):
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "dev", env=PIN_ENV)
    cli.ok("keygen", "rsa", "--token", label, "--label", "rsa", env=PIN_ENV)
    data = tmp_path / "data.txt"
    data.write_bytes(b"firmware image\n")
    cli.ok("export", "--token", label, "--label", "dev", "--out", str(tmp_path / "dev.pem"), env=PIN_ENV)
    cli.ok("export", "--token", label, "--label", "rsa", "--out", str(tmp_path / "rsa.pem"), env=PIN_ENV)

    signed = cli.ok("sign", str(data), "--token", label, "--label", "dev", "-m", "ECDSA_SHA256", "--format", "der",
                    "--out", str(tmp_path / "ec.sig"), "--json", env=PIN_ENV).json()
    assert signed["mechanism"] == "CKM_ECDSA_SHA256" and ";object=dev;type=private;" in signed["key"]
    assert openssl("dgst", "-sha256", "-verify", str(tmp_path / "dev.pem"), "-signature", str(tmp_path / "ec.sig"),
                   str(data)).stdout.strip() == "Verified OK"
    ok = cli.ok("verify", str(data), "--signature", str(tmp_path / "ec.sig"), "--format", "der", "--token", label,
                "--label", "dev", "-m", "ECDSA_SHA256", "--json", env=PIN_ENV).json()
    assert ok["valid"] is True

    pss = cli.ok("sign", "--token", label, "--label", "rsa", "-m", "pss", "--hash", "sha256", "--out",
                 str(tmp_path / "pss.sig"), input=data.read_bytes(), env=PIN_ENV)
    assert pss.stdout == ""
    assert openssl("dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-verify",
                   str(tmp_path / "rsa.pem"), "-signature", str(tmp_path / "pss.sig"), str(data)).stdout.strip() \
        == "Verified OK"
    hexsig = cli.ok("sign", str(data), "--token", label, "--label", "rsa", "--format", "hex", env=PIN_ENV).stdout
    (tmp_path / "rsa.hex").write_text(hexsig)
    tampered = tmp_path / "other.txt"
    tampered.write_bytes(b"firmware imagE\n")
    bad = cli.run("verify", str(tampered), "--signature", str(tmp_path / "rsa.hex"), "--format", "hex", "--token",
                  label, "--label", "rsa", env=PIN_ENV)
    assert bad.code == 1 and bad.error_lines == [bad.error_lines[0]] and "CKR_SIGNATURE_INVALID" in bad.stderr

    secret = bytes(range(32))
    cli.ok("import", "--secret", "hmac", "-", "--token", label, "--label", "api", input=secret, env=PIN_ENV)
    tag = cli.ok("sign", str(data), "--token", label, "--label", "api", "-m", "SHA256_HMAC", "--format", "base64",
                 env=PIN_ENV).stdout.strip()
    assert base64.b64decode(tag) == hmac.new(secret, data.read_bytes(), hashlib.sha256).digest()


def test_encrypt_decrypt_aes_gcm_and_rsa_oaep_with_openssl(cli, tmp_path):
    label = cli.new_token()["label"]
    cli.ok("keygen", "aes", "--token", label, "--label", "data", env=PIN_ENV)
    cli.ok("keygen", "rsa", "--token", label, "--label", "rsa", env=PIN_ENV)
    plain = b"secret payload " * 10
    iv = "000102030405060708090a0b"
    gcm = ("--token", label, "--label", "data", "-m", "aes-gcm", "--iv", iv, "--aad", "hdr")
    ciphertext = cli.ok("encrypt", *gcm, "--format", "base64", input=plain, env=PIN_ENV).stdout
    assert cli.ok("decrypt", *gcm, "--format", "base64", "--json", input=ciphertext.encode(),
                  env=PIN_ENV).json()["plaintext"] == plain.hex()
    wrong = cli.run("decrypt", "--token", label, "--label", "data", "-m", "aes-gcm", "--iv", iv, "--aad", "other",
                    "--format", "base64", input=ciphertext.encode(), env=PIN_ENV)
    assert wrong.code == 1 and len(wrong.error_lines) == 1 and "CKR_" in wrong.stderr

    cli.ok("export", "--token", label, "--label", "rsa", "--out", str(tmp_path / "rsa.pem"), env=PIN_ENV)
    (tmp_path / "msg").write_bytes(b"session key")
    made = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp_path / "rsa.pem"), "-pkeyopt",
                   "rsa_padding_mode:oaep", "-in", str(tmp_path / "msg"), "-out", str(tmp_path / "msg.enc"))
    assert made.returncode == 0, made.stderr
    out = cli.ok("decrypt", str(tmp_path / "msg.enc"), "--token", label, "--label", "rsa", "-m", "oaep", env=PIN_ENV)
    assert out.stdout == "session key"
    roundtrip = cli.ok("encrypt", str(tmp_path / "msg"), "--token", label, "--label", "rsa", "-m", "oaep",
                       "--json", env=PIN_ENV).json()
    (tmp_path / "p11.enc").write_bytes(bytes.fromhex(roundtrip["ciphertext"]))
    assert cli.ok("decrypt", str(tmp_path / "p11.enc"), "--token", label, "--label", "rsa", "-m", "oaep",
                  env=PIN_ENV).stdout == "session key"


def test_import_formats(cli, tmp_path):
    label = cli.new_token()["label"]
    ok = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes-128-cbc", "-pass",
                 "pass:hunter2", "-out", str(tmp_path / "enc.pem"))
    assert ok.returncode == 0 and b"ENCRYPTED PRIVATE KEY" in (tmp_path / "enc.pem").read_bytes()
    (tmp_path / "pass").write_text("hunter2\n")
    enc = cli.ok("import", str(tmp_path / "enc.pem"), "--password-source", str(tmp_path / "pass"), "--token", label,
                 "--label", "enc", "--json", env=PIN_ENV).json()["objects"]
    assert sorted(o["type"] for o in enc) == ["private", "public"]

    assert openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", str(tmp_path / "sec1.pem")).returncode == 0
    assert b"EC PRIVATE KEY" in (tmp_path / "sec1.pem").read_bytes()
    sec1 = cli.ok("import", str(tmp_path / "sec1.pem"), "--token", label, "--label", "sec1", "--json",
                  env=PIN_ENV).json()["objects"]
    assert {(o["type"], o["key_type"]) for o in sec1} == {("private", "EC"), ("public", "EC")}

    # A chain: a CA and a leaf it signed (the leaf's key is not here): two certificates, each its own id.
    assert openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                   str(tmp_path / "ca.key"), "-subj", "/CN=chain-ca", "-out", str(tmp_path / "ca.pem")).returncode == 0
    assert openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                   str(tmp_path / "leaf.key"), "-subj", "/CN=chain-leaf", "-out", str(tmp_path / "leaf.csr"),
                   ).returncode == 0
    assert openssl("x509", "-req", "-in", str(tmp_path / "leaf.csr"), "-CA", str(tmp_path / "ca.pem"), "-CAkey",
                   str(tmp_path / "ca.key"), "-out", str(tmp_path / "leaf.pem")).returncode == 0
    chain = tmp_path / "chain.pem"
    chain.write_bytes((tmp_path / "leaf.pem").read_bytes() + (tmp_path / "ca.pem").read_bytes())
    certs = cli.ok("import", str(chain), "--token", label, "--json", env=PIN_ENV).json()["objects"]
    assert sorted(o["label"] for o in certs) == ["chain-ca", "chain-leaf"] and len({o["id"] for o in certs}) == 2
    assert openssl("x509", "-in", str(tmp_path / "ca.pem"), "-outform", "DER", "-out",
                   str(tmp_path / "ca.der")).returncode == 0
    der = cli.ok("import", str(tmp_path / "ca.der"), "--token", label, "--label", "ca-der", "--json",
                 env=PIN_ENV).json()["objects"]
    assert [o["type"] for o in der] == ["cert"]
    assert openssl("pkey", "-in", str(tmp_path / "leaf.key"), "-pubout", "-out",
                   str(tmp_path / "leaf-pub.pem")).returncode == 0
    pub = cli.ok("import", str(tmp_path / "leaf-pub.pem"), "--token", label, "--label", "leaf-pub", "--json",
                 env=PIN_ENV).json()["objects"]
    assert [(o["type"], o["label"]) for o in pub] == [("public", "leaf-pub")]
    exported = cli.ok("export", "--token", label, "--label", "chain-ca", "--type", "cert", env=PIN_ENV).stdout
    assert exported == (tmp_path / "ca.pem").read_text()


def test_init_pin_and_change_pin(cli, tmp_path):
    label = cli.new_token()["label"]
    (tmp_path / "new").write_text("5678\n")
    (tmp_path / "newer").write_text("8765")
    cli.ok("init-pin", "--token", label, "--new-pin-source", str(tmp_path / "new"), env={"P11_SO_PIN": SO_PIN})
    cli.ok("change-pin", "--token", label, "--new-pin-source", str(tmp_path / "newer"), env={"P11_PIN": "5678"})
    assert cli.run("objects", "--token", label, env={"P11_PIN": "5678"}).code == 1
    assert cli.ok("objects", "--token", label, "--json", env={"P11_PIN": "8765"}).json() == {"objects": []}
    # The PIN from the URI: pin-value, or pin-source naming a file.
    assert cli.ok("objects", "--uri", f"pkcs11:token={label}?pin-value=8765", "--json").json() == {"objects": []}
    source = cli.run("objects", "--uri", f"pkcs11:token={label}?pin-source=file:{tmp_path / 'new'}")
    assert source.code == 1 and "CKR_PIN_INCORRECT" in source.stderr and "5678" not in source.stderr


def test_bench_table_and_json(cli):
    label = cli.new_token()["label"]
    data = cli.ok("bench", "--token", label, "--seconds", "0.1", "--rounds", "1", "--only", "hmac-sha256,random-32",
                  "--json", env=PIN_ENV).json()
    assert [r["operation"] for r in data["results"]] == ["hmac-sha256", "random-32"]
    assert all(r["iterations"] > 0 and r["ops_per_second"] > 0 for r in data["results"])
    table = cli.ok("bench", "--token", label, "--seconds", "0.1", "--only", "sha256-digest", env=PIN_ENV).stdout
    assert "ops/s" in table and "sha256-digest" in table
    assert cli.ok("objects", "--token", label, "--json", env=PIN_ENV).json() == {"objects": []}  # its keys removed


def test_every_subcommand_has_an_example_and_completion_and_module_entry(cli):
    from p11.cli import cli as group

    runner = CliRunner()
    for name in group.commands:
        result = runner.invoke(group, [name, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output and "p11 " in result.output, name
    completion = cli.ok("completion", "bash").stdout
    assert "_P11_COMPLETE" in completion and "complete " in completion
    proc = subprocess.run([sys.executable, "-m", "p11", "--version"], capture_output=True, text=True, env=cli.env,
                          check=True, timeout=60)
    assert proc.stdout.strip() == "p11, version 0.1.0"
    usage = cli.run("keygen", "dsa")
    assert usage.code == 2 and "Invalid value" in usage.stderr


def test_set_attr_parses_each_value_as_its_attribute_holds_it(cli):
    """A date (``end_date=2027-12-31``), a flag, a number, bytes or text: the value is parsed by the attribute's
    kind (one codec table, :func:`p11.attributes.value_kind`), so ``label=true`` is a label and a date can be set."""
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "dated", env=PIN_ENV)
    # The public half: SoftHSM 2.6 stores a private object's dates but cannot read them back (CKR_GENERAL_ERROR).
    select = ("--token", label, "--label", "dated", "--type", "public")
    cli.ok("set-attr", *select, "start_date=2026-01-01", "end_date=20271231", "verify=off", env=PIN_ENV)
    read = (
        "import sys, p11; from p11.constants import Attribute as A; "
        f"t = p11.load(sys.argv[1]).get_token(label={label!r}); "
        "k = t.get_key(label='dated', object_class=p11.ObjectClass.PUBLIC_KEY); "
        "print(k[A.START_DATE], k[A.END_DATE], k[A.VERIFY])"
    )
    shown = subprocess.run([sys.executable, "-c", read, cli.module], env=cli.env, capture_output=True, text=True,
                           timeout=120, check=True).stdout.split()
    assert shown == ["2026-01-01", "2027-12-31", "False"]

    select = ("--token", label, "--label", "dated", "--type", "private")
    renamed = cli.ok("set-attr", *select, "label=true", "--json", env=PIN_ENV).json()["object"]
    assert renamed["label"] == "true"  # text for a text attribute, not a flag
    select = ("--token", label, "--label", "true", "--type", "private")
    for change, says in (("value_len=abc", "value_len is a number"), ("sign=maybe", "sign is a flag"),
                         ("end_date=31/12/2027", "end_date is a date: write YYYY-MM-DD"),
                         ("id=hex:zz", "pairs of hex digits"), ("wrap_template=x", "cannot be set from the command")):
        refused = cli.run("set-attr", *select, change, env=PIN_ENV)
        assert refused.code == 2 and says in refused.stderr, (change, refused.stderr)
