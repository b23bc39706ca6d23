"""Files that survive a crash, and one lock per CA directory shared by processes.

Every file is written by :func:`p11.safewrite.atomic_write` (write a new file, fsync, rename over, fsync the
directory), so a reader, or the CA after a power cut, sees either the old content or the new, never a mix or a
truncated file. :class:`DirectoryLock` is an exclusive advisory lock on ``DIR/.lock`` (``flock`` on POSIX,
``msvcrt.locking`` on Windows): every change to a CA directory happens under it, so two processes issuing at once
are serialised, read the index the other just wrote, and never pick the same serial.

The lock file also says whether its last holder finished: a holder marks it busy on entry and clears it on exit.
A holder killed mid-change (``SIGKILL``, a power cut) leaves it busy, and may have left a temporary file of an
unfinished write; the next holder finds the mark and removes those leftovers (:func:`p11.safewrite.
remove_stale_temporaries`) from the directories it was told to keep tidy, while no other writer can be at work.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Final

from p11.pki.errors import LockTimeout
from p11.safewrite import atomic_write, fsync_directory, remove_stale_temporaries

__all__ = ["LOCK_NAME", "DirectoryLock", "atomic_write", "fsync_directory"]

#: The lock file's name inside a CA directory.
LOCK_NAME: Final = ".lock"
_POLL: Final = 0.01
_BUSY: Final = b"busy\n"
_IDLE: Final = b"idle\n"  # the same size: rewriting the mark in place never needs a new block on a full disk
_LOCK_FLAGS: Final = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


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

    def __init__(self, directory: Path, timeout: float = 60.0, *, tidy: Iterable[Path] = ()) -> None:
        self.path = Path(directory) / LOCK_NAME
        self.timeout = timeout
        self.tidy = (Path(directory), *tidy)
        self._fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        if self._fd is not None:
            raise RuntimeError("DirectoryLock is not reentrant")
        fd = os.open(self.path, _LOCK_FLAGS, 0o600)
        deadline = time.monotonic() + self.timeout
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"the CA directory {str(self.path.parent)!r} stayed locked by another process for "
                        f"{self.timeout:g} s ({self.path.name})"
                    )
                time.sleep(_POLL)
            if _read_mark(fd) == _BUSY:  # its last holder died mid-change
                for directory in self.tidy:
                    remove_stale_temporaries(directory)
            _write_mark(fd, _BUSY, self.path)
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
                with contextlib.suppress(OSError):  # a mark left busy only makes the next holder tidy up
                    _write_mark(fd, _IDLE, self.path)
                _unlock(fd)
            finally:
                os.close(fd)


def _read_mark(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, len(_BUSY))


def _write_mark(fd: int, mark: bytes, path: Path) -> None:
    """The lock file's content: ``busy`` while a change is under way, ``idle`` once it is done (no fsync: after a
    power cut a leftover temporary file is only kept until the next holder that finds the mark)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, mark)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
