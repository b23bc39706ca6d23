"""Drive the fault-injecting PKCS#11 module (``native/faultmod``): a real module behind a shim that fails on demand.

Real HSMs fail in ways SoftHSM never does: sessions vanish, the device is unplugged, a network HSM takes
milliseconds per call, a reply claims more bytes than the buffer holds. ``libp11fault.so`` forwards every call to a
real module (SoftHSM in the tests) except when a rule says otherwise; the rule language is documented at the top of
``native/faultmod/p11fault.c`` (one rule a line: ``C_Sign error=DEVICE_ERROR every=3``, ``C_Sign latency_us=1000``,
``C_GetAttributeValue garbage_lengths seed=7`` ...).

The shim is a test artifact, and so is this module (tests/faults/, not in the wheel): :func:`build` compiles the
shim with CMake from the source checkout this file is in, into ``build/faultmod``.
In a process, :class:`FaultModule` talks to the same loaded instance p11 uses (``dlopen`` of one path gives one
instance), so a test can load the shim with :func:`p11.load`, then change the rules between calls. A child process
gets its rules from the environment instead (:meth:`FaultModule.env`).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FaultConfigError", "FaultModule", "build"]

LIBRARY_NAME = "libp11fault.so"
_CHECKOUT = Path(__file__).resolve().parents[2]
SOURCE_DIR = _CHECKOUT / "native" / "faultmod"
BUILD_DIR = _CHECKOUT / "build" / "faultmod"


class FaultConfigError(ValueError):
    """The shim rejected a rule (the message is the shim's: the setting it could not read)."""


def _tool(name: str) -> str:
    # The venv's own cmake/ninja (pip packages) first: a fresh machine has them there, not on PATH.
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is needed to build the fault-injecting module (pip install {name})")
    return found


def build(source_dir: str | os.PathLike[str] = SOURCE_DIR, build_dir: str | os.PathLike[str] = BUILD_DIR) -> Path:
    """Configure (once) and build ``native/faultmod`` from ``source_dir`` into ``build_dir`` (by default the
    checkout's ``native/faultmod`` into its ``build/faultmod``); the library's path.

    Incremental: a second call with nothing changed costs one ``cmake --build`` that finds nothing to do. POSIX
    only (the shim itself is POSIX: dlopen, pthreads).
    """
    src, out = Path(source_dir), Path(build_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".build.lock", "w") as lock:  # one build at a time (test runs, benchmarks, soak in parallel)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "CMakeCache.txt").exists():
            configure = [_tool("cmake"), "-S", str(src), "-B", str(out), "-G", "Ninja",
                         f"-DCMAKE_MAKE_PROGRAM={_tool('ninja')}"]
            subprocess.run(configure, check=True, capture_output=True)
        subprocess.run([_tool("cmake"), "--build", str(out)], check=True, capture_output=True)
    return out / LIBRARY_NAME


class FaultModule:
    """The shim at ``path`` in front of the real module at ``wrapped``: rules in, counters out.

    :meth:`configure` replaces every rule (and restarts the counters); :meth:`faults` applies rules for a ``with``
    block and clears them afterwards; :meth:`calls` / :meth:`injected` count per Cryptoki function (or all).
    """

    def __init__(self, path: str | os.PathLike[str], wrapped: str) -> None:
        self.path = str(path)
        self.wrapped = wrapped
        self._lib = ctypes.CDLL(self.path)
        self._lib.p11fault_configure.argtypes = [ctypes.c_char_p]
        self._lib.p11fault_configure.restype = ctypes.c_int
        self._lib.p11fault_last_error.restype = ctypes.c_char_p
        self._lib.p11fault_open_sessions.restype = ctypes.c_ulong
        for name in ("p11fault_calls", "p11fault_injected"):
            getattr(self._lib, name).argtypes = [ctypes.c_char_p]
            getattr(self._lib, name).restype = ctypes.c_ulong
        self.configure("")

    def configure(self, rules: str) -> None:
        """Replace every rule by ``rules`` (the shim's text format); the real module stays ``wrapped``."""
        text = f"module {self.wrapped}\n{rules}"
        if self._lib.p11fault_configure(text.encode()) != 0:
            raise FaultConfigError(self._lib.p11fault_last_error().decode())

    @contextlib.contextmanager
    def faults(self, rules: str) -> Iterator[FaultModule]:
        """``with shim.faults("C_Sign error=DEVICE_ERROR nth=2"):`` rules for the block only."""
        self.configure(rules)
        try:
            yield self
        finally:
            self.configure("")

    def calls(self, function: str | None = None) -> int:
        """Calls of ``function`` (e.g. ``"C_Sign"``; all functions when ``None``) since the last configure."""
        return int(self._lib.p11fault_calls(function.encode() if function else None))

    def injected(self, function: str | None = None) -> int:
        """Faults injected into ``function`` (all when ``None``) since the last configure."""
        return int(self._lib.p11fault_injected(function.encode() if function else None))

    def open_sessions(self) -> int:
        """Sessions opened through the shim and not closed yet (SoftHSM itself reports no session count)."""
        return int(self._lib.p11fault_open_sessions())

    def env(self, rules: str = "", base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a child process that loads the shim with ``rules`` from the start."""
        env = dict(os.environ if base is None else base)
        env["P11_FAULT_MODULE"] = self.wrapped
        env["P11_FAULT_CONFIG"] = rules
        return env
