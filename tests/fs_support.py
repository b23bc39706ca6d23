"""A tiny filesystem for full-disk and read-only tests: a 64 KiB tmpfs mounted in a private mount namespace.

The child runs under ``unshare --mount --propagation private``: its mount is seen by nobody else and disappears with
it, whatever happens to the test. Tests that need this are skipped where mounting is not allowed (not root, no
``unshare``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SIZE = "64k"

PRELUDE = """
import subprocess, sys
from pathlib import Path
MOUNT = Path(sys.argv[1])

def remount_read_only():
    subprocess.run(["mount", "-o", "remount,ro", str(MOUNT)], check=True)
"""


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def run_on_tiny_filesystem(tmp_path: Path, body: str, *, command: list[str] | None = None,
                           env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Mount a 64 KiB tmpfs at ``tmp_path/mnt`` and run ``body`` (Python, with ``MOUNT`` and
    ``remount_read_only()``) there, or ``command`` (a program, ``{MOUNT}`` in its arguments replaced); standard
    output."""
    if not _can_mount():
        pytest.skip("mounting a tmpfs in a private mount namespace is not allowed here")
    mount = tmp_path / "mnt"
    mount.mkdir()
    program = command or [sys.executable, "-c", PRELUDE + textwrap.dedent(body), str(mount)]
    program = [part.replace("{MOUNT}", str(mount)) for part in program]
    shell = f'mount -t tmpfs -o size={SIZE},mode=0755 tmpfs "$0" && exec "$@"'
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", shell, str(mount), *program],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )
    assert result.returncode == 0 or command is not None, result.stderr
    return result.stdout if command is None else result.stdout + result.stderr
