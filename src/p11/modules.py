"""Find a PKCS#11 module by the name an RFC 7512 ``module-name`` attribute gives, the way p11-kit does.

p11-kit describes installed modules in ``*.module`` files (``module: PATH``; a relative path is taken from p11-kit's
module directory). A name matches such a file's own name (``softhsm2`` for ``softhsm2.module``), or the module's file
name with any ``lib`` prefix and platform suffix removed (``softhsm2`` for ``libsofthsm2.so``), which is what RFC 7512
section 2.3 suggests consumers accept. Failing the config files, the platform's module directories are searched
directly for ``NAME.so`` / ``libNAME.so``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from p11.errors import P11Error
from p11.files import read_small_file

__all__ = ["ModuleNotFound", "config_dirs", "find_module", "module_dirs"]

_CONFIG_LIMIT = 65536  # a p11-kit .module file is a few lines


class ModuleNotFound(P11Error, LookupError):
    """No installed PKCS#11 module goes by the name asked for; the message says where it looked."""


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


def _module_line(config: Path) -> str | None:
    try:  # a regular file of sane size only: a FIFO dropped among the configs must not hang the lookup
        text = read_small_file(str(config), _CONFIG_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "module":
            return value.strip() or None
    return None


def _resolve(module: str) -> Path | None:
    path = Path(module)
    if path.is_absolute():
        return path if path.is_file() else None
    for directory in module_dirs():
        candidate = directory / path
        if candidate.is_file():
            return candidate
    return None


def find_module(name: str) -> str:
    """The path of the module called ``name`` (see the module docstring for what "called" means)."""
    if not name or "/" in name or "\\" in name:
        raise ModuleNotFound(f"module-name {name!r} is not a plain module name (use module-path for paths)")
    looked: list[str] = []
    for directory in config_dirs():
        looked.append(str(directory))
        if not directory.is_dir():
            continue
        for config in sorted(directory.glob("*.module")):
            module = _module_line(config)
            if module is None:
                continue
            if config.stem == name or _stem(Path(module).name) == name:
                resolved = _resolve(module)
                if resolved is not None:
                    return str(resolved)
    for directory in module_dirs():
        looked.append(str(directory))
        for filename in (f"{name}.so", f"lib{name}.so", f"{name}.dylib", f"lib{name}.dylib", f"{name}.dll"):
            candidate = directory / filename
            if candidate.is_file():
                return str(candidate)
    raise ModuleNotFound(f"no PKCS#11 module named {name!r} (looked in: {', '.join(looked)})")
