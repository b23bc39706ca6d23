"""Find a module's function list: ``dlopen``/``LoadLibraryW`` (native/loader.c), then ``C_GetInterface`` or
``C_GetFunctionList``, and a by-name table of the functions the module actually provides.

A PKCS#11 3.x module exports ``C_GetInterface``; asking it for its default ``"PKCS 11"`` interface gives the 3.x
function list (``CK_FUNCTION_LIST_3_0``, a superset of the 2.40 one) unless the module prefers its 2.x list. We do not
pick the newest entry of ``C_GetInterfaceList`` instead: wrappers such as OpenSC's pkcs11-spy offer a 3.0 list even
over a 2.x module, and crash when it is used. A 2.x module exports only ``C_GetFunctionList``. Which
struct the list really is follows from its ``version.major``, never from which symbol answered: a 3.x module may
still hand out a 2.40 list.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from typing import Any

from p11._cffi import ffi, lib
from p11.errors import FunctionNotSupported, ModuleLoadError, rv_name
from p11.files import NotARegularFile, stat_regular_file
from p11.lowlevel.types import Version

__all__ = ["FileIdentity", "FunctionTable", "ModuleFile", "loaded_files", "module_file", "open_module"]

#: What makes two paths one file: ``(st_dev, st_ino)``, the same whatever symlinks or hard links lead there.
FileIdentity = tuple[int, int]

_ERRLEN = 1024
_INTERFACE_NAME = b"PKCS 11"
_MAX_PATH = 32767  # the longest path any system loads (Windows' extended-length limit; POSIX PATH_MAX is 4096)


def _path_text(path: str | os.PathLike[str]) -> str:
    if isinstance(path, bytes):
        raise TypeError("module path must be str or os.PathLike[str], not bytes")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"module path must be str or os.PathLike[str], not {type(path).__name__}")
    if not text or "\x00" in text:
        raise ValueError("module path must be a non-empty string without NUL characters")
    if len(text) > _MAX_PATH:
        raise ValueError(f"module path is {len(text)} characters long; no system takes more than {_MAX_PATH}")
    try:
        os.fsencode(text)
    except UnicodeError:
        encodable = False  # raised outside the handler: no exception context holding the path
    else:
        encodable = True
    if not encodable:
        raise ValueError("module path holds a character this system cannot put in a file name (a lone surrogate)")
    return text


@dataclass(frozen=True)
class ModuleFile:
    """A module path checked before anything loads it: ``path`` as given, ``identity`` of the regular file it
    names now (``None`` for a bare library name, which the dynamic loader looks up in its own search path)."""

    path: str
    identity: FileIdentity | None


def _has_separator(text: str) -> bool:
    return os.sep in text or bool(os.altsep and os.altsep in text)


def module_file(path: str | os.PathLike[str]) -> ModuleFile:
    """The one check of a module path, for everything that loads a module or compares module files: ``TypeError``
    for a path that is not text, ``ValueError`` for an empty one, one with NUL or longer than any system takes, and
    :class:`~p11.errors.ModuleLoadError` naming the path and the reason for a path that names no regular file
    (missing, a name too long, a symlink loop, permission denied, a FIFO, a device, a directory: the last three are
    refused before the loader opens them, so they cannot block)."""
    text = _path_text(path)
    if not _has_separator(text):
        return ModuleFile(text, None)
    try:
        found = stat_regular_file(text)
    except NotARegularFile as exc:
        raise ModuleLoadError(text, f"it is {exc.kind}, not a regular file: name the module's .so file") from None
    except OSError as exc:
        raise ModuleLoadError(text, exc.strerror or type(exc).__name__) from None
    return ModuleFile(text, (found.st_dev, found.st_ino))


# Every module file this process has loaded (identity -> the path it was loaded by). A module is never unloaded
# (see p11.lowlevel.module), so an entry stays true for the life of the process.
_LOADED: dict[FileIdentity, str] = {}
_LOADED_LOCK = threading.Lock()


def loaded_files() -> dict[FileIdentity, str]:
    """The identities of the module files this process has loaded (through :func:`open_module`), each with the
    path it was first loaded by."""
    with _LOADED_LOCK:
        return dict(_LOADED)


def _default_interface(handle: Any) -> Any:
    """The function list of ``C_GetInterface("PKCS 11", NULL_PTR)``, or ``None``."""
    sym = lib.p11_module_symbol(handle, b"C_GetInterface")
    if sym == ffi.NULL:
        return None
    get_interface = ffi.cast("CK_C_GetInterface", sym)
    name = ffi.new("CK_UTF8CHAR[]", len(_INTERFACE_NAME) + 1)
    ffi.memmove(name, _INTERFACE_NAME, len(_INTERFACE_NAME))
    iface = ffi.new("CK_INTERFACE **")
    rv = get_interface(name, ffi.NULL, iface, 0)
    if rv != lib.CKR_OK or iface[0] == ffi.NULL or iface[0].pFunctionList == ffi.NULL:
        return None
    return iface[0].pFunctionList


def _from_function_list(handle: Any, path: str) -> Any:
    sym = lib.p11_module_symbol(handle, b"C_GetFunctionList")
    if sym == ffi.NULL:
        raise ModuleLoadError(path, "no C_GetFunctionList symbol: not a PKCS#11 module")
    get_function_list = ffi.cast("CK_C_GetFunctionList", sym)
    out = ffi.new("CK_FUNCTION_LIST **")
    rv = get_function_list(out)
    if rv != lib.CKR_OK:
        raise ModuleLoadError(path, f"C_GetFunctionList returned {rv_name(rv)}")
    if out[0] == ffi.NULL:
        raise ModuleLoadError(path, "C_GetFunctionList returned a NULL function list")
    return ffi.cast("void *", out[0])


def open_module(path: str | os.PathLike[str]) -> tuple[str, Any, Any, Version]:
    """Load ``path`` and return ``(path text, library handle, typed function list pointer, list version)``; the
    text of a path (not of a bare library name) is absolute.

    Raises what :func:`module_file` raises for a path that names no regular file, :class:`~p11.errors.ModuleLoadError`
    naming the path and the loader's message for a file the loader refuses, and ``"no C_GetFunctionList symbol"``
    for a shared object that is not a Cryptoki module.
    """
    checked = module_file(path)  # dlopen of a FIFO would block forever (see p11.files)
    if checked.identity is not None:
        # A file is loaded, recorded and known by its absolute path: p11.trust loads a module that data names by the
        # path it was first loaded by, maybe after a chdir, when "./x.so" may name someone else's file.
        checked = module_file(os.path.abspath(checked.path))
    text = checked.path
    err = ffi.new("char[]", _ERRLEN)
    # POSIX paths are bytes (a name that is not UTF-8 comes as surrogate escapes); the Windows loader widens UTF-8.
    handle = lib.p11_module_open(text.encode("utf-8") if os.name == "nt" else os.fsencode(text), err, _ERRLEN)
    if handle == ffi.NULL:
        reason = ffi.string(err).decode("utf-8", errors="replace") or "the loader gave no reason"
        raise ModuleLoadError(text, reason)
    try:
        # Every way that fails falls back to C_GetFunctionList, which every module has.
        raw = _default_interface(handle)
        if raw is None:
            raw = _from_function_list(handle, text)
    except BaseException:
        lib.p11_module_close(handle)
        raise
    if checked.identity is not None:
        with _LOADED_LOCK:
            _LOADED.setdefault(checked.identity, text)
    ver = ffi.cast("CK_VERSION *", raw)[0]
    version = Version(ver.major, ver.minor)
    struct = "CK_FUNCTION_LIST_3_0 *" if version.major >= 3 else "CK_FUNCTION_LIST *"
    return text, handle, ffi.cast(struct, raw), version


class FunctionTable:
    """The module's functions by Cryptoki name (``table.C_Sign(...)``), each called through the module's call gate.

    Every entry is the generated ``p11g_C_*`` wrapper bound to ``gate`` (native/gen_gated.py): it counts the call in
    flight and refuses it once the module is closed, so ``close()``, interpreter exit and ``fork()`` can wait for
    running calls instead of finalising under them. A function the list does not have (a 3.0 function on a 2.40
    module) or leaves ``NULL`` is simply absent, and asking for it raises :class:`~p11.errors.FunctionNotSupported`
    naming it, before anything is called.
    """

    def __init__(self, function_list: Any, version: Version, gate: Any) -> None:
        self._version = version
        for name, _field in ffi.typeof(function_list).item.fields:
            if name.startswith("C_") and getattr(function_list, name) != ffi.NULL:
                self.__dict__[name] = functools.partial(getattr(lib, "p11g_" + name), gate)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("C_"):
            raise FunctionNotSupported(
                int(lib.CKR_FUNCTION_NOT_SUPPORTED),
                name,
                f"not in this module's Cryptoki {self._version} function list; nothing was called",
            )
        raise AttributeError(name)

    def __contains__(self, name: str) -> bool:
        return name in self.__dict__
