"""The documentation site builds with warnings as errors, documents every public name, and reads in a real browser.

One build (``docs/build.py``, what ``scripts/docs`` runs) into a temp dir serves every test here: the build fails on
a broken cross-reference (a guide or docstring naming something that no longer exists), on a public name without a
docstring, on any Sphinx or docutils warning. Then headless Chromium (Debian's) loads the front page, an API page,
the exception tree and the command reference, and the DOM it renders, scripts run, must hold their content.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import shutil
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

import p11

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# The packages the reference must have a page for (issue 26); p11.integrations when it exists.
PUBLIC = ["p11", "p11.constants", "p11.errors", "p11.mechanisms", "p11.uri", "p11.crypto", "p11.pki", "p11.aws",
          "p11.testing"]
if importlib.util.find_spec("p11.integrations") is not None:
    PUBLIC.append("p11.integrations")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    proc = subprocess.run(
        [sys.executable, str(DOCS / "build.py"), str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"docs build failed (warnings are errors):\n{proc.stdout}\n{proc.stderr}"
    return out


class _Page(HTMLParser):
    """Headings, element ids and visible text of a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._heading: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        if ident:
            self.ids.add(ident)
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading = []
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3", "h4") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()).rstrip("#¶ "))
            self._heading = None
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)

    @property
    def all_text(self) -> str:
        return " ".join("".join(self.text).split())


def _rendered(page: Path, profile: Path) -> _Page:
    """The DOM Chromium renders for ``page`` once its scripts have run."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: bash scripts/setup.sh test,docs installs it"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    parsed = _Page()
    parsed.feed(proc.stdout)
    return parsed


def test_every_public_package_has_a_page(site: Path) -> None:
    assert (site / "index.html").is_file()
    for name in PUBLIC:
        assert (site / "api" / f"{name}.html").is_file(), name
    assert (site / "api" / "exceptions.html").is_file()
    assert (site / "reference" / "cli.html").is_file()
    assert (site / "_images" / "benchmarks.png").is_file()  # the benchmark chart, from docs/benchmarks.md


def test_every_exported_name_is_on_its_module_page(site: Path) -> None:
    """Documented there, or listed there as a re-export linking to its home."""
    for name in PUBLIC:
        module = importlib.import_module(name)
        page = (site / "api" / f"{name}.html").read_text(encoding="utf-8")
        for export in module.__all__:
            if export.startswith("__"):
                continue
            assert f'id="{name}.{export}"' in page or f"{name}.{export}</span></code>" in page, f"{name}.{export}"


def test_pages_render_in_chromium(site: Path, tmp_path: Path) -> None:
    index = _rendered(site / "index.html", tmp_path / "profile")
    assert index.headings[0] == "p11"
    assert {"Common tasks", "The p11 command", "Where to read on"} <= set(index.headings)
    assert "API reference" in index.all_text and "Exception hierarchy" in index.all_text  # the navigation

    core = _rendered(site / "api" / "p11.html", tmp_path / "profile")
    assert core.headings[0] == "p11 — the core API"
    assert {"p11.Token", "p11.Token.configure_pool", "p11.PrivateKey.sign_many", "p11.load", "p11.open"} <= core.ids
    assert "Other types you meet here" in core.headings  # TokenInfo and friends, under their real path
    assert "p11.lowlevel.types.TokenInfo" in core.ids

    tree = _rendered(site / "api" / "exceptions.html", tmp_path / "profile")
    text = tree.all_text
    assert tree.headings[0] == "Exception hierarchy"
    assert text.index("P11Error") < text.index("CryptokiError") < text.index("PinError") < text.index("PinIncorrect")

    cli = _rendered(site / "reference" / "cli.html", tmp_path / "profile")
    assert cli.headings[0] == "p11 command reference"
    for command in ("init-token", "keygen", "import", "sign", "selfsign", "issue", "bench", "uri"):
        assert command in cli.headings, command
    assert "--so-pin" in cli.all_text and "export P11_MODULE=" in cli.all_text


# -- the checks themselves, on names made for the purpose ----------------------------------------------------------


@pytest.fixture
def reference() -> types.ModuleType:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module("p11_reference")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def test_a_public_name_without_a_docstring_is_a_warning(
    reference: types.ModuleType, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = types.ModuleType("p11.fake_public", "A module made by this test.")

    class Documented:
        """Has a docstring; one of its methods has none."""

        def explained(self) -> None:
            """Says why."""

        def unexplained(self) -> None:
            pass

    def bare() -> None:
        pass

    for obj in (Documented, bare):
        obj.__module__ = fake.__name__
    fake.Documented, fake.bare, fake.__all__ = Documented, bare, ["Documented", "bare"]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    surface = reference.Surface([fake.__name__])
    surface.exports[fake.__name__] = [("Documented", Documented), ("bare", bare)]
    with caplog.at_level(logging.WARNING):
        page = reference.module_page(fake.__name__, surface)
    messages = [r.getMessage() for r in caplog.records]
    assert "p11.fake_public.Documented.unexplained has no docstring" in messages
    assert "p11.fake_public.bare has no docstring" in messages
    assert not any("explained has no" in m and "unexplained" not in m for m in messages)
    assert ".. autoclass:: Documented" in page and ":members: explained, unexplained" in page


def test_new_public_packages_are_found_without_editing_the_docs(
    reference: types.ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package written the new way (p11.integrations): its modules without an underscore are its public ones.
    package = tmp_path / "newpkg"
    (package / "sub").mkdir(parents=True)
    for name in ("__init__.py", "ssh.py", "_impl.py", "sub/__init__.py", "sub/jose.py", "sub/_helpers.py"):
        (package / name).write_text('"""A module."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert reference._package_and_submodules("newpkg") == ["newpkg", "newpkg.ssh", "newpkg.sub", "newpkg.sub.jose"]

    found = reference.public_modules()
    packages = sorted(
        f"p11.{p.name}" for p in __import__("pkgutil").iter_modules(p11.__path__)
        if p.ispkg and not p.name.startswith("_") and p.name not in reference.INTERNAL
    )
    assert packages and set(packages) <= set(found)
    assert set(PUBLIC) <= set(found)
    assert not any(re.search(r"\._", name) for name in found)  # nothing underscored is documented


def test_a_mention_of_a_name_that_is_gone_is_a_warning(
    reference: types.ModuleType, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from docutils import nodes
    from docutils.utils import new_document
    from sphinx import addnodes

    monkeypatch.setattr(reference, "_SURFACE", reference.build_surface())
    document = new_document("guide.md")
    paragraph = nodes.paragraph()
    for text in ("p11.errors.PinIncorrect", "p11.errors.NoLongerThere", "Token.configure_pool", "Token.gone()",
                 "p11.ops.operations.sign", "key.sign_many"):
        paragraph += nodes.literal(text, text)
    document += paragraph
    app = types.SimpleNamespace(env=types.SimpleNamespace(docname="guide"))
    with caplog.at_level(logging.WARNING):
        reference.check_mentions(app, document)
    gone = sorted(r.getMessage() for r in caplog.records)
    assert gone == [
        "'Token.gone()' names p11.Token.gone, which does not exist (renamed or removed?)",
        "'p11.errors.NoLongerThere' names p11.errors.NoLongerThere, which does not exist (renamed or removed?)",
    ]
    links = sorted(x["reftarget"] for x in document.findall(addnodes.pending_xref))
    assert links == ["p11.Token.configure_pool", "p11.errors.PinIncorrect"]  # internal and unknown stay code
