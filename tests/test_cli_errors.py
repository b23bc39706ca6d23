"""Bad input to the ``p11`` command: each case one clear line on standard error (``p11: error: …``), a non-zero
exit (1: the operation failed, 2: usage), no traceback unless ``--debug``, never a PIN; and nothing half-done."""

from __future__ import annotations

import subprocess

import pytest
from cli_support import SO_PIN, USER_PIN, openssl, p11_executable

PIN = {"P11_PIN": USER_PIN}


def _one_line(result, code: int, *needles: str) -> str:
    assert result.code == code, result.stderr
    assert len(result.error_lines) == 1, result.stderr
    line = result.error_lines[0]
    assert line.startswith("p11: error: ") and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in line, line
    return line


@pytest.fixture(scope="module")
def token(cli) -> str:
    label: str = cli.new_token("errors")["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "pair", env=PIN)
    cli.ok("keygen", "aes", "--token", label, "--label", "dup", env=PIN)
    cli.pkcs11_tool(label, "--keygen", "--key-type", "AES:32", "--label", "dup")  # p11 keygen refuses a second
    return label


def test_wrong_pin_names_the_ckr_and_never_the_pin_even_with_debug(cli, token, tmp_path):
    (tmp_path / "pin").write_text("77777\n")
    wrong = cli.run("objects", "--token", token, "--pin-source", str(tmp_path / "pin"))
    _one_line(wrong, 1, "CKR_PIN_INCORRECT", "the PIN is incorrect", "check the PIN")
    assert "77777" not in wrong.stderr + wrong.stdout
    debug = cli.run("objects", "--token", token, "--debug", env={"P11_PIN": "77777"})
    assert debug.code == 1 and "Traceback" in debug.stderr and "PinIncorrect" in debug.stderr
    assert "77777" not in debug.stderr + debug.stdout


def test_module_missing_or_not_given(cli):
    _one_line(cli.run("info", "--module", "/nonexistent/libnothing.so"), 2, "/nonexistent/libnothing.so")
    env = {k: v for k, v in cli.env.items() if k != "P11_MODULE"}
    proc = subprocess.run([p11_executable(), "info"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "P11_MODULE" in proc.stderr
    _one_line(cli.run("info", "--module-name", "no-such-module"), 2, "no-such-module")


def test_no_such_token_or_object_and_ambiguous_selections(cli, token):
    _one_line(cli.run("objects", "--token", "missing-token", env=PIN), 1, "no token matches", "missing-token")
    _one_line(cli.run("export", "--token", token, "--label", "nothing-here", env=PIN), 1, "no object",
              "nothing-here")
    line = _one_line(cli.run("encrypt", "--token", token, "--label", "dup", "-m", "aes-gcm", "--iv", "00" * 12,
                             input=b"x", env=PIN), 2, "ambiguous selection", "2 objects match")
    assert line.count(";object=dup;type=secret-key") == 3 and line.count("serial=") == 2  # asked + 2 candidates
    cli.new_token("twin")
    cli.new_token("twin")
    line = _one_line(cli.run("mechanisms", "--token", "twin"), 2, "ambiguous selection", "2 tokens match")
    assert line.count("pkcs11:slot-id=") == 2 and "serial=" in line


def test_unsupported_or_unknown_mechanism(cli, token):
    _one_line(cli.run("encrypt", "--token", token, "--label", "dup", "--id", "00", "-m", "nonsense", input=b"x",
                      env=PIN), 2, "unknown mechanism 'nonsense'")
    _one_line(cli.run("sign", "--token", token, "--label", "pair", "-m", "SHA256_RSA_PKCS", input=b"x", env=PIN),
              1, "CKR_KEY_TYPE_INCONSISTENT", "needs RSA")
    _one_line(cli.run("random", "8", "--token", token, "--format", "raw", "--out", "/nonexistent/dir/x"), 1,
              "/nonexistent/dir/x")


def test_unreadable_malformed_or_mismatched_pem_imports_nothing(cli, token, tmp_path):
    _one_line(cli.run("import", str(tmp_path / "absent.pem"), "--token", token, env=PIN), 1, "absent.pem")
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    _one_line(cli.run("import", str(bad), "--token", token, env=PIN), 1, "cannot use the key material")
    assert openssl("genrsa", "-out", str(tmp_path / "a.key"), "2048").returncode == 0
    assert openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "b.key"), "-subj",
                   "/CN=other-device", "-out", str(tmp_path / "b.pem")).returncode == 0
    before = cli.ok("objects", "--token", token, "--json", env=PIN).json()["objects"]
    _one_line(cli.run("import", str(tmp_path / "a.key"), str(tmp_path / "b.pem"), "--token", token, "--label", "x",
                      env=PIN), 1, "does not match the certificate", "CN=other-device")
    assert cli.ok("objects", "--token", token, "--json", env=PIN).json()["objects"] == before


def test_delete_and_init_token_never_act_beyond_the_selection(cli, token):
    _one_line(cli.run("delete", "--token", token, "--yes", env=PIN), 2, "name the object")
    _one_line(cli.run("delete", "--token", token, "--all", "--yes", env=PIN), 2, "--all still needs")
    _one_line(cli.run("init-token", "--label", "x", "--so-pin", SO_PIN, "--pin", USER_PIN), 2,
              "say which token to initialise")
    _one_line(cli.run("init-token", "--token", token, "--label", "x", "--so-pin", SO_PIN, "--pin", USER_PIN), 2,
              "is initialised", "add --yes")
    assert len(cli.ok("objects", "--token", token, "--json", env=PIN).json()["objects"]) == 4
