"""Helpers for the tests of which modules p11 loads (fixtures in trust_fixtures.py): the "evil module", a shared
object built here whose constructor writes a marker file (the marker is how a test sees that a library's code ran),
and a child Python that has loaded nothing yet."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

__all__ = ["EVIL_C", "Evil", "child", "lose_the_race", "no_registrations"]

EVIL_C = r"""
#include <stdio.h>
__attribute__((constructor)) static void ran(void) {
    FILE *f = fopen(MARKER, "w");
    if (f) { fputs("the module's code ran\n", f); fclose(f); }
}
"""


class Evil:
    """A shared object whose constructor writes ``marker``: loading it at all is what must not happen."""

    def __init__(self, directory: Path, name: str = "evil.so") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.marker = directory / "evil-ran"
        self.path = directory / name
        source = directory / "evil.c"
        source.write_text(EVIL_C, encoding="utf-8")
        subprocess.run(["gcc", "-shared", "-fPIC", f'-DMARKER="{self.marker}"', "-o", str(self.path), str(source)],
                       check=True, timeout=60)

    @property
    def ran(self) -> bool:
        return self.marker.exists()


def child(code: str, *, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python (nothing loaded yet) that sees this run's SoftHSM store."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, check=False)


def no_registrations() -> str:
    """Child-process code that hides p11-kit's configuration, so only the other ways to trust a module count."""
    return "import p11.modules; p11.modules.config_dirs = lambda: []"


def lose_the_race(new: Path, old: Path) -> str:
    """Child-process code (one line) that makes p11 lose a race it cannot see: right after its trust check of a
    module file (``p11.trust._still``) the file ``new`` is moved over ``old`` (once), as someone who can write
    ``old``'s directory would, between the check and the load."""
    swap = f"os.path.lexists({str(new)!r}) and os.replace({str(new)!r}, {str(old)!r})"
    return ("import os, p11.trust; p11.trust._still = "
            f"(lambda checked: lambda path, identity: (checked(path, identity), {swap})[0])(p11.trust._still)")
