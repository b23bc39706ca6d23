"""Seed job 1, a device set-up (the SoftHSM walkthroughs of an IoT/Greengrass device), done with ``p11`` alone:
init a free token, import a PKCS#1 key and its certificate, print the key's URI in the form a configuration file
wants; then OpenSC's pkcs11-tool lists the objects and OpenSSL's pkcs11 engine signs with the key by that URI."""

from __future__ import annotations

import subprocess

from tests.support import SO_PIN, USER_PIN, openssl


def test_device_set_up_end_to_end(cli, tmp_path):
    token = cli.ok("init-token", "--free", "--label", "greengrass", "--so-pin", SO_PIN, "--pin", USER_PIN,
                   "--json").json()
    assert token["label"] == "greengrass" and token["uri"].startswith("pkcs11:token=greengrass;")
    assert isinstance(token["slot"], int)

    key, cert = tmp_path / "thing-key.pem", tmp_path / "thing-cert.pem"
    assert openssl("genrsa", "-traditional", "-out", str(key), "2048").returncode == 0
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")  # PKCS#1, no conversion step
    assert openssl("req", "-new", "-x509", "-key", str(key), "-subj", "/CN=thing", "-days", "30",
                   "-out", str(cert)).returncode == 0

    pin = {"P11_PIN": USER_PIN}
    imported = cli.ok("import", str(key), str(cert), "--token", "greengrass", "--label", "iotkey", "--id", "0000",
                      "--json", env=pin).json()["objects"]
    assert sorted(o["type"] for o in imported) == ["cert", "private", "public"]
    assert {o["id"] for o in imported} == {"0000"} and {o["label"] for o in imported} == {"iotkey"}

    uri = cli.ok("uri", "--token", "greengrass", "--label", "iotkey", "--type", "private", "--only", "object,type",
                 env=pin).stdout.strip()
    assert uri == "pkcs11:object=iotkey;type=private"

    listed = subprocess.run(["pkcs11-tool", "--module", cli.module, "--token-label", "greengrass", "--login",
                             "--pin", USER_PIN, "--list-objects"], capture_output=True, text=True, env=cli.env,
                            timeout=60, check=True).stdout
    assert "Private Key Object; RSA" in listed and "label:      iotkey" in listed and "ID:         0000" in listed

    data = tmp_path / "data.txt"
    data.write_bytes(b"telemetry\n")
    engine_env = {**cli.env, "OPENSSL_CONF": str(cli.engine_config())}
    signed = openssl("dgst", "-engine", "pkcs11", "-keyform", "engine", "-sign", f"{uri};pin-value={USER_PIN}",
                     "-sha256", "-out", str(tmp_path / "sig.bin"), str(data), env=engine_env)
    assert signed.returncode == 0, signed.stderr
    assert openssl("x509", "-in", str(cert), "-pubkey", "-noout", "-out", str(tmp_path / "pub.pem")).returncode == 0
    checked = openssl("dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
                      str(tmp_path / "sig.bin"), str(data))
    assert checked.stdout.strip() == "Verified OK"
