"""Find a PKCS#11 module by the name an RFC 7512 ``module-name`` attribute gives, the way p11-kit does.

p11-kit describes installed modules in ``*.module`` files (``module: PATH``; a relative path is taken from p11-kit's
module directory). A name matches such a file's own name (``softhsm2`` for ``softhsm2.module``), or the module's file
name with any ``lib`` prefix and platform suffix removed (``softhsm2`` for ``libsofthsm2.so``), which is what RFC 7512
section 2.3 suggests consumers accept. Failing the config files, the platform's module directories are searched
directly for ``NAME.so`` / ``libNAME.so``.

:func:`registered_modules` lists what p11-kit's configuration registers, which :mod:`p11.trust` counts as modules
the machine's owner (or the user, in their own configuration) chose. A configuration file that someone else could
have written (owned by another user than root or the current one, or writable by everyone) is ignored for both.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from p11.errors import ModuleNotFound, ModuleNotSpecified
from p11.files import read_small_file

__all__ = [
    "ModuleNotFound",
    "Registration",
    "check_name",
    "config_dirs",
    "find_module",
    "module_dirs",
    "module_in_directory",
    "module_named",
    "registered_modules",
]

_CONFIG_LIMIT = 65536  # a p11-kit .module file is a few lines
_CONFIGS_LIMIT = 1000  # .module files read per directory: a directory of a million files is not a configuration
# A module name: what p11-kit names its .module files and what a library's file name is made of. No path
# separators, no leading dot (so neither '.', '..' nor a hidden file), nothing a shell or a log would mangle.
_NAME_RE = re.compile(r"[A-Za-z0-9_+@-][A-Za-z0-9._+@-]{0,254}")


def config_dirs() -> list[Path]:
    """p11-kit's module config directories, user first (p11-kit reads user config only when not root)."""
    dirs = []
    if hasattr(os, "getuid") and os.getuid() != 0:
        config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        dirs.append(Path(config_home) / "pkcs11" / "modules")
    dirs += [Path("/etc/pkcs11/modules"), Path("/usr/share/p11-kit/modules"), Path("/usr/local/share/p11-kit/modules")]
    return dirs


def module_dirs() -> list[Path]:
    """Where PKCS#11 modules live on this platform (p11-kit's compiled-in module path and its relatives)."""
    if sys.platform == "darwin":
        return [Path("/opt/homebrew/lib/pkcs11"), Path("/usr/local/lib/pkcs11"), Path("/usr/local/lib")]
    multiarch = getattr(sys.implementation, "_multiarch", "")
    dirs = []
    if multiarch:
        dirs += [Path("/usr/lib") / multiarch / "pkcs11", Path("/usr/lib") / multiarch]
    dirs += [Path("/usr/lib64/pkcs11"), Path("/usr/lib/pkcs11"), Path("/usr/lib64"), Path("/usr/lib")]
    return dirs


def _stem(filename: str) -> str:
    name = filename
    for suffix in (".so", ".dylib", ".dll"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name[3:] if name.startswith("lib") else name


def _written_by_someone_else(path: Path) -> bool:
    """Whether a configuration file could hold another user's words: owned by neither root nor us, or writable by
    everyone; for a symlink, the link too (a link another user made chooses which file is read: any file of root's
    or ours holding a ``module:`` line would do). (p11-kit itself does not look; a module it would load on such a
    file's say-so is not trusted.)"""
    if not hasattr(os, "getuid"):
        return False
    owners = (0, os.getuid())
    try:
        link = os.lstat(path)
        found = os.stat(path)
    except OSError:
        return True
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in owners:
        return True
    return found.st_uid not in owners or bool(found.st_mode & stat.S_IWOTH)


def _module_line(config: Path) -> str | None:
    if _written_by_someone_else(config):
        return None
    try:  # a regular file of sane size only: a FIFO dropped among the configs must not hang the lookup
        text = read_small_file(str(config), _CONFIG_LIMIT).decode("utf-8", errors="surrogateescape")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "module":
            return value.strip() or None
    return None


def _resolve(module: str) -> Path | None:
    path = Path(module)
    try:
        if path.is_absolute():
            return path if path.is_file() else None
        for directory in module_dirs():
            candidate = directory / path
            if candidate.is_file():
                return candidate
    except (OSError, ValueError):  # a name too long, a NUL: not a module
        return None
    return None


@dataclass(frozen=True)
class Registration:
    """One module p11-kit's configuration registers: the ``.module`` file, and the module file its ``module:`` line
    names (a relative name resolved in the module directories)."""

    config: Path
    path: Path

    @property
    def names(self) -> tuple[str, str]:
        """The names ``module-name`` finds it by: the config file's own name and the library's stem."""
        return self.config.stem, _stem(self.path.name)


def _config_files(directory: Path) -> list[Path]:
    try:
        if not directory.is_dir():
            return []
        found = []
        for entry in os.scandir(directory):
            if entry.name.endswith(".module"):
                found.append(Path(entry.path))
                if len(found) >= _CONFIGS_LIMIT:
                    break
    except OSError:
        return []
    return sorted(found)


def registered_modules() -> list[Registration]:
    """Every module p11-kit's configuration registers (user configuration first, as :func:`config_dirs`), whose file
    exists; configuration files someone else could have written are left out (see the module docstring)."""
    found: list[Registration] = []
    for directory in config_dirs():
        for config in _config_files(directory):
            module = _module_line(config)
            resolved = None if module is None else _resolve(module)
            if resolved is not None:
                found.append(Registration(config, resolved))
    return found


def check_name(name: str) -> str:
    """``name`` if it is a plain module name (``softhsm2``, ``opensc-pkcs11``), else :class:`ModuleNotFound`: a
    ``module-name`` never names a path (``../x``, ``/x``, ``.hidden``), so it cannot reach outside the module
    directories."""
    if not isinstance(name, str):
        raise TypeError(f"a module name must be a str, not {type(name).__name__}")
    if not _NAME_RE.fullmatch(name):
        shown = repr(name) if len(name) <= 80 else repr(name[:80] + "...")
        raise ModuleNotFound(
            f"module-name {shown} is not a plain module name (letters, digits and ._+@- only, not starting with "
            "'.'; use module-path for paths)"
        )
    return name


def find_module(name: str) -> str:
    """The path of the module called ``name`` (see the module docstring for what "called" means)."""
    check_name(name)
    looked = [str(directory) for directory in config_dirs()]
    for registration in registered_modules():
        if name in registration.names:
            return str(registration.path)
    for directory in module_dirs():
        looked.append(str(directory))
        found = module_in_directory(directory, name)
        if found is not None:
            return found
    raise ModuleNotFound(f"no PKCS#11 module named {name!r} (looked in: {', '.join(looked)})")


def module_in_directory(directory: Path, name: str) -> str | None:
    """The module file called ``name`` in ``directory`` (``NAME.so``, ``libNAME.so``, and the macOS and Windows
    forms), or ``None``. ``name`` must be a plain name (:func:`check_name`)."""
    check_name(name)
    for filename in (f"{name}.so", f"lib{name}.so", f"{name}.dylib", f"lib{name}.dylib", f"{name}.dll"):
        candidate = directory / filename
        try:
            if candidate.is_file():
                return str(candidate)
        except (OSError, ValueError):
            return None
    return None


def module_named(path: str | None, name: str | None) -> tuple[str, str] | None:
    """The module file a URI's ``module-path`` and ``module-name`` name, and what named it (for messages); ``None``
    when they name none. A ``module-path`` that is a directory is searched for ``module-name``; a ``module-name``
    alone is looked up as p11-kit does (:func:`find_module`). Whether the file may be loaded is
    :mod:`p11.trust`'s question, asked by ``p11.opener.module_path_for``."""
    if path is not None:
        if os.path.isdir(path):
            if name is None:
                raise ModuleNotSpecified(
                    f"module-path {path!r} is a directory: name the module file, or add module-name=NAME to pick "
                    "one in it"
                )
            found = module_in_directory(Path(path), name)
            if found is None:
                raise ModuleNotFound(f"no PKCS#11 module named {name!r} in module-path directory {path!r}")
            return found, "the URI's module-path and module-name"
        return path, "the URI's module-path"
    if name is not None:
        return find_module(name), f"the URI's module-name {name!r}"
    return None
