"""module-name lookup through p11-kit's module config, as RFC 7512 module-name resolution needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from p11 import modules
from p11.testing import find_softhsm_module
from tests.support import outcome_unless_stuck


def test_softhsm_found_by_its_p11kit_config_name() -> None:
    path = modules.find_module("softhsm2")
    assert Path(path).is_file()
    assert Path(path).name == "libsofthsm2.so"


def test_module_found_by_library_stem_in_a_private_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mytoken.module").write_text(f"# comment\nmodule: {find_softhsm_module()}\npriority: 3\n")
    monkeypatch.setattr(modules, "config_dirs", lambda: [tmp_path])
    assert modules.find_module("mytoken") == find_softhsm_module()
    assert modules.find_module("softhsm2") == find_softhsm_module()


def test_config_without_module_line_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.module").write_text("priority: 1\n")
    monkeypatch.setattr(modules, "config_dirs", lambda: [tmp_path])
    monkeypatch.setattr(modules, "module_dirs", lambda: [tmp_path])
    with pytest.raises(modules.ModuleNotFound, match="no PKCS#11 module named 'broken'"):
        modules.find_module("broken")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_among_the_configs_is_skipped_without_blocking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os.mkfifo(tmp_path / "a-stuck.module")  # sorted first: read before the real one
    (tmp_path / "mytoken.module").write_text(f"module: {find_softhsm_module()}\n")
    monkeypatch.setattr(modules, "config_dirs", lambda: [tmp_path])
    assert outcome_unless_stuck(lambda: modules.find_module("mytoken")) == find_softhsm_module()


def test_unknown_name_says_where_it_looked() -> None:
    expected = r"no PKCS#11 module named 'no-such-module' \(looked in: .*p11-kit"
    with pytest.raises(modules.ModuleNotFound, match=expected):
        modules.find_module("no-such-module")


@pytest.mark.parametrize("name", ["", "/usr/lib/softhsm/libsofthsm2.so", "..\\x"])
def test_paths_are_not_names(name: str) -> None:
    with pytest.raises(modules.ModuleNotFound, match="not a plain module name"):
        modules.find_module(name)
