"""The layout is the architecture: no module of p11 takes part in an import cycle, p11.uri imports nothing of p11
(but its exception's root), and the import-linter contracts of pyproject.toml fail on a back-edge, a type-hint
import included.

The graph is grimp's (import-linter's): every import counts, at module level, inside functions and under
``if TYPE_CHECKING:``. It is built from the installed package, which is what the other tests import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import p11
from tests.support import ROOT

PACKAGE = Path(p11.__file__).parent


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("p11", cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each strongly connected component of more than one module, or of one module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative: the graph is small, but recursion depth is not ours to assume
        nonlocal counter
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.find_modules_directly_imported_by(nxt)))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or graph.direct_import_exists(importer=node, imported=node):
                        found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_of_p11_takes_part_in_an_import_cycle(graph: grimp.ImportGraph) -> None:
    assert len(graph.modules) > 60  # the whole package was read, subpackages included
    assert _cycles(graph) == []
    # The same, asked the other way: no module can reach itself through the modules it imports.
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            assert not graph.chain_exists(importer=imported, imported=module), (module, imported)


def test_type_hint_imports_are_in_the_graph(graph: grimp.ImportGraph) -> None:
    # p11.api.objects names its session's type only under TYPE_CHECKING: the edge must be there, or the cycle check
    # above would pass for the wrong reason.
    details = graph.get_import_details(importer="p11.api.objects", imported="p11.api.owners")
    assert details and all("SessionParts" in d["line_contents"] for d in details)


def test_the_cycle_finder_finds_a_cycle() -> None:
    cyclic = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        cyclic.add_module(module)
    cyclic.add_import(importer="p.a", imported="p.b")
    cyclic.add_import(importer="p.b", imported="p.c")
    cyclic.add_import(importer="p.c", imported="p.a")
    assert _cycles(cyclic) == [["p.a", "p.b", "p.c"]]


def test_the_operations_never_import_the_object_model(graph: grimp.ImportGraph) -> None:
    ops = {m for m in graph.modules if m == "p11.ops" or m.startswith("p11.ops.")}
    for module in sorted(ops):
        imported = graph.find_modules_directly_imported_by(module)
        assert not {m for m in imported if m.startswith("p11.api")}, module
        assert not graph.chain_exists(importer=module, imported="p11.api", as_packages=True), module


def test_every_module_of_p11_is_in_a_layer(graph: grimp.ImportGraph) -> None:
    # A module that no layer names is checked by no layer contract: a new module must be placed.
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    contracts = {contract["id"]: contract for contract in config["contracts"]}
    named = {name.strip() for layer in contracts["layers"]["layers"] for name in layer.replace(":", "|").split("|")}
    children = {m for m in graph.find_children("p11") if not m.rsplit(".", 1)[1].startswith("_")} | {"p11.__main__"}
    assert children - named == set()
    for container in ("api", "ops"):
        inner = {n.strip() for layer in contracts[container]["layers"] for n in layer.split("|")}
        modules = {m.rsplit(".", 1)[1] for m in graph.find_children(f"p11.{container}")}
        assert modules == inner, container


def test_uri_imports_nothing_of_p11_but_the_root_of_its_exception(graph: grimp.ImportGraph) -> None:
    # URIError is a P11Error: its pure-Python home is the one module of p11 that p11.uri imports, and it imports none.
    assert graph.find_modules_directly_imported_by("p11.uri") == {"p11._exception"}
    assert graph.find_modules_directly_imported_by("p11._exception") == set()


def test_the_compiled_modules_are_imported_by_name() -> None:
    # `from p11 import _native` reads to grimp as an import of the package p11 (it cannot see a compiled module),
    # which would hide every edge behind one to p11/__init__; below the leaves, nothing imports p11 itself.
    graph = grimp.build_graph("p11", cache_dir=None)
    leaves = ("p11.cli", "p11.aws", "p11.pki", "p11.testing", "p11.integrations")
    importers = {m for m in graph.find_modules_that_directly_import("p11") if not m.startswith(leaves)}
    assert importers == set()


def _lint(source_root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=source_root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_lint_imports_passes_on_the_package(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "p11", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    result = _lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


_TYPE_HINT = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    {}\n"
_IN_A_FUNCTION = "def _late() -> None:\n    {}\n"


@pytest.mark.parametrize(
    ("module", "added", "named"),
    [
        # a type hint from the operations up into the object model
        ("ops/plans.py", _TYPE_HINT.format("from p11.api.objects import Key"), "p11.ops.plans -> p11.api.objects"),
        # an object naming its session's class
        (
            "api/objects.py",
            _TYPE_HINT.format("from p11.api.session import Session"),
            "p11.api.objects -> p11.api.session",
        ),
        # the core reaching a leaf, inside a function
        ("api/token.py", _IN_A_FUNCTION.format("import p11.crypto"), "p11.api.token -> p11.crypto"),
    ],
)
def test_lint_imports_names_a_back_edge(tmp_path: Path, module: str, added: str, named: str) -> None:
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "p11", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    target = copy / "p11" / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + added, encoding="utf-8")
    result = _lint(copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert named in result.stdout, result.stdout
