"""Sphinx extension: p11's API reference and exception tree, generated from the installed package at build time.

Nothing here lists a class or a function. The public surface is found, not typed:

* :data:`PUBLIC_MODULES` (``p11`` and its modules: ``p11.constants``, ``p11.uri``, ``p11.opener`` ...), and every
  subpackage of ``p11`` whose name has no underscore and is not one of :data:`INTERNAL` (so a new public package,
  ``p11.integrations`` say, gets its page without anyone editing the docs), plus :data:`PUBLIC_SUBMODULES`;
* each module's ``__all__`` is what it exports. A name is documented once, on the page of the public module that is
  its home (the longest public prefix of its ``__module__``, else the first page that exports it); the other pages
  list it as a re-export linking there.

A reference to an internal path of a public object (``p11.api.token.Token``, as type hints spell it) resolves to
the public name (``p11.Token``); a reference to anything else that is not documented is a broken reference, which
fails the build (``nitpicky``, ``-W``). A public module, class, function, method or property without a docstring is
a build warning too (so an error): the reference must say why each public name exists.

The pages are written into ``docs/api/`` (not kept in git) when the builder starts, rewritten only when their text
changes so that incremental builds stay incremental.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import pkgutil
import re
import sys
import typing
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MemberDescriptorType, ModuleType
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

import p11

logger = logging.getLogger(__name__)

#: The services programs (and the ``p11`` command) use besides the core: finding tokens and objects by URI, module
#: trust and lookup, PINs, attribute words, safe file reads and writes, throughput measurement. A name the core
#: ``p11`` exports as well (``p11.open``, whose home is ``p11.opener``) is documented on the core page.
SERVICE_MODULES = (
    "p11.opener", "p11.attributes", "p11.modules", "p11.trust", "p11.pin_sources", "p11.files", "p11.safewrite",
    "p11.throughput",
)
#: The top-level modules of the reference besides the subpackages found (``p11`` itself first: the core API).
PUBLIC_MODULES = ("p11", "p11.constants", "p11.errors", "p11.mechanisms", "p11.uri", *SERVICE_MODULES)
#: Public packages whose submodules are implementation although their names have no underscore (they predate that
#: rule): the package's ``__all__`` is the door, and only the package itself and PUBLIC_SUBMODULES get pages.
#: In every other public package (``p11.integrations`` ...), each submodule whose name has no underscore is public.
LEGACY_PACKAGES = frozenset({"p11.aws", "p11.crypto", "p11.pki", "p11.testing"})
#: Submodules of LEGACY_PACKAGES that are public contracts although their package's ``__all__`` does not name them.
PUBLIC_SUBMODULES = ("p11.aws.compat", "p11.testing.plugin")
#: Top-level modules and packages of p11 that are implementation: their public objects are documented where
#: ``p11`` (or a public module) exports them, and nothing outside the core imports them (the ``p11`` command
#: included: import-linter's ``cli-public-doors`` contract, tests/project/test_public_doors.py). ``cli`` is
#: documented as the command, on its own page.
INTERNAL = frozenset({"api", "ops", "lowlevel", "encodings", "cli", "defaults", "interfaces", "logins", "quirks"})

API_DIR = "api"


def public_modules() -> list[str]:
    """Every module with a reference page, in page order; a top-level module nobody classified is an error."""
    found = list(PUBLIC_MODULES)
    for info in sorted(pkgutil.iter_modules(p11.__path__), key=lambda i: i.name):
        name = f"p11.{info.name}"
        if info.name.startswith("_") or info.name in INTERNAL or name in found:
            continue
        if not info.ispkg:
            logger.warning(
                "%s is neither a public module (PUBLIC_MODULES) nor internal (INTERNAL) in docs/_ext/p11_reference.py:"
                " say which (or underscore its name)", name, type="p11", subtype="surface",
            )
            continue
        found.extend(_package_and_submodules(name))
    return found


def _package_and_submodules(package: str) -> list[str]:
    if package in LEGACY_PACKAGES:
        return [package, *(sub for sub in PUBLIC_SUBMODULES if sub.rsplit(".", 1)[0] == package)]
    out = [package]
    for info in sorted(pkgutil.iter_modules(importlib.import_module(package).__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            sub = f"{package}.{info.name}"
            out.extend(_package_and_submodules(sub) if info.ispkg else [sub])
    return out


def _is_fixture(obj: object) -> bool:
    return type(obj).__name__ == "FixtureFunctionDefinition" or hasattr(obj, "_pytestfixturefunction")


def _kind(obj: object) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "exception"
        return "class"
    if _is_fixture(obj):
        return "fixture"
    if inspect.isroutine(obj):
        return "function"
    return "data"


def _exports(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:  # a module without __all__ (the pytest plugin): what it defines itself
        names = [
            n for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        ]
    return [n for n in names if n != "__version__"]


@dataclass
class Surface:
    """The public surface: each module's exports and the one documented name of every exported object."""

    modules: list[str]
    exports: dict[str, list[tuple[str, object]]] = field(default_factory=dict)
    home: dict[str, str] = field(default_factory=dict)  # "p11.pki.PKIError" (any exported spelling) -> documented
    by_id: dict[int, str] = field(default_factory=dict)  # id(class/function/module) -> documented name
    documented: set[str] = field(default_factory=set)
    used: dict[str, list[type]] = field(default_factory=dict)  # page -> internal classes its signatures use

    def canonical(self, obj: object) -> str | None:
        return self.by_id.get(id(obj)) if _kind(obj) != "data" else None


def _home_module(obj: object, exporters: list[str]) -> str:
    real = getattr(obj, "__module__", None) or ""
    if inspect.ismodule(obj):
        real = obj.__name__
    prefixes = [m for m in exporters if real == m or real.startswith(m + ".")]
    if not prefixes:
        return exporters[0]
    home = max(prefixes, key=len)
    return "p11" if home in SERVICE_MODULES and "p11" in exporters else home


def resolve_type_checking_imports() -> None:
    """Run the ``if TYPE_CHECKING:`` imports of p11's modules, so annotations that name them can be evaluated.

    p11 imports some names for type hints only (the layers forbid the import at run time, or it would be a cycle);
    without them ``typing.get_type_hints`` fails and autodoc would print the annotation as an unlinked string. Names
    a module already has are left alone: this only adds what the hints need, in this (documentation) process. A
    type alias written as a string (``Headers: TypeAlias = "Iterable[...] | Mapping[...]"``) is evaluated too, so
    that ``Headers | None`` can be (a recursive one stays a string).
    """
    for name in public_modules():
        importlib.import_module(name)
    aliases: list[tuple[ModuleType, str, str]] = []
    for name, module in sorted(sys.modules.items()):
        if module is None or not (name == "p11" or name.startswith("p11.")):
            continue
        try:
            tree = ast.parse(inspect.getsource(module))
        except (OSError, TypeError, SyntaxError):
            continue  # compiled (p11._cffi, p11._native): no source
        for node in tree.body:
            if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                namespace = dict(vars(module))
                exec(compile(ast.Module(node.body, []), module.__file__ or name, "exec"), namespace)
                for key, value in namespace.items():
                    vars(module).setdefault(key, value)
        aliases.extend(
            (module, node.target.id, node.value.value) for node in tree.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and ast.unparse(node.annotation).endswith("TypeAlias")
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        )
    for _ in range(len(aliases)):  # an alias may name another: evaluate until none is left that can be
        pending = []
        for module, alias, text in aliases:
            try:
                value = eval(text, vars(module))
            except Exception:
                pending.append((module, alias, text))
                continue
            for other in list(sys.modules.values()):  # and where it was imported from there
                if other is not None and other.__name__.startswith("p11") and vars(other).get(alias) == text:
                    vars(other)[alias] = value
        if len(pending) == len(aliases):
            break
        aliases = pending


def _hints(obj: object) -> dict[str, Any]:
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    try:
        return typing.get_type_hints(obj)
    except Exception:
        return {}


def _classes_in(hint: object) -> Iterator[type]:
    if isinstance(hint, type) and not typing.get_args(hint):
        yield hint
        return
    origin = typing.get_origin(hint)
    if isinstance(origin, type):
        yield origin
    for arg in typing.get_args(hint):
        yield from _classes_in(arg)


def public_equivalent(cls: type, surface: Surface) -> str | None:
    """The documented class a Protocol of ``p11.interfaces`` stands for (``SessionLike`` -> ``p11.Session``)."""
    if not (cls.__module__ == "p11.interfaces" and cls.__name__.endswith("Like")):
        return None
    wanted = cls.__name__[: -len("Like")]
    return next((name for name in sorted(surface.documented) if name.rsplit(".", 1)[-1] == wanted), None)


def add_used_types(surface: Surface) -> None:
    """p11 classes that public signatures take or return but no public module exports (``Token.info``'s
    ``TokenInfo``, ``Session.find``'s ``ObjectSearch``): documented under their real path, on the page of the first
    public name that uses them, so every type a user meets has an entry."""
    queue: list[tuple[str, object]] = [(page, obj) for page in surface.modules for _, obj in surface.exports[page]
                                       if surface.canonical(obj) is not None and not inspect.ismodule(obj)]
    while queue:
        page, obj = queue.pop(0)
        hints: list[object] = []
        if inspect.isclass(obj):
            for member in _class_members(obj, surface):
                static = inspect.getattr_static(obj, member, None)
                hints.extend(_hints(static).values())
            hints.extend(_hints(obj.__init__).values())
            # Public slots declared with a type on the class (``Key.cache``): no signature to read them from.
            hints.extend(
                hint for attr, hint in _hints(obj).items()
                if not attr.startswith("_")
                and isinstance(inspect.getattr_static(obj, attr, None), MemberDescriptorType)
            )
        elif callable(obj):
            hints.extend(_hints(obj).values())
        for hint in hints:
            for cls in _classes_in(hint):
                if not cls.__module__.startswith("p11") or surface.canonical(cls) is not None:
                    continue
                if public_equivalent(cls, surface) is not None or cls.__name__.startswith("_"):
                    continue
                name = f"{cls.__module__}.{cls.__qualname__}"
                surface.by_id[id(cls)] = name
                surface.documented.add(name)
                surface.used.setdefault(page, []).append(cls)
                queue.append((page, cls))


def build_surface() -> Surface:
    surface = Surface(public_modules())
    exporters: dict[int, list[str]] = {}
    objects: dict[int, object] = {}
    for name in surface.modules:
        module = importlib.import_module(name)
        surface.by_id[id(module)] = name
        surface.documented.add(name)
        entries = [(n, getattr(module, n)) for n in _exports(module)]
        surface.exports[name] = entries
        for export, obj in entries:
            if _kind(obj) == "data":  # data has no identity worth keying on (ints, strings): its own page
                surface.home[f"{name}.{export}"] = f"{name}.{export}"
                surface.documented.add(f"{name}.{export}")
                continue
            exporters.setdefault(id(obj), []).append(name)
            objects[id(obj)] = obj
    for key, obj in objects.items():
        if inspect.ismodule(obj) and obj.__name__ in surface.modules:
            continue
        module = _home_module(obj, exporters[key])
        # The name it is exported under from its home module: its own name, when an alias is exported too.
        names = [n for n, o in surface.exports[module] if o is obj]
        export = getattr(obj, "__name__", None) if getattr(obj, "__name__", None) in names else names[0]
        documented = f"{module}.{export}"
        surface.by_id[key] = documented
        surface.documented.add(documented)
        for exporter in exporters[key]:
            for n, o in surface.exports[exporter]:
                if o is obj:
                    surface.home[f"{exporter}.{n}"] = documented
    add_used_types(surface)
    return surface


# -- page generation ---------------------------------------------------------------------------------------------


def _defining_class(cls: type, name: str) -> type | None:
    for klass in cls.__mro__:
        if name in vars(klass) or name in getattr(klass, "__annotations__", {}):
            return klass
    return None


def _class_members(cls: type, surface: Surface) -> list[str]:
    """The members a class page shows: its own, and those it gets from undocumented p11 bases (mixins)."""
    if issubclass(cls, enum.Enum):
        return []
    names: list[str] = []
    candidates = list(dict.fromkeys([*dir(cls), *getattr(cls, "__annotations__", {})]))
    for klass in cls.__mro__[1:]:
        candidates.extend(a for a in getattr(klass, "__annotations__", {}) if a not in candidates)
    for name in candidates:
        if name.startswith("_"):
            continue
        owner = _defining_class(cls, name)
        if owner is None:
            continue
        if owner is cls or (owner.__module__.startswith("p11.") and surface.canonical(owner) is None):
            names.append(name)
    return names


def _undocumented(cls: type, names: list[str]) -> Iterator[str]:
    for name in names:
        try:
            static = inspect.getattr_static(cls, name)
        except AttributeError:
            continue  # an annotation-only field: described by the class docstring
        if isinstance(static, (staticmethod, classmethod)):
            static = static.__func__
        if (isinstance(static, property) or inspect.isroutine(static)) and not inspect.getdoc(getattr(cls, name)):
            yield name


def _data_doc(export: str, obj: object) -> str | None:
    """A data export's ``#:`` comment, from whichever module of p11 defined it under that name (a public module
    re-exports, say, ``p11.opener.CLASS_FOR_TYPE`` from the internal module that defines it)."""
    for name, mod in sorted(sys.modules.items()):
        if mod is None or not (name == "p11" or name.startswith("p11.")):
            continue
        if getattr(mod, export, _MISSING) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(name).find_attr_docs()
        except Exception:
            continue
        if ("", export) in docs:
            return "\n".join(docs[("", export)]).strip()
    return None


_MISSING = object()


def _indent(text: str, by: str = "   ") -> str:
    return "\n".join(by + line if line else "" for line in text.splitlines())


def _title(text: str, underline: str = "=") -> str:
    return f"{text}\n{underline * len(text)}\n"


def _enum_table(cls: type[enum.Enum]) -> str:
    rows = []
    for member in cls:  # aliases are not iterated: each value once, under its first (spec) name
        value = member.value
        rows.append(f"   * - ``{member.name}``\n     - ``{value:#x}``" if isinstance(value, int) else
                    f"   * - ``{member.name}``\n     - ``{value!r}``")
    if not rows:
        return ""
    return (
        f"   .. list-table:: {len(rows)} members\n      :class: p11-enum-members\n      :header-rows: 0\n\n"
        + _indent("\n".join(rows))
        + "\n"
    )


_SECTIONS = (("class", "Classes"), ("function", "Functions"), ("fixture", "pytest fixtures"),
             ("exception", "Exceptions"), ("data", "Constants and types"), ("module", "Modules"))


def module_page(name: str, surface: Surface) -> str:
    module = importlib.import_module(name)
    if not (module.__doc__ or "").strip():
        logger.warning("%s has no module docstring", name, type="p11", subtype="docstring")
    heading = "p11 — the core API" if name == "p11" else name
    out = [f".. _api-{name}:\n", _title(heading), f".. automodule:: {name}\n", f".. currentmodule:: {name}\n"]
    documented: dict[str, list[str]] = {kind: [] for kind, _ in _SECTIONS}
    reexports: list[tuple[str, str, str]] = []
    for export, obj in surface.exports[name]:
        kind = _kind(obj)
        if kind == "module":
            reexports.append((export, "mod", obj.__name__))
            continue
        target = surface.home.get(f"{name}.{export}", f"{name}.{export}")
        if target != f"{name}.{export}":
            role = {"class": "class", "exception": "exc", "function": "func"}.get(kind, "obj")
            reexports.append((export, role, target))
            continue
        documented[kind].append(_entry(name, export, obj, kind, surface))
    for kind, label in _SECTIONS:
        if documented[kind]:
            out.append(_title(label, "-"))
            out.extend(documented[kind])
    used = surface.used.get(name, [])
    if used:
        out.append(_title("Other types you meet here", "-"))
        out.append("Classes this module's API takes or returns, documented where they are defined (not exported"
                   " here: annotate with them, do not construct them).\n")
        for cls in used:
            qualified = f"{cls.__module__}.{cls.__qualname__}"
            out.append(_entry(cls.__module__, cls.__qualname__, cls, _kind(cls), surface, qualified, strict=False))
    if reexports:
        out.append(_title("Also exported here", "-"))
        out.append(f"Names ``{name}`` exports whose documentation is on another page:\n")
        out.extend(f"* ``{name}.{export}``: :{role}:`{target}`" for export, role, target in reexports)
        out.append("")
    return "\n".join(out) + "\n"


def _entry(
    module_name: str, export: str, obj: Any, kind: str, surface: Surface, target: str | None = None, strict: bool = True
) -> str:
    """One name's directive. ``strict``: a name of the public surface, whose members must all have docstrings (the
    types met through it show the members that have one)."""
    qualified = f"{module_name}.{export}"
    export = target or export
    if kind in ("class", "exception"):
        directive = "autoexception" if kind == "exception" else "autoclass"
        if not inspect.getdoc(obj) or obj.__doc__ is None:
            logger.warning("%s has no docstring", qualified, type="p11", subtype="docstring")
        members = _class_members(obj, surface)
        if strict:
            for missing in _undocumented(obj, members):
                logger.warning("%s.%s has no docstring", qualified, missing, type="p11", subtype="docstring")
        lines = [f".. {directive}:: {export}", "   :show-inheritance:"]
        if members:
            lines += [f"   :members: {', '.join(members)}"] + (["   :undoc-members:"] if strict else [])
        text = "\n".join(lines) + "\n"
        if isinstance(obj, type) and issubclass(obj, enum.Enum):
            text += "\n" + _enum_table(obj)
        return text + "\n"
    if kind == "function":
        if not inspect.getdoc(obj):
            logger.warning("%s has no docstring", qualified, type="p11", subtype="docstring")
        return f".. autofunction:: {export}\n\n"
    if kind == "fixture":
        function = getattr(obj, "_get_wrapped_function", lambda: getattr(obj, "__wrapped__", obj))()
        doc = inspect.getdoc(function) or ""
        if not doc:
            logger.warning("%s has no docstring", qualified, type="p11", subtype="docstring")
        return f".. py:function:: {export}\n   :no-index-entry:\n\n   A pytest fixture. {_indent(doc).strip()}\n\n"
    # data: its doc comment (``#:``), wherever in p11 it was defined under that name
    doc = _data_doc(export, obj)
    if doc is None:
        logger.warning("%s has no doc comment (#: above its definition)", qualified, type="p11", subtype="docstring")
    value = repr(obj)
    options = f"   :value: {value}\n" if len(value) <= 100 and "\n" not in value else ""
    body = f"\n{_indent(doc)}\n" if doc else ""
    return f".. py:data:: {export}\n{options}{body}\n"


def exception_tree(surface: Surface) -> str:
    """The exception hierarchy as a nested list, from the documented classes' ``__bases__``."""
    classes = [obj for obj in _documented_objects(surface) if inspect.isclass(obj) and issubclass(obj, BaseException)]
    documented = {id(c) for c in classes}

    def parent(cls: type) -> type:
        # the nearest documented ancestor, else the first non-p11 base (ValueError, RuntimeError ...)
        for base in cls.__mro__[1:]:
            if id(base) in documented:
                return base
        return next(b for b in cls.__mro__[1:] if not b.__module__.startswith("p11"))

    children: dict[int, list[type]] = {}
    roots: list[type] = []
    for cls in classes:
        up = parent(cls)
        children.setdefault(id(up), []).append(cls)
        if id(up) not in documented and up not in roots:
            roots.append(up)

    def label(cls: type) -> str:
        if id(cls) not in documented:
            return f":external:py:exc:`{cls.__name__}`" if cls.__module__ == "builtins" else f"``{cls.__qualname__}``"
        text = f":exc:`~{surface.by_id[id(cls)]}`"
        extra = [b for b in cls.__bases__ if b is not parent(cls)]
        if extra:
            text += " (also " + ", ".join(
                f":exc:`~{surface.by_id[id(b)]}`" if id(b) in documented else f":external:py:exc:`{b.__name__}`"
                if b.__module__ == "builtins" else f"``{b.__qualname__}``" for b in extra) + ")"
        summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        if summary and cls.__doc__:
            text += f" — {summary}"
        return text

    def walk(cls: type, depth: int) -> Iterator[str]:
        kids = sorted(children.get(id(cls), []), key=lambda c: (not children.get(id(c)), c.__name__))
        for kid in kids:
            yield "  " * depth + f"* {label(kid)}\n"
            sub = list(walk(kid, depth + 1))
            if sub:
                yield "\n"
                yield from sub
                yield "\n"

    out = [
        ".. _exception-tree:\n\n",
        _title("Exception hierarchy"),
        "Every exception class p11's public modules export, by inheritance, generated from the classes themselves"
        " when the documentation is built. Catch :exc:`p11.P11Error` for anything p11 raises about a token or module;"
        " errors of bad input also keep their standard base (``ValueError``, ``TypeError`` …), named in brackets."
        " Every :exc:`~p11.errors.CryptokiError` carries ``.rv``, ``.name`` and ``.function``.\n\n",
    ]
    for root in sorted(roots, key=lambda r: (r.__name__ != "Exception", r.__name__)):
        out.append(f"* {label(root)}\n\n")
        out.extend(walk(root, 1))
        out.append("\n")
    return "".join(out)


def _documented_objects(surface: Surface) -> Iterator[object]:
    seen: set[int] = set()
    for entries in surface.exports.values():
        for _, obj in entries:
            if id(obj) in surface.by_id and id(obj) not in seen and not inspect.ismodule(obj):
                seen.add(id(obj))
                yield obj


def index_page(surface: Surface) -> str:
    lines = [
        _title("API reference"),
        "Generated from the installed package's docstrings and type annotations. Each page is one public module;"
        " ``p11`` itself holds the core API (``p11.load`` → :class:`~p11.Library` → :class:`~p11.Token` →"
        " :class:`~p11.Session` → keys and objects).\n",
        ".. toctree::\n   :maxdepth: 1\n",
    ]
    lines += [f"   {name}" for name in surface.modules]
    lines += ["", "Every exception these modules export, by inheritance: :ref:`exception-tree`.", ""]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


#: The surface of this build (found again at every build: object identities do not outlive the process).
_SURFACE: Surface | None = None


def generate(app: Sphinx) -> None:
    global _SURFACE
    resolve_type_checking_imports()
    surface = _SURFACE = build_surface()
    out = Path(app.srcdir) / API_DIR
    out.mkdir(exist_ok=True)
    pages = {"index.rst": index_page(surface), "exceptions.rst": exception_tree(surface)}
    for name in surface.modules:
        pages[f"{name}.rst"] = module_page(name, surface)
    for stale in out.glob("*.rst"):
        if stale.name not in pages:
            stale.unlink()
    for filename, text in pages.items():
        _write(out / filename, text)


# -- cross-references to internal spellings of public names ------------------------------------------------------


def _lookup(dotted: list[str]) -> object:
    for i in range(len(dotted), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(dotted[:i]))
        except ImportError:
            continue
        for part in dotted[i:]:
            obj = getattr(obj, part, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def resolve_internal(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element
) -> nodes.Element | None:
    """``p11.api.token.Token.configure_pool`` -> ``p11.Token.configure_pool``: the public name of the same object."""
    if node.get("refdomain") != "py":
        return None
    surface = _SURFACE
    target = node.get("reftarget", "").lstrip("~.")
    if surface is None:
        return None
    if target.startswith("cryptography."):
        return _resolve_cryptography(app, env, node, contnode, target)
    if not target.startswith("p11."):
        # a name relative to the documented object's real module (a type documented under its own path)
        module, klass = node.get("py:module") or "", node.get("py:class") or ""
        if not module.startswith("p11"):
            return None
        for candidate in ([f"{module}.{klass}.{target}"] if klass else []) + [f"{module}.{target}"]:
            if _lookup(candidate.split(".")) is not _MISSING:
                target = candidate
                break
        else:
            return None
    parts = target.split(".")
    for i in range(len(parts), 1, -1):
        prefix = ".".join(parts[:i])
        public = surface.home.get(prefix)
        if public is None:
            obj = _lookup(parts[:i])
            if isinstance(obj, typing.TypeVar):
                return contnode  # a type variable has no page: its name is all there is to say
            public = surface.canonical(obj) if obj is not _MISSING else None
            if public is None and inspect.isclass(obj):
                public = public_equivalent(obj, surface)
                if public is not None:  # shown as what it stands for: ``Session``, not ``SessionLike``
                    shown = public.rsplit(".", 1)[-1]
                    contnode = _retext(contnode, obj.__name__, shown)
                    for text in list(node.findall(nodes.Text)):  # the short form a signature shows
                        text.parent.replace(text, nodes.Text(str(text).replace(obj.__name__, shown)))
        if public is None:
            continue
        new_target = ".".join([public, *parts[i:]])
        if new_target == target:
            return None
        domain = env.domains["py"]
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], new_target, node, contnode
        )
    return None


#: id(class) -> the name cryptography's documentation gives it (``cryptography.x509.Certificate``, where the class
#: itself says ``cryptography.hazmat.bindings._rust.x509.Certificate``); filled once per build.
_CRYPTOGRAPHY_NAMES: dict[int, str] = {}


def _resolve_cryptography(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element, target: str
) -> nodes.Element | None:
    """A ``cryptography`` class by the name its documentation uses, so the link goes to its page."""
    from sphinx.ext import intersphinx

    if not _CRYPTOGRAPHY_NAMES:
        inventory = getattr(env, "intersphinx_named_inventory", {}).get("cryptography", {})
        with warnings.catch_warnings():  # looking up deprecated names (DSA, ARC4 ...) is no use of them
            warnings.simplefilter("ignore")
            for objtype in ("py:class", "py:exception"):
                for name in inventory.get(objtype, {}):
                    found = _lookup(name.split("."))
                    if inspect.isclass(found):
                        _CRYPTOGRAPHY_NAMES.setdefault(id(found), name)
    found = _lookup(target.split("."))
    public = _CRYPTOGRAPHY_NAMES.get(id(found)) if inspect.isclass(found) else None
    if public is None or public == target:
        return None
    renamed = node.deepcopy()
    renamed["reftarget"] = public
    return intersphinx.missing_reference(app, env, renamed, contnode)


def _retext(contnode: nodes.Element, old: str, new: str) -> nodes.Element:
    if isinstance(contnode, nodes.Text):
        return nodes.Text(str(contnode).replace(old, new))  # type: ignore[return-value]
    copy = contnode.deepcopy()
    for text in list(copy.findall(nodes.Text)):
        text.parent.replace(text, nodes.Text(str(text).replace(old, new)))
    return copy


def process_bases(app: Sphinx, name: str, obj: object, options: object, bases: list[type]) -> None:
    """Shown bases skip p11's undocumented classes (mixins, an enum helper: their methods are shown on the class
    itself), naming what those derive from instead."""
    surface = _SURFACE
    if surface is None:
        return

    def shown(base: type) -> list[type]:
        if base.__module__.startswith("p11") and surface.canonical(base) is None:
            return [b for parent in base.__bases__ for b in shown(parent)]
        return [base]

    bases[:] = list(dict.fromkeys(b for base in bases for b in shown(base))) or [object]


# -- names the guides mention -----------------------------------------------------------------------------------

_MENTION = re.compile(r"^(p11(?:\.[A-Za-z_]\w*)+)(?:\(.*\))?$")  # `p11.errors.PinIncorrect`, `p11.open(uri)`
_CLASS_MENTION = re.compile(r"^([A-Z]\w*)\.([A-Za-z_]\w*)(?:\(.*\))?$")  # `Token.configure_pool(...)`


def _public_spelling(name: str, surface: Surface) -> str | None:
    """The documented name of what ``name`` names, if it is documented (a member: of a documented class)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        obj = _lookup(parts[:i])
        public = surface.home.get(prefix) or (surface.canonical(obj) if obj is not _MISSING else None)
        if public is None:
            continue
        rest = parts[i:]
        if not rest:
            return public
        if len(rest) == 1 and inspect.isclass(obj) and rest[0] in _class_members(obj, surface):
            return f"{public}.{rest[0]}"
        return None  # a module's or an object's part that has no entry of its own
    return None


def check_mentions(app: Sphinx, doctree: nodes.document) -> None:
    """Inline code that names p11 (```p11.errors.PinIncorrect```, ```Token.configure_pool```) must name something
    that exists, so a guide that mentions a renamed or removed name fails the build; what is documented becomes a
    link to its entry."""
    from sphinx import addnodes

    surface = _SURFACE
    if surface is None:
        return
    for node in list(doctree.findall(nodes.literal)):
        if isinstance(node.parent, (nodes.reference, addnodes.pending_xref)):
            continue
        text = node.astext()
        match = _MENTION.match(text)
        if match:
            name = match.group(1)
        else:
            match = _CLASS_MENTION.match(text)
            if not (match and match.group(1) in p11.__all__ and inspect.isclass(getattr(p11, match.group(1)))):
                continue
            name = f"p11.{match.group(1)}.{match.group(2)}"
        if "__main__" in name:  # importing it would run the command
            continue
        if _lookup(name.split(".")) is _MISSING:
            logger.warning("%r names %s, which does not exist (renamed or removed?)", text, name,
                           location=node, type="p11", subtype="mention")
            continue
        public = _public_spelling(name, surface)
        if public is None:
            continue  # an internal name that exists: left as code
        ref = addnodes.pending_xref(
            "", refdomain="py", reftype="obj", reftarget=public, refexplicit=True, refwarn=True,
            refdoc=app.env.docname,
        )
        ref += node.deepcopy()
        node.replace_self(ref)


_TRAILING_UNDERSCORE = re.compile(r"\b([A-Za-z0-9]+)_(?=[^\w]|$)")


def escape_click_text(app: Sphinx, ctx: object, lines: list[str]) -> None:
    """Help text is written for a terminal: ``CKM_`` there is a word (in reST a reference to a target ``CKM``); an
    ``Example:`` paragraph (click's ``\\b``, a line block to sphinx-click) is shell, shown as code; any other
    ``\\b`` paragraph of plain lines was kept from rewrapping for the terminal's sake, and reads as one paragraph."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            out.append(_TRAILING_UNDERSCORE.sub(r"\1\\_", lines[i]))
            i += 1
            continue
        block = []
        while i < len(lines) and lines[i].startswith("|"):
            block.append(lines[i][2:] if lines[i].startswith("| ") else lines[i][1:])
            i += 1
        if block[0].strip() == "Example:":
            out += ["Example:", "", ".. code-block:: sh", "", *("   " + line.strip() for line in block[1:]), ""]
        elif all(not line.startswith(" ") for line in block):
            out.append(_TRAILING_UNDERSCORE.sub(r"\1\\_", " ".join(line.strip() for line in block)))
        else:
            out += ["| " + _TRAILING_UNDERSCORE.sub(r"\1\\_", line) for line in block]
    lines[:] = out


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", generate)
    app.connect("missing-reference", resolve_internal)
    app.connect("autodoc-process-bases", process_bases)
    app.connect("doctree-read", check_mentions)
    for event in ("sphinx-click-process-description", "sphinx-click-process-options",
                  "sphinx-click-process-arguments", "sphinx-click-process-envvars", "sphinx-click-process-epilog"):
        app.connect(event, escape_click_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
