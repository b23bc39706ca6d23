"""The one home for writing files: whole or not at all, never through a planted link, secrets 0600, errors that
name the file.

Every file p11, its command line and its examples write goes through here: the CA directory (index, certificates,
CRLs, settings), ``--out FILE`` of every subcommand, the examples' keys and certificates.

:func:`atomic_write` writes ``data`` to a new temporary file beside the target (``.NAME.XXXXXXXXXXXX.tmp``, created
with ``O_EXCL``, so a link planted at that name is refused rather than followed), fsyncs it, renames it over the
target and fsyncs the directory. So a reader, or the next run after a crash or a ``SIGKILL``, sees the old content
or the new one, never a mix or a truncated file; and what was at the target before, a symlink included, is
replaced, never written through: a link planted at ``server-key.pem`` cannot send a key elsewhere, and the new
file's mode does not depend on the old one's.

* Modes: the new file is created ``0666`` (a secret ``0600``) and the process umask applies, as it does for every
  program: a umask of ``077`` gives ``0600`` everywhere. A secret is never more than ``0600``, whatever was there.
* Errors are ``OSError`` (the subclass the errno maps to) whose ``filename`` is the target, whatever step failed:
  ``No space left on device: 'ca/index.txt'``, never a temporary name or a bare ``[Errno 28]``. The temporary file
  is removed and the target is left as it was.
* A writer killed between creating its temporary file and the rename leaves that file behind; a caller that knows
  no other writer is at work (the CA, under its directory lock) removes such leftovers with
  :func:`remove_stale_temporaries`.

:func:`write_file` is for a path a user names (``--out FILE``): a path in ``/dev`` or ``/proc`` (``/dev/stdout``,
``/dev/null``, a terminal) and any FIFO, socket or device node is written to as it is, appended to (renaming over
it would replace the device, or the system's ``/dev/stdout`` link); a secret goes there only if it belongs to this
user or to root. Anything else is replaced by :func:`atomic_write`.

This module imports nothing from p11.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
from pathlib import Path
from typing import Final

__all__ = ["atomic_write", "fsync_directory", "remove_stale_temporaries", "write_file"]

StrPath = str | os.PathLike[str]

_TEMP_SUFFIX: Final = ".tmp"
# What atomic_write names its temporary files (and what tempfile.mkstemp named them before: 8 characters).
_TEMP_NAME: Final = re.compile(r"\..+\.[A-Za-z0-9_]{8,12}\.tmp")
_CREATE: Final = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
)
_PUBLIC_MODE: Final = 0o666
_SECRET_MODE: Final = 0o600
# openat/renameat: the temporary file and the rename stay in one directory even if its path is swapped meanwhile.
_DIR_FD: Final = os.open in os.supports_dir_fd and sys.platform != "win32"


def _named(exc: OSError, path: StrPath) -> OSError:
    """``exc`` again, naming ``path`` (the target) instead of whatever name the failing call had."""
    code = exc.errno if exc.errno is not None else errno.EIO
    return OSError(code, exc.strerror or os.strerror(code), os.fspath(path))


def fsync_directory(directory: StrPath) -> None:
    """Make a rename or a new file in ``directory`` durable (a no-op where directories cannot be opened)."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def _temporary(name: str, dir_fd: int | None, parent: Path, mode: int) -> tuple[str, int]:
    """A new temporary file beside ``name``: (its name, an fd open for writing)."""
    for _ in range(100):
        temp = f".{name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}"
        try:
            if dir_fd is not None:
                return temp, os.open(temp, _CREATE, mode, dir_fd=dir_fd)
            return temp, os.open(parent / temp, _CREATE, mode)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(parent / name))


def atomic_write(path: StrPath, data: bytes, *, secret: bool = False) -> None:
    """Replace ``path`` with ``data``, whole or not at all; ``secret``: mode ``0600`` (see the module docstring)."""
    target = Path(path)
    name, parent = target.name, target.parent
    if not name or name in (".", ".."):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
    mode = _SECRET_MODE if secret else _PUBLIC_MODE
    try:
        dir_fd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)) \
            if _DIR_FD else None
    except OSError as exc:
        raise _named(exc, path) from None
    try:
        try:
            temp, fd = _temporary(name, dir_fd, parent, mode)
        except OSError as exc:
            raise _named(exc, path) from None
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            if dir_fd is not None:
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            else:
                os.replace(parent / temp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                if dir_fd is not None:
                    os.unlink(temp, dir_fd=dir_fd)
                else:
                    os.unlink(parent / temp)
            if isinstance(exc, OSError):
                raise _named(exc, path) from None
            raise
        try:
            if dir_fd is not None:
                os.fsync(dir_fd)
            else:
                fsync_directory(parent)
        except OSError as exc:
            raise _named(exc, path) from None
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def _stream(path: StrPath) -> bool:
    """Whether ``path`` is written to as it is: a FIFO, socket or device (renaming over it would replace it), or a
    link in ``/dev`` or ``/proc`` (``/dev/stdout`` leads to whatever standard output is, a file the shell opened
    included: renaming over it would replace the system's link)."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode) and os.path.abspath(path).startswith(("/dev/", "/proc/")):
            return True
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _check_owner(uid: int, path: StrPath) -> None:
    if uid not in (0, getattr(os, "geteuid", lambda: 0)()):
        raise PermissionError(errno.EPERM, "another user's file: a secret is not written there", os.fspath(path))


def write_file(path: StrPath, data: bytes, *, secret: bool = False) -> None:
    """Write ``data`` to the file a user named: a stream (a terminal, ``/dev/null``, ``/dev/stdout``, a FIFO) as it
    is, appended to; anything else replaced by :func:`atomic_write` (see the module docstring)."""
    if not _stream(path):
        atomic_write(path, data, secret=secret)
        return
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        if secret:
            _check_owner(os.stat(path).st_uid, path)  # before the open: opening a FIFO waits for its reader
        fd = os.open(path, flags)
    except OSError as exc:
        raise _named(exc, path) from None
    try:
        if secret:
            _check_owner(os.fstat(fd).st_uid, path)  # what was opened, should the path have changed meanwhile
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise _named(exc, path) from None
    finally:
        os.close(fd)


def remove_stale_temporaries(directory: StrPath) -> list[str]:
    """Remove the temporary files a killed :func:`atomic_write` left in ``directory``; the names removed.

    Only for a caller that knows no other writer is at work there (the CA holds its directory lock): a live
    writer's temporary file looks the same. Links and regular files are removed (a link itself, never its target);
    nothing else is touched, and a file that cannot be removed is left."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if not _TEMP_NAME.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):
            if entry.is_symlink() or entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed
