"""Which PKCS#11 modules p11 loads when data names them: only files the caller opted in to, compared by identity.

Loading a module runs its code in this process (its constructors run at ``dlopen``), and p11 then hands it the PIN.
A URI's ``module-path`` or ``module-name``, and the module a CA directory recorded, are data: they come from
configuration files that other people may be able to edit. So a module that only data names is loaded when it is
one of these (checked in this order):

* a module file this process has loaded already (:func:`p11.load`, ``p11.lowlevel.load``, the ``p11``
  command's ``--module`` / ``--module-name``): the caller named it, and its code runs here anyway;
* the file ``P11_MODULE`` names: the caller's own environment;
* a file on the allow-list the caller passes (``allow_modules=`` of :func:`p11.open`; the ``p11`` command reads
  ``P11_ALLOW_MODULES``, paths separated by ``os.pathsep``; an entry without a ``/`` is a module name, looked up as
  ``module-name`` is);
* a module p11-kit's configuration registers (:func:`p11.modules.registered_modules`): the machine's owner, or the
  user in their own configuration, chose it, and every p11-kit aware program loads it.

Files are compared by identity (device and inode, symlinks followed), never by the text of their path: a symlink or
a hard link to a trusted module is that module; a copy of it, or a trusted path whose file was replaced since, is
another file. What is then loaded is the *trusted* path (the one the caller, the allow-list or p11-kit gave), not
the path the data gave, so a file cannot be switched between the check and the load through a directory the
data's author controls. Anything else raises :class:`p11.errors.UntrustedModule`, which says how to allow it;
nothing was loaded and no PIN was read.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Iterator
from typing import Final

from p11.errors import ModuleLoadError, UntrustedModule
from p11.lowlevel.loader import FileIdentity, loaded_files, module_file
from p11.modules import ModuleNotFound, config_dirs, find_module, registered_modules

__all__ = ["ALLOW_ENV", "MODULE_ENV", "AllowModules", "allowed_from_environment", "trusted_module"]

#: The environment variable naming the module (a path) a program uses when a URI names none.
MODULE_ENV: Final = "P11_MODULE"
#: The environment variable the ``p11`` command reads its allow-list from (paths or module names, ``os.pathsep``
#: between them).
ALLOW_ENV: Final = "P11_ALLOW_MODULES"
#: An allow-list: module paths (or p11-kit module names), or ``None``.
AllowModules = Iterable[str | os.PathLike[str]] | None

_ENV_LIMIT: Final = 65536  # characters of P11_ALLOW_MODULES: a list of paths, not a megabyte of anything
_ALLOW_LIMIT: Final = 256  # entries in an allow-list


def allowed_from_environment() -> list[str]:
    """The allow-list in ``P11_ALLOW_MODULES`` (empty when unset); ``ValueError`` for a value too large to be one."""
    value = os.environ.get(ALLOW_ENV, "")
    if len(value) > _ENV_LIMIT:
        raise ValueError(f"{ALLOW_ENV} is {len(value)} characters long: a list of module paths is not that long")
    entries = [entry for entry in value.split(os.pathsep) if entry.strip()]
    if len(entries) > _ALLOW_LIMIT:
        raise ValueError(f"{ALLOW_ENV} lists {len(entries)} modules; at most {_ALLOW_LIMIT} are taken")
    return entries


def _identity(entry: str | os.PathLike[str]) -> tuple[FileIdentity, str] | None:
    """The identity and path of the file an allow-list entry (or ``P11_MODULE``) names; ``None`` when it names
    none (it then cannot match anything, which is all an entry is for)."""
    try:
        text = os.fspath(entry)
        if os.sep not in text and not (os.altsep and os.altsep in text):
            text = find_module(text)
        found = module_file(text)
    except (ModuleLoadError, ModuleNotFound, ValueError, TypeError):  # TypeError: bytes from os.PathLike
        return None
    return None if found.identity is None else (found.identity, found.path)


def _allow_list(allow_modules: AllowModules) -> list[str | os.PathLike[str]]:
    if allow_modules is None:
        return []
    if isinstance(allow_modules, str | bytes | os.PathLike):
        example = os.fspath(allow_modules)
        raise TypeError(f"allow_modules takes a list of module paths, e.g. allow_modules=[{example!r}]")
    entries = list(allow_modules)
    if len(entries) > _ALLOW_LIMIT:
        raise ValueError(f"allow_modules lists {len(entries)} modules; at most {_ALLOW_LIMIT} are taken")
    for entry in entries:
        if not isinstance(entry, str | os.PathLike):
            raise TypeError(f"allow_modules entries must be paths (str or os.PathLike), not {type(entry).__name__}")
    return entries


def _trusted(allow_modules: list[str | os.PathLike[str]]) -> Iterator[tuple[FileIdentity, str]]:
    """Every trusted module file as (identity, path to load), in the module docstring's order; lazily, so the
    p11-kit configuration is read only when nothing before it matched."""
    yield from loaded_files().items()
    for entry in [os.environ.get(MODULE_ENV) or None, *allow_modules]:
        found = None if entry is None else _identity(entry)
        if found is not None:
            yield found
    for registration in registered_modules():
        found = _identity(str(registration.path))
        if found is not None:
            yield found


def _still(path: str, identity: FileIdentity) -> bool:
    """Whether ``path`` names the trusted file still (a module loaded earlier may have been replaced since)."""
    try:
        return module_file(path).identity == identity
    except (ModuleLoadError, ValueError):
        return False


def trusted_module(path: str | os.PathLike[str], *, named_by: str, allow_modules: AllowModules = None) -> str:
    """The path to load for the module ``path`` that data named (``named_by`` says what named it: "the URI's
    module-path" …): the trusted path of the same file (see the module docstring), or
    :class:`~p11.errors.UntrustedModule`. A path that names no regular file raises what
    ``p11.lowlevel.loader.module_file`` raises (:class:`~p11.errors.ModuleLoadError`, ``ValueError``)."""
    entries = _allow_list(allow_modules)
    candidate = module_file(path)
    if candidate.identity is None:
        raise UntrustedModule(
            candidate.path,
            f"{named_by} gives a bare library name, which the system's loader looks up in its own search path, so "
            "p11 cannot tell which file would be loaded: name the module file by its full path",
            named_by,
        )
    for identity, trusted in _trusted(entries):
        if identity == candidate.identity and _still(trusted, identity):
            return trusted
    real = os.path.realpath(candidate.path)
    which = f" (the file {real!r})" if real != candidate.path else ""
    places = ", ".join(str(directory) for directory in config_dirs())
    # The shell form is for pasting: quoted, and only when it is all text (a path is data's: it may hold escape
    # sequences or a newline, which the message would otherwise carry to a terminal or a log).
    shell = shlex.quote(candidate.path) if candidate.path.isprintable() else "PATH"
    raise UntrustedModule(
        candidate.path,
        f"{named_by} names it{which}, and p11 loads a module that data names only when the caller opted in to that "
        f"file: it is not a module this process loaded (p11.load), not {MODULE_ENV}, not on the allow-list and not "
        f"registered in p11-kit's configuration ({places}). If you trust it, pass "
        f"allow_modules=[{candidate.path!r}] to p11.open (the p11 command: --module {shell} or "
        f"{ALLOW_ENV}={shell})",
        named_by,
    )
