"""The ``p11`` command at a terminal (a pseudo-terminal driven by pexpect): the PIN prompt does not echo, and
re-initialising a token that holds objects, or deleting, asks first."""

from __future__ import annotations

import pexpect

from tests.support import SO_PIN, USER_PIN
from tests.support.cli import PIN_ENV, p11_executable


def _spawn(cli, *args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    return pexpect.spawn(p11_executable(), list(args), env={**cli.env, **(env or {})}, cwd=str(cli.directory),
                         timeout=30)


def _finish(child: pexpect.spawn) -> tuple[int, bytes]:
    rest = child.read()
    child.close()
    return child.exitstatus, rest


def test_pin_prompt_does_not_echo_and_a_wrong_pin_is_one_line(cli):
    label = cli.new_token()["label"]
    cli.ok("keygen", "aes", "--token", label, "--label", "prompted", env=PIN_ENV)
    child = _spawn(cli, "objects", "--token", label, "--json")
    child.expect_exact(f"User PIN for token '{label}': ")
    child.sendline(USER_PIN)
    code, rest = _finish(child)
    assert code == 0
    assert rest.lstrip().startswith(b"{")  # the PIN typed was not echoed: the JSON comes right after the prompt
    assert b'"label": "prompted"' in rest

    child = _spawn(cli, "keygen", "aes", "--token", label, "--label", "never")
    child.expect_exact(f"User PIN for token '{label}': ")
    child.sendline("9999")
    code, rest = _finish(child)
    lines = [line for line in rest.decode().splitlines() if line.strip()]
    assert code == 1 and lines == [lines[0]] and "CKR_PIN_INCORRECT" in lines[0] and "9999" not in rest.decode()


def test_reinitialising_a_token_with_objects_and_deleting_ask_first(cli):
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "keep", env=PIN_ENV)
    args = ("init-token", "--token", label, "--label", "wiped", "--so-pin", SO_PIN, "--pin", USER_PIN)
    child = _spawn(cli, *args)
    child.expect_exact("destroying every object on it? [y/N]: ")
    child.sendline("n")
    code, rest = _finish(child)
    assert code == 1 and b"nothing done" in rest
    assert len(cli.ok("objects", "--token", label, "--json", env=PIN_ENV).json()["objects"]) == 2  # untouched

    child = _spawn(cli, "delete", "--token", label, "--label", "keep", "--type", "public", env=PIN_ENV)
    child.expect_exact("Delete 1 object(s)? [y/N]: ")
    child.sendline("y")
    code, _ = _finish(child)
    assert code == 0
    listed = cli.ok("objects", "--token", label, "--json", env=PIN_ENV).json()["objects"]
    assert [o["type"] for o in listed] == ["private"]

    child = _spawn(cli, *args, "--json")
    child.expect_exact("[y/N]: ")
    child.sendline("y")
    code, rest = _finish(child)
    assert code == 0 and b'"label": "wiped"' in rest
    assert cli.ok("objects", "--token", "wiped", "--json", env=PIN_ENV).json() == {"objects": []}
