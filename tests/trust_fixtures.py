"""Fixtures for the tests of which modules p11 loads (``pytest_plugins = ["trust_fixtures"]``; helpers in
trust_support.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from trust_support import Evil

__all__ = ["escaping_evil", "evil"]

# A file name that, printed raw, would set a hyperlink, clear the screen and forge a second line of output.
ESCAPING_NAME = "x\x1b]8;;https:e.x\x1b\\\x1b[2J\nforged: ok.so"


def _built(directory: Path, name: str = "evil.so") -> Evil:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the test module")
    return Evil(directory, name)


@pytest.fixture
def evil(tmp_path: Path) -> Evil:
    return _built(tmp_path / "evil")


@pytest.fixture
def escaping_evil(tmp_path: Path) -> Evil:
    """The evil module under :data:`ESCAPING_NAME`."""
    return _built(tmp_path / "evil", ESCAPING_NAME)
