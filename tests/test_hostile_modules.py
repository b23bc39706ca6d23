"""What whoever writes a URI, a CA directory or a module path can make p11 load or print (p11.trust, the ``p11``
command's error line): nothing they name runs, and nothing they write reaches a terminal or a log as anything but
text."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from trust_support import Evil

import p11
from p11 import errors

pytest_plugins = ["trust_fixtures"]

def test_an_untrusted_module_path_reaches_the_message_only_as_text(escaping_evil: Evil) -> None:
    with pytest.raises(errors.UntrustedModule) as info:
        p11.open(f"pkcs11:token=t?module-path={quote(str(escaping_evil.path))}")
    message = str(info.value)
    assert message.isprintable(), message  # no escape, no newline: one line in a log, nothing for a terminal
    assert repr(str(escaping_evil.path)) in message  # the path itself, quoted
    assert not escaping_evil.ran


def test_the_advice_for_the_shell_is_quoted_for_the_shell(evil: Evil, tmp_path: Path) -> None:
    odd = tmp_path / "dir with space" / "a;touch pwned.so"
    odd.parent.mkdir()
    odd.write_bytes(evil.path.read_bytes())
    with pytest.raises(errors.UntrustedModule) as info:
        p11.open(f"pkcs11:token=t?module-path={quote(str(odd))}")
    assert f"--module '{odd}'" in str(info.value) and f"P11_ALLOW_MODULES='{odd}'" in str(info.value)
    assert not evil.ran


@pytest.mark.parametrize("debug", [False, True])
def test_the_cli_error_line_carries_no_escape_sequence(cli: Any, escaping_evil: Evil, debug: bool) -> None:
    result = cli.run("info", "--uri", f"pkcs11:?module-path={quote(str(escaping_evil.path))}",
                     *(["--debug"] if debug else []))
    assert result.code == 2
    assert "\x1b" not in result.stderr and "\\x1b" in result.stderr
    assert not any(line.startswith("forged:") for line in result.stderr.splitlines())
    if not debug:
        assert len(result.error_lines) == 1
    else:
        assert "Traceback (most recent call last)" in result.stderr
    assert not escaping_evil.ran
