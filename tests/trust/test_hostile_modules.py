"""What whoever writes a URI, a CA directory or a module path can make p11 load or print (p11.trust, the ``p11``
command's error line): nothing they name runs, and nothing they write reaches a terminal or a log as anything but
text."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import p11
from p11 import errors
from p11.testing import SoftHSM
from tests.support import python
from tests.trust.helpers import Evil, lose_the_race, no_registrations


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


def test_a_module_loaded_by_a_relative_path_stays_that_file_after_a_chdir(
    softhsm: SoftHSM, evil: Evil, tmp_path: Path
) -> None:
    """The caller loads ``./libsofthsm2.so`` in its own directory, then works in a directory someone else can write.
    A URI naming the loaded file must load that file: not whatever ``./libsofthsm2.so`` names in the new directory,
    even when the attacker there wins the race between p11's check and the load (simulated: the file is swapped
    right after the check). (glibc's dlopen happens to answer "./libsofthsm2.so" with the library it loaded by
    that name, unread; a loader that compares files, as musl's does, would map the swapped one.)"""
    own = tmp_path / "own"
    own.mkdir()
    shutil.copyfile(os.path.realpath(softhsm.module_path), own / "libsofthsm2.so")
    shared = tmp_path / "shared"  # the other directory: its ./libsofthsm2.so is a hard link to the loaded file
    shared.mkdir()
    os.link(own / "libsofthsm2.so", shared / "libsofthsm2.so")
    result = python(f"""
        {no_registrations()}
        {lose_the_race(evil.path, shared / "libsofthsm2.so")}
        import os, p11
        os.chdir("{own}")
        p11.load("./libsofthsm2.so")
        os.chdir("{shared}")
        token = p11.open("pkcs11:token={softhsm.label}?module-path={own}/libsofthsm2.so")
        print(os.path.realpath(token.library.path))
    """, env={**os.environ, "P11_MODULE": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(own / "libsofthsm2.so")]
    assert not evil.path.exists()  # the swap happened: shared/libsofthsm2.so is the attacker's library now
    assert not evil.ran


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="only root can give a symlink away")
def test_a_p11_kit_registration_symlinked_by_another_user_does_not_count(
    softhsm: SoftHSM, evil: Evil, tmp_path: Path
) -> None:
    """Someone who may add files to a configuration directory (a group-writable /usr/local/share/p11-kit/modules)
    but whose own files are ignored links to a file of root's that holds a ``module:`` line: the file is root's,
    the choice was theirs."""
    configs = tmp_path / "pkcs11-modules"
    configs.mkdir()
    words = tmp_path / "notes.txt"  # root's file; what it says was not meant as a registration
    words.write_text(f"todo:\nmodule: {evil.path}\n", encoding="utf-8")
    planted = configs / "planted.module"
    planted.symlink_to(words)
    os.lchown(planted, 65534, 65534)
    admins = configs / "admins.module"  # root's own link to root's own file still counts
    registration = tmp_path / "softhsm-copy.module"
    registration.write_text(f"module: {os.path.realpath(softhsm.module_path)}\n", encoding="utf-8")
    admins.symlink_to(registration)
    result = python(f"""
        import os, p11, p11.modules
        from pathlib import Path
        p11.modules.config_dirs = lambda: [Path("{configs}")]
        print(sorted(r.config.name for r in p11.modules.registered_modules()))
        try:
            p11.open("pkcs11:?module-path={evil.path}")
        except p11.UntrustedModule:
            print("refused")
    """, env={**os.environ, "P11_MODULE": ""}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['admins.module']", "refused"]
    assert not evil.ran


def test_a_data_path_swapped_after_the_check_is_not_what_loads(softhsm: SoftHSM, evil: Evil, tmp_path: Path) -> None:
    """The URI names a symlink, in a directory its author controls, to the module the caller trusts
    (``P11_MODULE``); right after p11's check the author points it at their library. p11 loads the trusted path,
    never the data's, so the swap changes nothing."""
    link = tmp_path / "swapped.so"
    link.symlink_to(os.path.realpath(softhsm.module_path))
    (tmp_path / "to-evil.so").symlink_to(evil.path)
    result = python(f"""
        {no_registrations()}
        {lose_the_race(tmp_path / "to-evil.so", link)}
        import os, p11
        token = p11.open("pkcs11:token={softhsm.label}?module-path={link}")
        print(os.path.realpath(token.library.path))
    """, env={**os.environ, "P11_MODULE": os.path.realpath(softhsm.module_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [os.path.realpath(softhsm.module_path)]
    assert os.path.realpath(link) == str(evil.path)  # the swap happened
    assert not evil.ran
