"""PINs are bytes and never leave a trace: a PIN that is not UTF-8 works from ``P11_PIN`` (read as bytes) as it does
from ``--pin-source`` and a URI's ``pin-value``; a ``str`` PIN that stands for no bytes raises a ValueError that
holds none of it (args, repr, cause and context chains, the ``--debug`` traceback); and the command says where a
PIN comes from when someone tries ``--pin`` or runs it without a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import p11
from p11.api.library import load
from p11.opener import open_session
from p11.testing import SoftHSM
from tests.support import SO_PIN, USER_PIN
from tests.support.cli import PIN_ENV

# A PIN that is not UTF-8 (Latin-1 'é', then a marker the tests look for in every message).
LATIN1_PIN = b"\xe9SECRETpin42"
MARKER = "SECRETpin"


def _exception_texts(exc: BaseException | None) -> list[str]:
    """Everything an exception and its chain would show: str, repr and args of each link."""
    texts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), *(repr(arg) for arg in exc.args)]
        for name in ("object", "value"):
            if hasattr(exc, name):
                texts.append(repr(getattr(exc, name)))
        texts += _exception_texts(exc.__cause__)
        exc = exc.__context__
    return texts


def _assert_holds_no_pin(exc: BaseException) -> None:
    for text in _exception_texts(exc):
        for fragment in (MARKER, "SECRET", "udce9", "\\xe9", "\udce9"):
            assert fragment not in text, text


@pytest.fixture(scope="module")
def latin1_pin_token(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A token whose user PIN is ``LATIN1_PIN``, set with ``init-token --pin-source FILE`` (bytes as they are)."""
    pin_file = tmp_path_factory.mktemp("pins") / "user.pin"
    pin_file.write_bytes(LATIN1_PIN + b"\n")
    label = "latin1-pin"
    made = cli.ok("init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin-source", str(pin_file),
                  "--json").json()
    cli.ok("keygen", "aes", "--token", label, "--label", "behind-the-pin", "--pin-source", str(pin_file))
    return {"label": label, "uri": made["uri"], "pin_file": pin_file}


def test_a_pin_that_is_not_utf8_works_from_p11_pin(cli: Any, latin1_pin_token: dict[str, Any]) -> None:
    env = {"P11_PIN": os.fsdecode(LATIN1_PIN)}  # the child's environment holds exactly these bytes
    listed = cli.run("objects", "--token", latin1_pin_token["label"], "--json", env=env)
    assert listed.code == 0, listed.stderr
    assert [o["label"] for o in listed.json()["objects"]] == ["behind-the-pin"]
    from_file = cli.ok("objects", "--token", latin1_pin_token["label"], "--json", "--pin-source",
                       str(latin1_pin_token["pin_file"]))
    assert from_file.json() == listed.json()


def test_a_wrong_pin_that_is_not_utf8_says_nothing_of_it(cli: Any, latin1_pin_token: dict[str, Any]) -> None:
    wrong = b"\xff\xfeSECRETpin"
    for args in (("objects", "--token", latin1_pin_token["label"]), ("objects", "--token", latin1_pin_token["label"],
                                                                     "--debug")):
        result = cli.run(*args, env={"P11_PIN": os.fsdecode(wrong)})
        assert result.code == 1 and "CKR_PIN_INCORRECT" in result.stderr
        for fragment in (MARKER, "xff", "udcff", "position"):
            assert fragment not in result.stderr


def test_the_api_takes_the_same_pin_as_bytes_or_as_surrogate_escapes(
    softhsm: SoftHSM, make_token: Any
) -> None:
    fresh = make_token()
    token = load(softhsm.module_path).get_token(label=fresh.label)
    escaped = LATIN1_PIN.decode("utf-8", "surrogateescape")  # what os.environ or a URI's pin-value=%E9... gives
    token.init_pin(fresh.so_pin, LATIN1_PIN)
    with token.open(user_pin=escaped) as session:
        assert session.info().state.name == "RO_USER_FUNCTIONS"
    with token.open(user_pin=LATIN1_PIN):  # the same PIN: p11's own check of a second login agrees
        pass
    uri = f"{token.uri}?module-path={softhsm.module_path}&pin-value=%E9SECRETpin42"
    with open_session(uri) as session:  # the URI's pin-value spells the same bytes
        assert session.info().state.name == "RO_USER_FUNCTIONS"


@pytest.mark.parametrize("pin", ["12\ud800" + MARKER, "\udfff" + MARKER, MARKER + "\udc41"])
def test_a_str_pin_that_stands_for_no_bytes_is_a_value_error_holding_none_of_it(
    softhsm: SoftHSM, pin: str
) -> None:
    token = load(softhsm.module_path).get_token(label=softhsm.label)
    attempts = (
        lambda: token.open(user_pin=pin),
        lambda: token.open(so_pin=pin),
        lambda: token.login(pin),
        lambda: p11.open(f"{token.uri};object=x?module-path={softhsm.module_path}", pin=pin),
    )
    for attempt in attempts:
        with pytest.raises(ValueError) as info:
            attempt()
        assert not isinstance(info.value, UnicodeError)
        assert "lone surrogate" in str(info.value)
        _assert_holds_no_pin(info.value)
    with token.open() as session, pytest.raises(ValueError) as info:
        session.login(pin)
    _assert_holds_no_pin(info.value)


# -- the PIN in the URI's path, as OpenSSL's pkcs11 engine writes it (issue 20 item 11) ------------------------------


def test_a_pin_in_the_uri_path_logs_in_through_the_api_and_the_command(cli: Any) -> None:
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "engine-style", env=PIN_ENV)
    uri = f"pkcs11:token={label};object=engine-style;type=private;pin-value={USER_PIN}"
    signed = cli.ok("sign", "--uri", uri, "--format", "hex", input=b"data")
    assert len(bytes.fromhex(signed.stdout.strip())) in (64, 70, 71, 72)
    listed = cli.ok("objects", "--uri", uri, "--json").json()["objects"]
    assert [o["type"] for o in listed] == ["private"] and "pin-value" not in listed[0]["uri"]
    code = f"import p11; key = p11.open({uri!r}); print(type(key).__name__)"
    opened = subprocess.run([sys.executable, "-c", code], env=cli.env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert opened.returncode == 0 and "EllipticCurvePrivateKey" in opened.stdout, opened.stderr


# -- where a PIN comes from, said by the command (issue 20 item 6) -------------------------------------------------


@pytest.mark.parametrize("option", ["--pin", "--pin=1234", "--user-pin"])
def test_pin_on_the_command_line_says_where_a_pin_comes_from(cli: Any, option: str) -> None:
    args = ["objects", option] + ([] if "=" in option else [USER_PIN])
    result = cli.run(*args)
    assert result.code == 2
    for hint in ("P11_PIN", "--pin-source", "prompt"):
        assert hint in result.stderr
    assert "Did you mean" not in result.stderr and "--public" not in result.stderr


def test_so_pin_on_init_pin_says_where_the_so_pin_comes_from(cli: Any) -> None:
    result = cli.run("init-pin", "--so-pin", SO_PIN)
    assert result.code == 2 and "P11_SO_PIN" in result.stderr and "--so-pin-source" in result.stderr


def test_no_terminal_says_where_a_pin_comes_from(cli: Any, tmp_path: Path) -> None:
    label = cli.new_token()["label"]
    result = cli.run("objects", "--token", label, input=b"")
    assert result.code == 2
    assert "not a terminal" in result.stderr and "P11_PIN" in result.stderr and "--pin-source" in result.stderr
    so = cli.run("init-pin", "--token", label, input=b"")
    assert so.code == 2 and "P11_SO_PIN" in so.stderr and "--so-pin-source" in so.stderr
