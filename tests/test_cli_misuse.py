"""The ``p11`` command used the way people get it wrong, run as a subprocess against a SoftHSM store of its own:
a key asked for by a name the options lose, a second key under a name already taken, a token initialised with a
PIN it cannot take, absurd numbers, standard streams that are closed. Each test names what must hold."""

from __future__ import annotations

from cli_support import SO_PIN, USER_PIN, openssl
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448

PIN = {"P11_PIN": USER_PIN}


def test_keygen_ed448_makes_an_ed448_key(cli, tmp_path):
    """``keygen ed448`` once made an Ed25519 key (the curve the name implies was dropped on the way)."""
    label = cli.new_token()["label"]
    made = cli.ok("keygen", "ed448", "--token", label, "--label", "ed", "--json", env=PIN).json()["objects"]
    assert [(o["type"], o["key_type"], o["key_size"]) for o in made] == [
        ("private", "EC_EDWARDS", 448), ("public", "EC_EDWARDS", 448)]
    pem = cli.ok("export", "--token", label, "--label", "ed", env=PIN).raw
    assert isinstance(serialization.load_pem_public_key(pem), ed448.Ed448PublicKey)
    data = tmp_path / "data"
    data.write_bytes(b"signed by Ed448")
    cli.ok("sign", str(data), "--token", label, "--label", "ed", "--out", str(tmp_path / "sig"), env=PIN)
    (tmp_path / "pub.pem").write_bytes(pem)
    checked = openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin", "-in", str(data),
                      "-sigfile", str(tmp_path / "sig"))
    assert checked.returncode == 0 and "Signature Verified Successfully" in checked.stdout, checked.stderr
