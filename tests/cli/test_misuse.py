"""The ``p11`` command used the way people get it wrong, run as a subprocess against a SoftHSM store of its own:
a key asked for by a name the options lose, a second key under a name already taken, a token initialised with a
PIN it cannot take, absurd numbers, standard streams that are closed. Each test names what must hold."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pexpect
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448

from tests.support import SO_PIN, USER_PIN, openssl
from tests.support.cli import CLI, PIN_ENV, p11_executable


def test_keygen_ed448_makes_an_ed448_key(cli, tmp_path):
    """``keygen ed448`` once made an Ed25519 key (the curve the name implies was dropped on the way)."""
    label = cli.new_token()["label"]
    made = cli.ok("keygen", "ed448", "--token", label, "--label", "ed", "--json", env=PIN_ENV).json()["objects"]
    assert [(o["type"], o["key_type"], o["key_size"]) for o in made] == [
        ("private", "EC_EDWARDS", 448), ("public", "EC_EDWARDS", 448)]
    pem = cli.ok("export", "--token", label, "--label", "ed", env=PIN_ENV).raw
    assert isinstance(serialization.load_pem_public_key(pem), ed448.Ed448PublicKey)
    data = tmp_path / "data"
    data.write_bytes(b"signed by Ed448")
    cli.ok("sign", str(data), "--token", label, "--label", "ed", "--out", str(tmp_path / "sig"), env=PIN_ENV)
    (tmp_path / "pub.pem").write_bytes(pem)
    checked = openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin", "-in", str(data),
                      "-sigfile", str(tmp_path / "sig"))
    assert checked.returncode == 0 and "Signature Verified Successfully" in checked.stdout, checked.stderr


def _listing(cli, label):
    return sorted((o["type"], o["label"], o["id"]) for o in
                  cli.ok("objects", "--token", label, "--json", env=PIN_ENV).json()["objects"])


def test_keygen_refuses_a_label_or_id_a_key_has_already(cli):
    """A second key pair under the label and id of the first was two keys no URI could tell apart: ``sign``,
    ``uri``, OpenSSL's engine and ``delete`` (without --all) all stopped at "ambiguous" for good."""
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "device", "--id", "01", env=PIN_ENV)
    cli.ok("keygen", "aes", "--token", label, "--label", "data", "--id", "02", env=PIN_ENV)
    before = _listing(cli, label)
    for args in (("ec", "--label", "device", "--id", "01"), ("rsa", "--label", "device"), ("ec", "--id", "01"),
                 ("aes", "--label", "data"), ("hmac", "--id", "02")):
        refused = cli.run("keygen", *args, "--token", label, env=PIN_ENV)
        assert refused.code == 2 and refused.stdout == "", (args, refused.stderr)
        assert f"token '{label}' already holds a" in refused.stderr and "p11 delete --uri" in refused.stderr, args
    assert _listing(cli, label) == before
    cli.ok("keygen", "ec", "--token", label, "--label", "spare", "--id", "03", env=PIN_ENV)
    for change in ("label=device", "id=hex:01"):
        refused = cli.run("set-attr", "--token", label, "--label", "spare", "--type", "private", change, env=PIN_ENV)
        assert refused.code == 2 and "already holds a private key with" in refused.stderr, (change, refused.stderr)
    cli.ok("set-attr", "--token", label, "--label", "spare", "--type", "private", "label=spare", "id=hex:03",
           env=PIN_ENV)
    # The same label for another kind of object is no clash (a key pair's certificate shares its label and id).
    cli.ok("keygen", "aes", "--token", label, "--label", "device", env=PIN_ENV)
    cli.ok("sign", "--token", label, "--label", "device", "--type", "private", input=b"x", env=PIN_ENV)


def test_import_twice_adds_nothing_the_second_time(cli, tmp_path):
    """Re-running a provisioning script that imports a key and its certificate doubled every object."""
    label = cli.new_token()["label"]
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=thing",
            "-days", "30", "-keyout", str(key_file), "-out", str(cert_file))
    cli.ok("import", str(key_file), str(cert_file), "--token", label, "--label", "thing", "--id", "0a", env=PIN_ENV)
    before = _listing(cli, label)
    assert [t for t, _, _ in before] == ["cert", "private", "public"]
    for args in ((str(key_file), str(cert_file), "--label", "thing", "--id", "0a"), (str(key_file), str(cert_file)),
                 (str(cert_file), "--label", "thing")):
        refused = cli.run("import", *args, "--token", label, env=PIN_ENV)
        assert refused.code == 2 and "already holds a" in refused.stderr, (args, refused.stderr)
    assert _listing(cli, label) == before
    secret = tmp_path / "secret"
    secret.write_bytes(bytes(range(32)))
    cli.ok("import", "--secret", "hmac", str(secret), "--token", label, "--label", "mac", env=PIN_ENV)
    refused = cli.run("import", "--secret", "aes", str(secret), "--token", label, "--label", "mac", env=PIN_ENV)
    assert refused.code == 2 and "already holds a secret key with label 'mac'" in refused.stderr
    # A certificate for a key made on the token (same label and id, another kind of object) is the usual flow.
    cli.ok("keygen", "ec", "--token", label, "--label", "made", "--id", "0b", env=PIN_ENV)
    made_cert = tmp_path / "made.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=made",
            "-days", "30", "-keyout", str(tmp_path / "other.key"), "-out", str(made_cert))
    cli.ok("import", str(made_cert), "--token", label, "--label", "made", "--id", "0b", env=PIN_ENV)


def test_a_new_ca_or_csr_key_under_a_taken_label_is_refused(cli, tmp_path):
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "device", env=PIN_ENV)
    before = _listing(cli, label)
    refused = cli.run("req", "--token", label, "--label", "device", "--new-key", "ec-p256", "--subject", "CN=x",
                      env=PIN_ENV)
    assert refused.code == 2 and "already holds a private key with label 'device'" in refused.stderr
    refused = cli.run("selfsign", "--ca-dir", str(tmp_path / "ca"), "--token", label, "--label", "device",
                      "--new-key", "ec-p256", "--subject", "CN=x", env=PIN_ENV)
    assert refused.code == 2 and "already holds a private key with label 'device'" in refused.stderr
    assert _listing(cli, label) == before


def _tokens(cli):
    return sorted((s["token"]["label"], s["token"]["initialized"], "USER_PIN_INITIALIZED" in s["token"]["flags"])
                  for s in cli.ok("info", "--json").json()["slots"] if s["token"])


def test_init_token_with_a_pin_the_token_cannot_take_changes_nothing(cli):
    """``init-token`` is C_InitToken then C_InitPIN: a user PIN too short for the token failed the second step
    only, leaving a token initialised without a user PIN (and a re-initialised one wiped)."""
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "kept", env=PIN_ENV)
    before = _tokens(cli)
    for pins in (("--so-pin", SO_PIN, "--pin", "1"), ("--so-pin", "1", "--pin", USER_PIN),
                 ("--so-pin", SO_PIN, "--pin", "9" * 256)):
        fresh = cli.run("init-token", "--free", "--label", "half", *pins)
        again = cli.run("init-token", "--token", label, "--label", label, "--yes", *pins)
        for result in (fresh, again):
            assert result.code == 2 and "PIN must be 4 to 255 bytes" in result.stderr, (pins, result.stderr)
            assert "9999" not in result.stderr
    assert _tokens(cli) == before
    assert [o["label"] for o in cli.ok("objects", "--token", label, "--json", env=PIN_ENV).json()["objects"]] == [
        "kept", "kept"]


def test_nan_seconds_are_refused_at_once(cli):
    """``--seconds nan`` passed click's range check (every comparison with nan is false) and ``p11 bench`` then
    measured for ever."""
    label = cli.new_token()["label"]
    for args in (("bench", "--token", label, "--only", "random-32", "--seconds", "nan"),
                 ("bench", "--token", label, "--only", "random-32", "--seconds", "-nan"),
                 ("aws", "credentials", "--endpoint", "127.0.0.1:9", "--role-alias", "r", "--thing-name", "t",
                  "--cert", "c.pem", "--key", f"pkcs11:token={label};object=k", "--timeout", "NaN")):
        result = cli.run(*args, env=PIN_ENV)
        assert result.code == 2 and "is not a number" in result.stderr, (args, result.stderr)


def _closed(cli, redirect, *args, env=None, input=None):
    """``p11 ARGS`` with a standard stream closed (``<&-``, ``>&-``, ``2>&-``), as a shell script may run it."""
    proc = subprocess.run(["bash", "-c", f'exec "$0" "$@" {redirect}', p11_executable(), *args], input=input,
                          capture_output=True, text=True, env={**cli.env, **(env or {})}, cwd=cli.directory,
                          timeout=120, check=False)
    assert "Traceback" not in proc.stderr and "AttributeError" not in proc.stderr, proc.stderr
    return proc


def test_closed_standard_streams_are_said_so(cli, tmp_path):
    """With standard input or output closed, Python has no ``sys.stdin``/``sys.stdout``: the command said
    ``AttributeError: 'NoneType' object has no attribute 'buffer'`` (or printed tracebacks)."""
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "key", env=PIN_ENV)
    before = _listing(cli, label)
    for args, env in ((("sign", "--token", label, "--label", "key"), PIN_ENV),
                      (("aws", "import-secret", "--token", label, "--label", "aws", "--secret-source", "-"), PIN_ENV)):
        proc = _closed(cli, "<&-", *args, env=env)
        assert proc.returncode == 2 and "standard input is closed" in proc.stderr, (args, proc.stderr)
    proc = _closed(cli, "<&-", "objects", "--token", label)  # no PIN, and nobody to ask
    assert proc.returncode == 2 and "standard input is not a terminal" in proc.stderr, proc.stderr
    proc = _closed(cli, "<&-", "delete", "--token", label, "--label", "key", "--type", "public", env=PIN_ENV)
    assert proc.returncode == 2 and "add --yes" in proc.stderr, proc.stderr
    for args in (("random", "8", "--token", label), ("objects", "--token", label),
                 ("keygen", "ec", "--token", label, "--label", "unseen")):
        proc = _closed(cli, ">&-", *args, env=PIN_ENV)
        assert proc.returncode == 2 and "standard output is closed" in proc.stderr, (args, proc.stderr)
    # Standard error closed: the exit code still says it, and nothing meant for it lands in a file opened later.
    proc = _closed(cli, "2>&-", "sign", "--token", label, "--label", "missing", "--out", str(tmp_path / "sig"),
                   input="x", env=PIN_ENV)
    assert proc.returncode == 1 and not (tmp_path / "sig").exists()
    assert _listing(cli, label) == before


def _peak_rss_mb(cli, *args):
    """Run ``p11 ARGS`` under a Python parent of its own: (exit code, the child's peak resident memory in MiB)."""
    probe = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)"
             ".returncode; print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")
    proc = subprocess.run([sys.executable, "-c", probe, p11_executable(), *args], capture_output=True, text=True,
                          env={**cli.env, **PIN_ENV}, cwd=cli.directory, timeout=300, check=True)
    code, peak = proc.stdout.split()
    return int(code), int(peak)


def test_sign_verify_and_digest_stream_a_large_file(cli, tmp_path):
    """A firmware image is signed as it is read: ``p11 sign`` of 1 GiB held the file three times over (3 GiB of
    memory for RSA), so an image larger than a third of the memory could not be signed at all."""
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "fw", env=PIN_ENV)
    cli.ok("keygen", "rsa", "--token", label, "--label", "fw-rsa", env=PIN_ENV)
    cli.ok("export", "--token", label, "--label", "fw", "--out", str(tmp_path / "fw.pem"), env=PIN_ENV)
    image = tmp_path / "image.bin"
    with image.open("wb") as file:
        file.write(b"firmware header")
        file.truncate(1 << 30)  # sparse: a GiB to read, nothing on disk
    for key in ("fw", "fw-rsa"):
        code, peak = _peak_rss_mb(cli, "sign", str(image), "--token", label, "--label", key,
                                  "--out", str(tmp_path / f"{key}.sig"))
        assert code == 0 and peak < 300, (key, peak)
        code, peak = _peak_rss_mb(cli, "verify", str(image), "--token", label, "--label", key,
                                  "--signature", str(tmp_path / f"{key}.sig"))
        assert code == 0 and peak < 300, (key, peak)
    checked = openssl("dgst", "-sha256", "-verify", str(tmp_path / "fw.pem"), "-signature", str(tmp_path / "fw.sig"),
                      str(image))
    assert checked.stdout.strip() == "Verified OK", checked.stderr
    code, peak = _peak_rss_mb(cli, "digest", str(image), "--token", label)
    assert code == 0 and peak < 300, peak
    # Data and signature both from standard input: the signature read nothing and "did not verify".
    both = cli.run("verify", "--token", label, "--label", "fw", "--signature", "-",
                   input=(tmp_path / "fw.sig").read_bytes(), env=PIN_ENV)
    assert both.code == 2 and "cannot both come from standard input" in both.stderr, both.stderr


def _answer_at(cli, args, prompt, env, key, moment):
    """Run ``p11 ARGS`` on a terminal and type Ctrl-C (``key`` "intr") or Ctrl-D ("eof") at ``moment``: "spawn"
    (while it starts), "prompt" (the instant the prompt shows) or "waiting" (once it waits for the answer). The
    command must end by itself, well before pexpect's timeout: (exit code or None, killed by signal, output)."""
    child = pexpect.spawn(p11_executable(), list(args), env=env, cwd=str(cli.directory), timeout=60)
    if moment != "spawn":
        child.expect_exact(prompt)
        if moment == "waiting":
            time.sleep(0.3)
    child.sendintr() if key == "intr" else child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.signalstatus, child.before.decode(errors="replace")


def test_ctrl_c_or_end_of_input_at_a_prompt(cli):
    """Ctrl-C at a PIN or confirmation prompt ended with click's bare "Aborted!" and exit 1, where Ctrl-C anywhere
    else is "p11: interrupted" and exit 130; end of input (Ctrl-D) likewise said only "Aborted!". And a Ctrl-C
    typed as the prompt appeared could hang the command: Python's ``input()`` noted the SIGINT only after its
    read(2) returned, and a SIGINT landing between the prompt's write and the read left that read waiting for a line
    nobody types (a CI run sat at ``p11 delete``'s ``[y/N]`` until the test's timeout)."""
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "key", env=PIN_ENV)
    for args, prompt in ((("objects", "--token", label), "User PIN for token"),
                         (("delete", "--token", label, "--label", "key", "--type", "public"), "Delete 1 object(s)?")):
        env = {**cli.env, **(PIN_ENV if "delete" in args else {})}
        for moment in ("spawn", "prompt", "waiting"):
            for key, code, said in (("intr", 130, "p11: interrupted"),
                                    ("eof", 1, "p11: error: no answer at the prompt")):
                status, signalled, text = _answer_at(cli, args, prompt, env, key, moment)
                where = (args, key, moment, status, signalled, text)
                if key == "intr" and moment == "spawn" and signalled == signal.SIGINT:
                    continue  # ^C before Python's own handler was in place: SIGINT ended it, as any program
                assert status == code and said in text and "Aborted!" not in text, where
                if moment != "spawn":
                    assert "Traceback" not in text, where
    assert len(cli.ok("objects", "--token", label, "--json", env=PIN_ENV).json()["objects"]) == 2


def test_the_help_examples_of_delete_and_init_token_run_as_written(tmp_path):
    """``p11 delete --help`` showed ``p11 delete --token greengrass --label old-key --yes``, which stops at
    "ambiguous" for every key ``keygen`` makes (a pair); ``p11 init-token --help`` showed ``--slot 0`` after making
    a token, when SoftHSM's spare slot is then 1. Run in a store of their own, as a new user's."""
    cli = CLI(tmp_path / "store")
    cli.ok("init-token", "--free", "--label", "greengrass", "--so-pin", SO_PIN, "--pin", USER_PIN)
    (cli.directory / "so.pin").write_text(SO_PIN + "\n")
    (cli.directory / "user.pin").write_text(USER_PIN + "\n")
    examples = [line.split("#")[0].split() for command in ("delete", "init-token")
                for line in cli.ok(command, "--help").stdout.split("Example:")[1].splitlines() if line.strip()]
    for words in examples:
        assert words[0] == "p11", words
        if "delete" in words:
            cli.ok("keygen", "ec", "--token", "greengrass", "--label", "old-key", env=PIN_ENV)
        if "init-token" not in words or "--slot" in words:  # the --free example made greengrass above
            deleted = cli.ok(*words[1:], "--json", env=PIN_ENV).json().get("deleted", [])
            assert len(deleted) == (2 if "--all" in words else 1 if "delete" in words else 0), words
    # Without --all, a pair is ambiguous: the message says how to delete both.
    cli.ok("keygen", "ec", "--token", "greengrass", "--label", "pair", env=PIN_ENV)
    pair = cli.run("delete", "--token", "greengrass", "--label", "pair", "--yes", env=PIN_ENV)
    assert pair.code == 2 and "add --all to delete them all" in pair.stderr, pair.stderr


def test_a_session_on_the_uninitialised_token_says_initialise_it(cli):
    """``--slot`` may name SoftHSM's spare token; what needs a session there failed as a bare
    ``C_OpenSession: CKR_TOKEN_NOT_RECOGNIZED (0x000000E1)``, after asking for a PIN it could not use."""
    cli.new_token()
    spare = next(s["id"] for s in cli.ok("info", "--json").json()["slots"]
                 if s["token"] and not s["token"]["initialized"])
    for args in (("keygen", "ec", "--label", "x"), ("objects",), ("random", "8")):
        result = cli.run(*args, "--slot", str(spare), env=PIN_ENV, input=b"x")
        assert result.code == 1, (args, result.stderr)
        assert f"the token in slot {spare} is not initialised" in result.stderr, (args, result.stderr)
        assert f"p11 init-token --slot {spare}" in result.stderr and "CKR_" not in result.stderr
    assert cli.ok("mechanisms", "--slot", str(spare), "--json").json()["mechanisms"]  # no session needed: works
