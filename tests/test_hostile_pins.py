"""A PIN given where the ``p11`` command reads one (a URI's pin-value) is in no repr and no output, ``--debug``
traceback included."""

from __future__ import annotations

from typing import Any

from p11.cli.select import Selection

SECRET = "98765432"


def test_a_selection_shows_no_pin_in_its_repr() -> None:
    selection = Selection(uri_text=f"pkcs11:token=t;object=k;pin-value={SECRET}", token_label="t")
    assert SECRET not in repr(selection) and "token_label='t'" in repr(selection)


def test_a_pin_in_the_uri_is_in_no_error_line_or_debug_traceback(cli: Any) -> None:
    label = cli.new_token()["label"]
    for uri in (f"pkcs11:token={label};object=none;pin-value={SECRET}",  # a wrong PIN: PinIncorrect
                f"pkcs11:token=no-such-token?pin-value={SECRET}",  # NoSuchToken, which quotes the URI
                f"pkcs11:token={label};object=x%zz?pin-value={SECRET}"):  # a malformed URI
        for debug in ((), ("--debug",)):
            result = cli.run("objects", "--uri", uri, "--json", *debug)
            assert result.code != 0
            assert SECRET not in result.stderr and SECRET not in result.stdout, result.stderr
