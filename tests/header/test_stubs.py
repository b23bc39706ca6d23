"""The type stubs tell the truth about the runtime: ``constants.pyi`` is what the header builds, ``_native.pyi`` is
what the compiled extension exports.

Why: the package ships ``py.typed``, and its enums (built at import from ``p11._cffi.lib``) and its Cython module are
invisible to a type checker except through these stubs. A stub that drifts from the header or from ``native/``
would make type checkers accept wrong code and reject right code, silently. So the constants stub is regenerated
here and compared byte for byte, its members are checked value by value against the runtime enums, and the
``_native`` stub is checked name by name (and, with mypy installed, signature by signature with ``stubtest``).
"""

from __future__ import annotations

import ast
import enum
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import p11
import p11._native
import p11.constants
import p11.errors
from tests.support import ROOT

SRC_PACKAGE = ROOT / "src" / "p11"
STUBS = ("constants.pyi", "_native.pyi", "_cffi.pyi")

# Cython adds these to the module and to classes without a __reduce__ of their own (which ones depends on the Cython
# version, hence --ignore-unused-allowlist); they are not p11's API.
STUBTEST_ALLOWLIST = (
    r"p11\._native\.(\w+\.)?__(reduce|setstate)_cython__",
    r"p11\._native\.__test__",
)


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_stubs", ROOT / "scripts" / "gen_stubs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(name: str) -> ast.Module:
    return ast.parse((SRC_PACKAGE / name).read_text(encoding="utf-8"), filename=name)


def _defined_names(body: list[ast.stmt]) -> set[str]:
    """Names a stub body defines: functions (overloads once), classes, annotated and assigned names."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):  # an explicit re-export: `from m import X as X`
            names.update(a.name for a in node.names if a.asname == a.name)
    return names


def _public(names: set[str]) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def _stub_classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _runtime_enums() -> dict[str, type[enum.Enum]]:
    return {
        name: obj
        for name in p11.constants.__all__
        if isinstance(obj := getattr(p11.constants, name), type) and issubclass(obj, enum.Enum)
    }


# -- constants.pyi --------------------------------------------------------------------------------------------


def test_constants_stub_is_what_the_generator_writes_from_the_header() -> None:
    generated = _load_generator().render(p11.constants)
    checked_in = (SRC_PACKAGE / "constants.pyi").read_text(encoding="utf-8")
    assert generated == checked_in, "src/p11/constants.pyi is stale: run `.venv/bin/python scripts/gen_stubs.py`"


def test_constants_stub_gives_every_enum_member_its_runtime_value() -> None:
    classes = _stub_classes(_parse("constants.pyi"))
    enums = _runtime_enums()
    assert enums, "p11.constants exports no enums"
    for name, runtime in enums.items():
        stub = classes[name]
        valued = {
            node.targets[0].id: ast.literal_eval(node.value)
            for node in stub.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        }
        aliases = {
            node.target.id: ast.unparse(node.annotation)
            for node in stub.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        }
        canonical = {n: int(m.value) for n, m in runtime.__members__.items() if m.name == n}
        runtime_aliases = {n for n, m in runtime.__members__.items() if m.name != n}
        assert valued == canonical, f"{name}: members or values differ from the runtime enum"
        assert set(aliases) == runtime_aliases, f"{name}: aliases differ from the runtime enum"
        assert set(aliases.values()) <= {name}, f"{name}: an alias is not typed as a {name}"


def test_constants_stub_declares_the_exports_and_module_values() -> None:
    tree = _parse("constants.pyi")
    (declared_all,) = (
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    )
    assert declared_all == list(p11.constants.__all__)
    assert _public(_defined_names(tree.body)) == set(p11.constants.__all__)
    ints = {n for n in p11.constants.__all__ if not isinstance(getattr(p11.constants, n), type)}
    annotated_int = {
        node.target.id
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and ast.unparse(node.annotation) == "int"
    }
    assert ints and ints == annotated_int


def test_constants_stub_keeps_the_runtime_bases_and_vendor_conversion() -> None:
    classes = _stub_classes(_parse("constants.pyi"))
    vendor_base = classes["_VendorAwareEnum"]
    missing = [n for n in vendor_base.body if isinstance(n, ast.FunctionDef) and n.name == "_missing_"]
    assert missing and any(ast.unparse(d) == "classmethod" for d in missing[0].decorator_list)
    assert missing[0].returns is not None and ast.unparse(missing[0].returns) == "_VendorAwareEnum | None"
    for name, runtime in _runtime_enums().items():
        stub = classes[name]
        bases = [ast.unparse(b) for b in stub.bases]
        keywords = {k.arg: ast.unparse(k.value) for k in stub.keywords}
        if issubclass(runtime, p11.constants._VendorAwareEnum):
            assert bases == ["_VendorAwareEnum"], name
            # the behaviour the stub promises: an unnamed (vendor) value still converts
            assert isinstance(runtime(0x80000123), runtime)
        else:
            assert issubclass(runtime, enum.IntFlag) and bases == ["enum.IntFlag"], name
            keeps_unknown_bits = getattr(runtime, "_boundary_", None) is enum.KEEP
            assert (keywords.get("boundary") == "enum.KEEP") == keeps_unknown_bits, name


def test_generator_check_mode_fails_on_a_stale_stub_and_passes_on_a_fresh_one(tmp_path: Path) -> None:
    generator = _load_generator()
    stub = tmp_path / "constants.pyi"
    stub.write_text("# stale\n", encoding="utf-8")
    assert generator.main(["--check", "--output", str(stub)]) == 1
    assert generator.main(["--output", str(stub)]) == 0
    assert generator.main(["--check", "--output", str(stub)]) == 0
    assert stub.read_text(encoding="utf-8") == generator.render(p11.constants)


# -- _native.pyi ----------------------------------------------------------------------------------------------


def test_native_stub_names_exactly_the_public_names_the_module_exports() -> None:
    stub_names = _public(_defined_names(_parse("_native.pyi").body))
    runtime_names = _public(set(dir(p11._native)))
    assert runtime_names - stub_names == set(), "exported by p11._native but missing from _native.pyi"
    assert stub_names - runtime_names == set(), "named in _native.pyi but not exported by p11._native"


def test_native_stub_classes_name_exactly_their_public_attributes() -> None:
    classes = _stub_classes(_parse("_native.pyi"))
    public_classes = {n for n in _public(set(dir(p11._native))) if isinstance(getattr(p11._native, n), type)}
    assert {"Mechanism", "SessionPool", "Template", "Unavailable"} <= public_classes
    for name in sorted(public_classes):
        if name not in classes:  # re-exported by the stub (`from p11.errors import PoolClosed as PoolClosed`)
            assert getattr(p11._native, name) is getattr(p11.errors, name), name
            continue
        runtime = _public(set(vars(getattr(p11._native, name))))
        stub = _public(_defined_names(classes[name].body))
        assert runtime == stub, f"{name}: runtime-only {sorted(runtime - stub)}, stub-only {sorted(stub - runtime)}"


def test_stubs_match_the_runtime_signatures(tmp_path: Path) -> None:
    """mypy's stubtest imports the modules and compares every parameter (name, kind, default) with the stubs
    (run in tmp_path, so its cache stays out of the tree)."""
    pytest.importorskip("mypy.stubtest")
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text("\n".join(STUBTEST_ALLOWLIST) + "\n", encoding="utf-8")
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "p11._native", "p11.constants", "p11._cffi",
         "--allowlist", str(allowlist), "--ignore-unused-allowlist"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- packaging ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*STUBS, "py.typed"])
def test_installed_package_ships_the_checked_in_stubs(name: str) -> None:
    installed = Path(p11.__file__).resolve().parent / name
    assert installed.is_file(), f"the installed p11 has no {name}: the wheel must ship it"
    assert installed.read_bytes() == (SRC_PACKAGE / name).read_bytes(), f"installed {name} is not the checked-in one"
