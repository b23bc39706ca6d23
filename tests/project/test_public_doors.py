"""The ``p11`` command is a client of p11's public API (issue 22): every name it imports from outside ``p11.cli``
comes from ``p11`` itself or from a public module of the API reference, and is in that module's ``__all__``. The
public modules are the reference's own list (docs/_ext/p11_reference.py), so what the command may use and what is
documented cannot drift apart; import-linter's ``cli-public-doors`` contract forbids the internal packages too.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

CLI = ROOT / "src" / "p11" / "cli"


def _reference_public_modules() -> list[str]:
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        return list(importlib.import_module("p11_reference").public_modules())
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))


def _imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, module, name) for each name ``path`` imports from p11 outside p11.cli (``import p11.x`` as name "")."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "p11" and not node.module.startswith("p11.cli"):
                for alias in node.names:
                    yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("p11.") and not alias.name.startswith("p11.cli"):
                    yield node.lineno, alias.name, ""


def _problems(paths: list[Path], public: list[str]) -> list[str]:
    problems = []
    for path in paths:
        for line, module, name in _imports(path):
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}"
            if module not in public:
                problems.append(f"{where} imports {module}, not a public module")
                continue
            exported = getattr(importlib.import_module(module), "__all__", ())
            if name and name not in exported:
                problems.append(f"{where} imports {name} from {module}, which does not export it (__all__)")
    return problems


def test_the_command_imports_only_public_names() -> None:
    public = _reference_public_modules()
    assert _problems(sorted(CLI.glob("*.py")), public) == []


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("from p11.ops.keygen import key_templates", "p11.ops.keygen, not a public module"),
        ("from p11.api.uris import uri_for_object", "p11.api.uris, not a public module"),
        ("import p11.lowlevel.calls", "p11.lowlevel.calls, not a public module"),
        ("from p11.opener import _typed", "imports _typed from p11.opener, which does not export it"),
        ("from p11.crypto.exporting import to_pem", "p11.crypto.exporting, not a public module"),
    ],
)
def test_a_reach_into_the_internals_is_named(tmp_path: Path, line: str, why: str) -> None:
    # The check itself can fail: each of these is what the command once did, or could do by mistake.
    bad = tmp_path / "bad.py"
    bad.write_text(f"{line}\n")
    problems = _problems([bad], _reference_public_modules())
    assert len(problems) == 1 and why in problems[0], problems
