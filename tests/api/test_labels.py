"""Labels that are not UTF-8, as real tokens have them: pkcs11-tool writes a token labelled ``caf\\xe9`` (Latin-1)
and a key pair labelled ``cl\\xe9``. p11 keeps their bytes: a lossless ``str`` (surrogate escapes), the exact bytes
percent-encoded in URIs (what OpenSSL's engine and p11-kit read), ``\\xNN`` in tables and JSON, matching on bytes.
Two tokens, ``caf\\xe9`` and ``caf\\xe8``, stay two."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support import SO_PIN, USER_PIN, openssl
from tests.support.cli import ENGINE, PIN_ENV

CAFE = b"caf\xe9"
CAFE_OTHER = b"caf\xe8"
KEY = b"cl\xe9"


def _bytes_arg(data: bytes) -> str:
    """A command-line argument holding these bytes (argv is bytes; Python spells the others as escapes)."""
    return os.fsdecode(data)


def _pkcs11_tool(cli: Any, *args: str) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(["pkcs11-tool", "--module", cli.module, *args], env=cli.env, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result


def _free_slot(cli: Any) -> int:
    slots = cli.ok("info", "--json").json()["slots"]
    return next(s["id"] for s in slots if s["token"] is not None and not s["token"]["initialized"])


def _latin1_token(cli: Any, label: bytes) -> None:
    """A token initialised by pkcs11-tool with a Latin-1 label, its user PIN set, a key pair labelled ``cl\\xe9``."""
    slot = str(_free_slot(cli))
    _pkcs11_tool(cli, "--init-token", "--slot", slot, "--label", _bytes_arg(label), "--so-pin", SO_PIN)
    name = _bytes_arg(label)
    _pkcs11_tool(cli, "--token-label", name, "--login", "--login-type", "so", "--so-pin", SO_PIN, "--init-pin",
                 "--pin", USER_PIN)
    _pkcs11_tool(cli, "--token-label", name, "--login", "--pin", USER_PIN, "--keypairgen", "--key-type",
                 "EC:prime256v1", "--label", _bytes_arg(KEY), "--id", "01")


@pytest.fixture(scope="module")
def latin1(cli: Any) -> Any:
    if subprocess.run(["which", "pkcs11-tool"], capture_output=True, check=False).returncode != 0:
        pytest.skip("needs pkcs11-tool (opensc)")
    _latin1_token(cli, CAFE)
    _latin1_token(cli, CAFE_OTHER)
    return cli


def test_objects_lists_a_latin1_labelled_key_in_a_table_and_in_json(latin1: Any) -> None:
    table = latin1.ok("objects", "--token", _bytes_arg(CAFE), env=PIN_ENV)
    assert "cl\\xe9" in table.stdout
    rows = latin1.ok("objects", "--token", _bytes_arg(CAFE), "--json", env=PIN_ENV).json()["objects"]
    assert sorted(r["type"] for r in rows) == ["private", "public"]
    for row in rows:
        assert row["label"] == "cl\\xe9"  # shown escaped, as the table shows it
        assert row["uri"].startswith("pkcs11:token=caf%E9;") and ";object=cl%E9;" in row["uri"]


def test_two_latin1_labels_stay_two_tokens_with_their_own_uris(latin1: Any) -> None:
    tokens = [s["token"] for s in latin1.ok("info", "--json").json()["slots"] if s["token"]]
    labels = {t["label"]: t["uri"] for t in tokens}
    assert labels["caf\\xe9"].startswith("pkcs11:token=caf%E9;")
    assert labels["caf\\xe8"].startswith("pkcs11:token=caf%E8;")
    for uri in ("pkcs11:token=caf%E9", "pkcs11:token=caf%E8"):  # each selects its own token, not both
        rows = latin1.ok("objects", "--uri", uri, "--json", env=PIN_ENV).json()["objects"]
        assert rows and all(r["uri"].startswith(uri + ";") for r in rows)


@pytest.mark.skipif(not ENGINE.is_file(), reason="needs OpenSSL's pkcs11 engine (libengine-pkcs11-openssl)")
def test_openssl_reads_the_uri_p11_prints_for_a_latin1_key(latin1: Any, tmp_path: Path) -> None:
    uri = latin1.ok("uri", "--token", _bytes_arg(CAFE), "--label", _bytes_arg(KEY), "--type", "public",
                    env=PIN_ENV).stdout.strip()
    assert uri.startswith("pkcs11:token=caf%E9;") and "object=cl%E9" in uri
    env = {**latin1.env, "OPENSSL_CONF": str(latin1.engine_config())}
    result = openssl("pkey", "-engine", "pkcs11", "-inform", "engine", "-in", uri, "-pubin", "-pubout", env=env,
                     cwd=tmp_path)
    assert result.returncode == 0 and "BEGIN PUBLIC KEY" in result.stdout, result.stderr


def test_the_api_keeps_the_bytes_and_finds_by_them(latin1: Any) -> None:
    code = f"""
        import p11
        lib = p11.load({latin1.module!r})
        print(" ".join(t.label.encode("utf-8", "surrogateescape").hex() for t in lib.tokens() if t.label))
        token = lib.get_token(label={CAFE!r}.decode("utf-8", "surrogateescape"))
        print(token.uri)
        key = p11.open("pkcs11:token=caf%E9;object=cl%E9;type=private", pin={USER_PIN!r})
        print(key.token_object.label.encode("utf-8", "surrogateescape"), key.token_object.uri)
        again = p11.open(key.token_object.uri.replace(module_path={latin1.module!r}), pin={USER_PIN!r})
        print(again.token_object == key.token_object)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=latin1.env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    labels = lines[0].split()
    assert CAFE.hex() in labels and CAFE_OTHER.hex() in labels  # two labels one byte apart stay two
    assert lines[1].startswith("pkcs11:token=caf%E9;")
    assert lines[2].startswith("b'cl\\xe9' pkcs11:token=caf%E9;") and "object=cl%E9" in lines[2]
    assert lines[3] == "True"


def test_delete_by_id_removes_a_latin1_labelled_key_pair(latin1: Any) -> None:
    doomed = b"doomed\xe9"  # a token of this test's own: the others keep their keys whatever the order
    _latin1_token(latin1, doomed)
    deleted = latin1.ok("delete", "--token", _bytes_arg(doomed), "--id", "01", "--all", "--yes", "--json",
                        env=PIN_ENV).json()["deleted"]
    assert sorted(r["type"] for r in deleted) == ["private", "public"]
    assert latin1.ok("objects", "--token", _bytes_arg(doomed), "--json", env=PIN_ENV).json()["objects"] == []


def test_init_token_takes_a_label_that_is_not_utf8_from_the_command_line(cli: Any) -> None:
    made = cli.ok("init-token", "--free", "--label", _bytes_arg(b"ca\xefe"), "--so-pin", SO_PIN, "--pin", USER_PIN,
                  "--json").json()
    assert made["label"] == "ca\\xefe" and made["uri"].startswith("pkcs11:token=ca%EFe;")
    listed = subprocess.run(["pkcs11-tool", "--module", cli.module, "--list-token-slots"], env=cli.env,
                            capture_output=True, timeout=60, check=False).stdout
    assert b"ca\xefe" in listed  # the token holds exactly the bytes given


def test_printable_escapes_what_is_not_text_and_nothing_else() -> None:
    from p11.cli.output import printable

    assert printable("iot-device 7") == "iot-device 7"
    assert printable("caf\u00e9 \u2603") == "caf\u00e9 \u2603"
    assert printable(CAFE.decode("utf-8", "surrogateescape")) == "caf\\xe9"
    assert printable("a\\xe9") == "a\\\\xe9"  # a label that spells an escape reads differently from the byte
    assert printable("bell\x07\x1b[31mred\nline") == "bell\\x07\\x1b[31mred\\nline"
    assert printable("abc\u202eevil") == "abc\\u202eevil"  # a bidi override would reorder the row
