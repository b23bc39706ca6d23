"""The ``p11`` command is a client of p11's public API (issue 22): every name it imports from outside ``p11.cli``
comes from ``p11`` itself or from a public module of the API reference, and is in that module's ``__all__``. The
public modules are the reference's own list (docs/_ext/p11_reference.py), so what the command may use and what is
documented cannot drift apart; import-linter's ``cli-public-doors`` contract forbids the internal packages too.

The check reads the source, so it also sees the doors import-linter does not: a relative import of a name that is
not exported, a module imported by name (``importlib.import_module("p11.api.token")``), a reach through an imported
package (``p11.api.token``, ``opener._typed``), and a private member of anything but the command's own ``self``.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import ROOT

CLI = ROOT / "src" / "p11" / "cli"
#: The command's modules: the package and ``python -m p11``, which is the command too.
COMMAND = [*sorted(CLI.rglob("*.py")), ROOT / "src" / "p11" / "__main__.py"]
#: Private-looking members that are public API of the standard library (namedtuple's) or of the process.
STANDARD_PRIVATE = frozenset({"_asdict", "_replace", "_fields", "_make", "_exit"})


def _reference_public_modules() -> list[str]:
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        return list(importlib.import_module("p11_reference").public_modules())
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))


def _package_of(path: Path) -> str:
    """The package a file in src/p11 belongs to (``p11.cli``); a file elsewhere is taken as one of p11.cli."""
    src = ROOT / "src"
    if path.is_relative_to(src / "p11"):
        parts = path.relative_to(src).with_suffix("").parts
        return ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(".__init__")
    return "p11.cli"


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _submodule(module: str, name: str) -> str | None:
    """``module.name`` when that is a module of p11 (``from p11 import errors``, ``p11.api``), else None."""
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    if isinstance(found, ModuleType):  # a submodule, not a module some other module holds (errors.lib)
        return found.__name__ if found.__name__ == f"{module}.{name}" else None
    try:
        return importlib.import_module(f"{module}.{name}").__name__
    except ImportError:
        return None


def _is_p11(module: str) -> bool:
    return (module == "p11" or module.startswith("p11.")) and not (module == "p11.cli" or module.startswith("p11.cli."))


def _dotted(node: ast.expr) -> list[str] | None:
    """``["a", "b", "c"]`` for the expression ``a.b.c``; None for anything else."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return [node.id, *reversed(names)] if isinstance(node, ast.Name) else None


def _bindings(tree: ast.Module, package: str) -> dict[str, str]:
    """The names the file binds to p11 modules (``import p11``, ``import p11.opener as door``, ``from p11 import
    errors``), each with the module it is."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _is_p11(_absolute(node, package)):
            for alias in node.names:
                sub = _submodule(_absolute(node, package), alias.name)
                if sub is not None:
                    bound[alias.asname or alias.name] = sub
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_p11(alias.name):
                    bound[alias.asname or "p11"] = alias.name if alias.asname else "p11"
    return bound


def _imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, module, name) for each name ``path`` takes from p11 outside p11.cli: imported (absolute or relative,
    ``import p11.x`` as name ""), imported by name (``importlib.import_module``, ``__import__``), or reached as an
    attribute of an imported p11 module (``p11.api.token.Token``)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _package_of(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _is_p11(_absolute(node, package)):
            for alias in node.names:
                yield node.lineno, _absolute(node, package), alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_p11(alias.name) and alias.name != "p11":
                    yield node.lineno, alias.name, ""
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = _dotted(node.func)
            target = node.args[0].value
            if called and called[-1] in ("import_module", "__import__") and isinstance(target, str) and _is_p11(target):
                yield node.lineno, target, ""
    bound = _bindings(tree, package)
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        chain = _dotted(node)
        if chain is None or chain[0] not in bound:
            continue
        module = bound[chain[0]]
        for name in chain[1:]:
            sub = _submodule(module, name)
            if sub is None:
                yield node.lineno, module, name
                break
            module = sub
        else:
            yield node.lineno, module, ""


def _private_members(path: Path) -> Iterator[tuple[int, str]]:
    """(line, ``x._name``) for each private member the file reads of anything but its own ``self``/``cls`` (a
    member of an imported p11 module is :func:`_imports`'s to judge)."""
    tree = ast.parse(path.read_text(), str(path))
    skip = {"self", "cls", *_bindings(tree, _package_of(path))}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in STANDARD_PRIVATE
            and not (isinstance(node.value, ast.Name) and node.value.id in skip)
        ):
            yield node.lineno, f"{ast.unparse(node.value)}.{node.attr}"


def _problems(paths: list[Path], public: list[str]) -> list[str]:
    problems = []
    for path in paths:
        where_file = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for line, module, name in _imports(path):
            where = f"{where_file}:{line}"
            if module not in public:
                problems.append(f"{where} imports {module}, not a public module")
                continue
            exported = getattr(importlib.import_module(module), "__all__", ())
            if name and name not in exported and f"{module}.{name}" not in public:  # a public module is a door
                problems.append(f"{where} imports {name} from {module}, which does not export it (__all__)")
        for line, member in _private_members(path):
            problems.append(f"{where_file}:{line} reads {member}, a private member")
    return problems


def test_the_command_imports_only_public_names() -> None:
    public = _reference_public_modules()
    assert _problems(COMMAND, public) == []


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("from p11.ops.keygen import key_templates", "p11.ops.keygen, not a public module"),
        ("from p11.api.uris import uri_for_object", "p11.api.uris, not a public module"),
        ("import p11.lowlevel.calls", "p11.lowlevel.calls, not a public module"),
        ("from p11.opener import _typed", "imports _typed from p11.opener, which does not export it"),
        ("from p11.crypto.exporting import to_pem", "p11.crypto.exporting, not a public module"),
        # what import-linter does not see: a relative import of a name not exported, a module imported by name,
        # a reach through an imported package, a private member of a public object
        ("from ..opener import _typed", "imports _typed from p11.opener, which does not export it"),
        ("from .. import lowlevel", "imports lowlevel from p11, which does not export it"),
        ("import importlib; importlib.import_module('p11.api.token')", "p11.api.token, not a public module"),
        ("__import__('p11.ops.keygen')", "p11.ops.keygen, not a public module"),
        ("import p11; p11.api.token.Token", "p11.api.token, not a public module"),
        ("import p11.opener as door; door._typed", "imports _typed from p11.opener, which does not export it"),
        ("from p11 import errors; errors.lib", "imports lib from p11.errors, which does not export it"),
        ("def f(token): return token._pool", "reads token._pool, a private member"),
    ],
)
def test_a_reach_into_the_internals_is_named(tmp_path: Path, line: str, why: str) -> None:
    # The check itself can fail: each of these is what the command once did, or could do by mistake.
    bad = tmp_path / "bad.py"
    bad.write_text(f"{line}\n")
    problems = _problems([bad], _reference_public_modules())
    assert len(problems) == 1 and why in problems[0], problems


def test_public_names_reached_every_way_pass(tmp_path: Path) -> None:
    # The check is not so broad that it refuses the public doors themselves.
    good = tmp_path / "good.py"
    good.write_text(
        "import p11\nimport p11.opener as door\nfrom p11 import errors\nfrom .. import opener\n"
        "p11.Token; p11.errors.NoSuchObject; door.find_token; errors.URIError; opener.uri_for_object\n"
        "import importlib; importlib.import_module('p11.attributes')\n"
    )
    assert _problems([good], _reference_public_modules()) == []
