"""The test tree mirrors the source, and stays so: every test module in an area folder (``tests/<area>/``, a
package, so that two areas may both have a ``test_errors.py``), fixtures from conftest.py files only, the suite's
PINs in ``tests.support`` only, and the test harnesses (interop tokens, fault module) outside the installed package.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import p11.testing
from tests.support import ROOT

TESTS = ROOT / "tests"


def _modules() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "data" not in path.relative_to(TESTS).parts)


def test_every_test_module_is_in_an_area_package() -> None:
    loose = sorted(str(path.relative_to(ROOT)) for path in TESTS.glob("test_*.py"))
    assert loose == [], "a test module outside an area folder"
    areas = {path.relative_to(TESTS).parts[0] for path in TESTS.rglob("test_*.py")}
    assert areas and all((TESTS / area / "__init__.py").is_file() for area in areas), areas
    assert (TESTS / "__init__.py").is_file() and (TESTS / "support" / "__init__.py").is_file()


def test_only_the_root_conftest_names_plugins() -> None:
    naming = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in targets):
                naming.append(str(path.relative_to(ROOT)))
    assert naming == [], "fixtures come from conftest.py files, not from pytest_plugins lists"


def test_pins_are_written_in_tests_support_only() -> None:
    """A PIN constant (a module-level name ending in PIN bound to a string) is defined once, in tests.support."""
    home = TESTS / "support" / "__init__.py"
    elsewhere = []
    for path in _modules():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
                continue
            if isinstance(node.value.value, str):
                names = [t.id for t in node.targets if isinstance(t, ast.Name) and t.id.endswith("PIN")]
                if names and path != home:
                    elsewhere.append(f"{path.relative_to(ROOT)}: {', '.join(names)}")
    assert elsewhere == []


def test_the_installed_package_holds_the_softhsm_fixture_and_no_harness() -> None:
    shipped = {path.name for path in Path(p11.testing.__file__).parent.glob("*.py")}
    assert {"softhsm.py", "plugin.py"} <= shipped
    assert not shipped & {"interop.py", "faults.py"}, "the test harnesses are not part of the wheel"
    for gone in ("p11.testing.interop", "p11.testing.faults"):
        assert importlib.util.find_spec(gone) is None, gone
