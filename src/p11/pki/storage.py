"""Files that survive a crash: write-then-rename with fsync, and one lock per CA directory shared by processes.

:func:`atomic_write` writes a temporary file in the same directory, fsyncs it, renames it over the target and fsyncs
the directory, so a reader (or the CA after a power cut) sees either the old content or the new, never a mix or a
truncated file. :class:`DirectoryLock` is an exclusive advisory lock on ``DIR/.lock`` (``flock`` on POSIX,
``msvcrt.locking`` on Windows): every change to a CA directory happens under it, so two processes issuing at once
are serialised, read the index the other just wrote, and never pick the same serial.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Final

from p11.pki.errors import LockTimeout

__all__ = ["LOCK_NAME", "DirectoryLock", "atomic_write", "fsync_directory"]

#: The lock file's name inside a CA directory.
LOCK_NAME: Final = ".lock"
_POLL: Final = 0.01


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable (a no-op where directories cannot be opened)."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so that a crash at any point leaves the old file or the new one, whole."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class DirectoryLock:
    """``with DirectoryLock(directory):`` — the directory's exclusive lock, waiting at most ``timeout`` seconds.

    The lock belongs to an open file, so it also keeps out other threads of this process that take it through
    their own ``DirectoryLock``; the kernel drops it when the holder dies, so a killed issuer never leaves it held.
    Not reentrant: one ``with`` at a time per object.
    """

    def __init__(self, directory: Path, timeout: float = 60.0) -> None:
        self.path = Path(directory) / LOCK_NAME
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        if self._fd is not None:
            raise RuntimeError("DirectoryLock is not reentrant")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"the CA directory {str(self.path.parent)!r} stayed locked by another process for "
                        f"{self.timeout:g} s ({self.path.name})"
                    )
                time.sleep(_POLL)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                _unlock(fd)
            finally:
                os.close(fd)
