"""Small files a user names (a ``pin-source`` PIN file, a module path): only regular files, never a blocking read.

Opening a FIFO for reading blocks until someone writes to it, and a character device such as ``/dev/zero`` never
ends; a configuration that points at either must fail at once with a clear message, not hang the program. So a
path is ``stat``-ed first and anything but a regular file is refused (:class:`NotARegularFile`); a file that is
read is then opened with ``O_NONBLOCK`` (a FIFO swapped in after the ``stat`` still cannot block the open) and
checked again on the open descriptor, and at most ``limit + 1`` bytes are read (:class:`FileTooLarge` beyond).

This module imports nothing from p11: the low-level loader and :mod:`p11.opener` both use it.
"""

from __future__ import annotations

import os
import stat

from p11._exception import FileTooLarge, NotARegularFile

__all__ = ["FileTooLarge", "NotARegularFile", "check_regular_file", "read_small_file", "stat_regular_file"]

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, for messages; ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def stat_regular_file(path: str) -> os.stat_result:
    """``os.stat(path)`` (symlinks followed) of a regular file: :class:`NotARegularFile` for anything else, and the
    system's ``OSError`` when there is nothing to stat (missing, too long a name, a symlink loop, no permission)."""
    result = os.stat(path)
    kind = _kind(result.st_mode)
    if kind is not None:
        raise NotARegularFile(path, kind)
    return result


def check_regular_file(path: str) -> None:
    """Raise :class:`NotARegularFile` when ``path`` exists (symlinks followed) and is not a regular file. A
    missing path passes: the caller's own open reports it the way it always has."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    kind = _kind(mode)
    if kind is not None:
        raise NotARegularFile(path, kind)


def read_small_file(path: str, limit: int) -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes: :class:`NotARegularFile` for anything
    else (before and after opening), :class:`FileTooLarge` beyond ``limit``, other ``OSError`` as the system
    says (missing, permission denied …)."""
    check_regular_file(path)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotARegularFile(path, kind)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileTooLarge(path, limit)
    return b"".join(chunks)
