"""Which token a selection means, the same for the ``p11`` command and ``p11.open`` (``p11.opener.find_token``):
SoftHSM's uninitialised spare slot never makes a selection ambiguous, and an object URI that names no token finds
the token holding the object. Run as a user does, as subprocesses, on a store of its own in each test: first with
one initialised token (and the spare slot), then with two. Also ``p11 uri --only``, which refuses a short URI that
another token would match too (OpenSSL's pkcs11 engine then stops at "Multiple matching slots")."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.support import SO_PIN, USER_PIN, openssl
from tests.support.cli import CLI, PIN_ENV

KEY = "pkcs11:object=iotkey;type=private"


@pytest.fixture
def store(tmp_path):
    """A store holding one initialised token, ``greengrass``, with an EC key pair ``iotkey`` (id 0000)."""
    cli = CLI(tmp_path / "store")
    cli.new_token("greengrass")
    cli.ok("keygen", "ec", "--token", "greengrass", "--label", "iotkey", "--id", "0000", env=PIN_ENV)
    return cli


def _tokens(cli):
    return [s["token"] for s in cli.ok("info", "--json").json()["slots"] if s["token"]]


def test_one_token_and_the_spare_slot_select_without_naming_the_token(store, tmp_path):
    tokens = _tokens(store)
    assert sorted(t["initialized"] for t in tokens) == [False, True]  # SoftHSM's spare slot is there
    listed = store.ok("objects", "--json", env=PIN_ENV).json()["objects"]
    assert sorted((o["label"], o["type"]) for o in listed) == [("iotkey", "private"), ("iotkey", "public")]
    by_uri = store.ok("objects", "--uri", KEY, "--json", env=PIN_ENV).json()["objects"]
    assert [(o["label"], o["type"]) for o in by_uri] == [("iotkey", "private")]
    data = tmp_path / "data.txt"
    data.write_bytes(b"telemetry\n")
    store.ok("sign", "--uri", KEY, str(data), "--out", str(tmp_path / "sig"), env=PIN_ENV)
    store.ok("verify", "--uri", "pkcs11:object=iotkey;type=public", "--signature", str(tmp_path / "sig"),
             str(data), env=PIN_ENV)
    for command in (["mechanisms"], ["random", "8"], ["uri"]):
        assert store.run(*command, env=PIN_ENV).code == 0, command
    assert store.ok("uri").stdout.startswith("pkcs11:token=greengrass;")
    # The spare slot is still there for what acts on it: named by its slot id, or taken by --free.
    spare = next(t for t in tokens if not t["initialized"])
    assert store.ok("info", "--slot", str(spare["slot"]), "--json").json()["slots"][0]["token"]["label"] == ""
    made = store.ok("init-token", "--slot", str(spare["slot"]), "--label", "second", "--so-pin", SO_PIN,
                    "--pin", USER_PIN, "--json").json()
    assert made["label"] == "second"


def test_the_api_follows_the_same_rule(store):
    script = textwrap.dedent(
        f"""
        import p11
        token = p11.open("pkcs11:?module-path={store.module}")
        assert token.label == "greengrass", token
        key = p11.open("{KEY}?module-path={store.module}", pin="{USER_PIN}")
        assert key.token_object.session.token.label == "greengrass"
        key.token_object.session.close()
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], env=store.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_two_initialised_tokens(store, tmp_path):
    store.ok("init-token", "--free", "--label", "other", "--so-pin", SO_PIN, "--pin", "5678")
    # A token selection that matches both is ambiguous, naming both initialised tokens and not the spare slot.
    both = store.run("objects", env=PIN_ENV)
    assert both.code == 2, both.stderr
    assert "2 tokens match" in both.stderr and "token=greengrass" in both.stderr and "token=other" in both.stderr
    # An object URI finds the token holding the key: the other token refuses this PIN and is no match.
    listed = store.ok("objects", "--uri", KEY, "--json", env=PIN_ENV).json()["objects"]
    assert [o["type"] for o in listed] == ["private"]
    data = tmp_path / "data.txt"
    data.write_bytes(b"x")
    store.ok("sign", "--uri", KEY, str(data), "--out", str(tmp_path / "sig"), env=PIN_ENV)
    # The short URI p11 would print works for p11 but not for a program that picks the token first: refused.
    short = store.run("uri", "--token", "greengrass", "--label", "iotkey", "--type", "private", "--only",
                      "object,type", env=PIN_ENV)
    assert short.code == 1 and short.stdout == ""
    assert "matches 2 tokens" in short.stderr and "'greengrass'" in short.stderr and "'other'" in short.stderr
    assert "add token (--only object,type,token)" in short.stderr and "--allow-ambiguous" in short.stderr
    only = store.ok("uri", "--token", "greengrass", "--label", "iotkey", "--type", "private", "--only",
                    "object,type,token", env=PIN_ENV)
    assert only.stdout.strip() == "pkcs11:token=greengrass;object=iotkey;type=private"
    anyway = store.ok("uri", "--token", "greengrass", "--label", "iotkey", "--type", "private", "--only",
                      "object,type", "--allow-ambiguous", env=PIN_ENV)
    assert anyway.stdout.strip() == KEY
    # OpenSSL's engine agrees: the short URI fails with two initialised tokens, the one with token= signs.
    engine = {**store.env, "OPENSSL_CONF": str(store.engine_config())}
    failed = openssl("pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-sign", "-inkey",
                     f"{KEY};pin-value={USER_PIN}", "-in", str(data), env=engine)
    assert failed.returncode != 0 and "Multiple matching slots" in failed.stdout + failed.stderr
    signed = openssl("pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-sign", "-inkey",
                     f"pkcs11:token=greengrass;object=iotkey;type=private;pin-value={USER_PIN}",
                     "-in", str(data), "-out", str(tmp_path / "engine.sig"), env=engine)
    assert signed.returncode == 0, signed.stderr


def test_a_key_on_both_tokens_is_ambiguous_and_the_message_names_them(store):
    store.ok("init-token", "--free", "--label", "other", "--so-pin", SO_PIN, "--pin", USER_PIN)
    store.ok("keygen", "ec", "--token", "other", "--label", "iotkey", "--id", "0000", env=PIN_ENV)
    both = store.run("objects", "--uri", KEY, env=PIN_ENV)
    assert both.code == 2 and "2 tokens hold objects with object=iotkey;type=private" in both.stderr
    assert "token=greengrass" in both.stderr and "token=other" in both.stderr and USER_PIN not in both.stderr
    picked = store.ok("objects", "--uri", f"pkcs11:token=other;{KEY[len('pkcs11:'):]}", "--json", env=PIN_ENV)
    assert [o["uri"].split(";")[0] for o in picked.json()["objects"]] == ["pkcs11:token=other"]


def test_a_filter_found_on_no_token_lists_nothing(store):
    store.ok("init-token", "--free", "--label", "other", "--so-pin", SO_PIN, "--pin", USER_PIN)
    result = store.run("objects", "--label", "nothing", "--json", env=PIN_ENV)
    assert result.code == 0 and result.json() == {"objects": []}
    assert "no object with object=nothing on any of the 2 tokens" in result.stderr


def test_uri_only_refuses_a_short_uri_matching_two_objects_on_the_token(store):
    result = store.run("uri", "--label", "iotkey", "--type", "private", "--only", "object", env=PIN_ENV)
    assert result.code == 1 and "matches 2 objects on token 'greengrass'" in result.stderr
    assert "add type (--only object,type)" in result.stderr
    assert store.ok("uri", "--label", "iotkey", "--type", "private", "--only", "object,type",
                    env=PIN_ENV).stdout.strip() == KEY


def test_a_label_for_a_key_about_to_be_made_does_not_choose_the_token(store, tmp_path):
    store.ok("init-token", "--free", "--label", "other", "--so-pin", SO_PIN, "--pin", USER_PIN)
    args = ("req", "--new-key", "ec-p256", "--label", "fresh", "--subject", "CN=fresh", "--out", str(tmp_path / "c"))
    unnamed = store.run(*args, env=PIN_ENV)
    assert unnamed.code == 2 and "2 tokens match" in unnamed.stderr  # not "no object fresh on any token"
    store.ok(*args, "--token", "other", env=PIN_ENV)
    made = store.ok("objects", "--uri", "pkcs11:object=fresh;type=private", "--json", env=PIN_ENV).json()["objects"]
    assert [o["uri"].split(";")[0] for o in made] == ["pkcs11:token=other"]
