"""Real PKCS#11 tokens other than plain SoftHSM, started and stopped from Python, for interop tests.

Each token lives in its own directory and touches no system state:

* :class:`SoftHSMStore` — a private SoftHSM2 store with one token (the back end of the next two, and a second,
  independent module for tests that load two);
* :class:`P11KitProxyToken` — p11-kit's proxy module (``p11-kit-proxy.so``) configured to load only that store.
  p11-kit reads only its compiled-in system configuration when ``getuid() == 0``, so as root the consumer runs in
  a private mount namespace (``unshare -m``) in which a private module directory is bind-mounted over the system
  one (nothing outside that process tree sees it); as another user ``HOME``/``XDG_CONFIG_HOME`` point at a private
  ``pkcs11.conf`` that says ``user-config: only``;
* :class:`PKCS11SpyToken` — OpenSC's ``pkcs11-spy.so`` in front of the store, logging every call to a file;
* :class:`P11KitServerToken` — ``p11-kit server`` exporting the store's token on a unix socket, reached through
  ``p11-kit-client.so``: a remote token whose server can be killed and started again;
* :class:`OpenCryptokiToken` — openCryptoki's soft token ("swtok") behind its slot daemon ``pkcsslotd``. The one
  exception to "no system state": openCryptoki 3.8 has its paths compiled in, so the token lives in the fixed
  system locations (``/var/lib/opencryptoki/swtok``, ``/var/lock/opencryptoki``, ``/run/pkcsslotd.*``), needs
  root, and only one daemon can run per machine; :meth:`OpenCryptokiToken.start` refuses when a ``pkcsslotd`` it
  did not start is running, and wipes the soft token's data before and after;
* :class:`TPM2Token` — tpm2-pkcs11 on a software TPM: ``swtpm`` on loopback ports of its own, a private
  ``dbus-daemon`` on a unix socket in the directory, and the ``tpm2-abrmd`` resource manager on that bus (without
  it ``tpm2_ptool addtoken`` runs the TPM out of object memory).

Modules read their configuration from the environment once per process (``SOFTHSM2_CONF`` at ``C_Initialize``) and
p11-kit needs the mount namespace, so the code that uses a token runs in a CHILD process: :meth:`InteropToken.run`
/ :meth:`InteropToken.run_python` start it with the token's environment and command prefix. Processes are started
with :class:`subprocess.Popen` (their PIDs recorded in ``<dir>/<name>.pid``), asked to die with their parent
(``PR_SET_PDEATHSIG``), and stopped only by those recorded PIDs, after checking ``/proc/<pid>/cmdline`` still names
the program. Every step has a timeout.

A token whose programs or modules are missing raises :class:`InteropUnavailable`, whose message names the Debian
packages to install (:data:`APT_PACKAGES`). The interop test suite fails with that message, or skips every interop
test when ``P11_SKIP_INTEROP=1`` is set.

Like :mod:`p11.testing.softhsm`, this module imports nothing compiled, so it works before the build does. It is the
test suite's harness, not part of the wheel (it needs root for openCryptoki and wipes that token's store):
tests/interop/ of the source checkout.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from p11.testing.softhsm import SoftHSMNotFound, find_softhsm_module

__all__ = [
    "APT_PACKAGES",
    "InteropStartError",
    "InteropToken",
    "InteropUnavailable",
    "LineChild",
    "OpenCryptokiToken",
    "P11KitProxyToken",
    "P11KitServerToken",
    "PKCS11SpyToken",
    "SigningThreads",
    "SoftHSMStore",
    "Startable",
    "TPM2Token",
    "all_apt_packages",
    "skip_requested",
]

# Debian 12 packages each token needs (also what InteropUnavailable tells the user to install).
APT_PACKAGES: dict[str, tuple[str, ...]] = {
    "softhsm": ("softhsm2",),
    "p11kit": ("softhsm2", "p11-kit", "p11-kit-modules", "util-linux", "mount"),
    "p11kit-server": ("softhsm2", "p11-kit", "p11-kit-modules"),
    "spy": ("softhsm2", "opensc-pkcs11"),
    "opencryptoki": ("opencryptoki",),
    "tpm2": (
        "swtpm",
        "tpm2-abrmd",
        "libtss2-tcti-tabrmd0",
        "libtss2-tcti-swtpm0",
        "libtpm2-pkcs11-1",
        "libtpm2-pkcs11-tools",
        "tpm2-tools",
        "dbus-daemon",
    ),
}

SKIP_ENV = "P11_SKIP_INTEROP"

# p11-kit's compiled-in module directories (Debian): package modules, then the administrator's.
P11KIT_PACKAGE_MODULES = "/usr/share/p11-kit/modules"
P11KIT_SYSTEM_MODULES = "/etc/pkcs11/modules"

_START_TIMEOUT = 20.0  # seconds for one daemon to become ready
_TOOL_TIMEOUT = 60.0  # seconds for one setup tool run (tpm2_ptool init creates a primary key in the TPM)
_STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL


def all_apt_packages() -> list[str]:
    """Every Debian package the interop tokens need, once each (for ``apt-get install``)."""
    seen: dict[str, None] = {}
    for packages in APT_PACKAGES.values():
        seen.update(dict.fromkeys(packages))
    return list(seen)


def skip_requested() -> bool:
    """Whether ``P11_SKIP_INTEROP=1`` asks to skip the interop tests."""
    return os.environ.get(SKIP_ENV, "").strip() == "1"


class InteropUnavailable(RuntimeError):
    """A token cannot be started on this machine; ``.packages`` are the Debian packages that provide it."""

    def __init__(self, token: str, missing: Sequence[str], packages: Sequence[str] | None = None) -> None:
        self.token = token
        self.missing = list(missing)
        self.packages = list(packages if packages is not None else APT_PACKAGES.get(token, ()))
        text = f"interop token {token!r} cannot start: missing {', '.join(self.missing)}"
        if self.packages:
            text += f". Install with: apt-get install -y {' '.join(self.packages)}"
        text += f" (or set {SKIP_ENV}=1 to skip the interop tests)"
        super().__init__(text)


class InteropStartError(RuntimeError):
    """A token's programs are there but it did not come up; the message ends with the end of its logs."""


# -- finding programs and modules -------------------------------------------------------------------------------


def _lib_dirs() -> list[str]:
    """Where shared objects live: the multiarch directory first (Debian), then the usual others."""
    dirs: list[str] = []
    multiarch = getattr(sys.implementation, "_multiarch", None)
    for base in ("/usr/lib", "/lib"):
        if multiarch:
            dirs.append(f"{base}/{multiarch}")
        dirs.extend(sorted(glob.glob(f"{base}/*-linux-gnu*")))
    dirs += ["/usr/lib64", "/usr/lib", "/usr/local/lib"]
    return list(dict.fromkeys(d for d in dirs if os.path.isdir(d)))


def find_library(*names: str) -> str | None:
    """The first existing file called one of ``names`` (relative paths such as ``pkcs11/x.so`` allowed) in
    :func:`_lib_dirs`; glob patterns work (``libtss2-tcti-swtpm.so*``)."""
    for directory in _lib_dirs():
        for name in names:
            hits = sorted(glob.glob(os.path.join(directory, name)))
            if hits:
                return hits[0]
    return None


def _which_all(programs: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    found: dict[str, str] = {}
    missing: list[str] = []
    for program in programs:
        path = shutil.which(program) or next(
            (p for p in (f"/usr/sbin/{program}", f"/sbin/{program}") if os.access(p, os.X_OK)), None
        )
        if path is None:
            missing.append(f"program {program!r}")
        else:
            found[program] = path
    return found, missing


# -- processes --------------------------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the daemon gets SIGTERM if the process that started it dies (no orphans after a crashed run)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port_pair() -> int:
    """A loopback TCP port ``p`` such that ``p`` and ``p + 1`` are both free right now: the swtpm TCTI always
    reaches the TPM's control channel on the port after the command port."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise InteropStartError("no two consecutive free TCP ports on 127.0.0.1 for swtpm")


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class _Daemon:
    """A process we started: its Popen, the program name its cmdline must contain, its pid file and log."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], expect: str, pid_file: Path, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.expect = expect
        self.pid_file = pid_file
        self.log = log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _still_ours(self) -> bool:
        try:
            cmdline = Path(f"/proc/{self.proc.pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc (not Linux): the unreaped Popen still holds this PID, so it is ours
        return self.expect.encode() in cmdline

    def stop(self) -> None:
        """SIGTERM by the recorded PID, SIGKILL after a grace period; always reaped."""
        try:
            if self.alive() and self._still_ours():
                self.proc.terminate()
                try:
                    self.proc.wait(_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(_STOP_TIMEOUT)
        finally:
            self.pid_file.unlink(missing_ok=True)


# -- the common part of every token -----------------------------------------------------------------------------


class Startable:
    """What starts in parts and must leave nothing behind: :meth:`start` runs :meth:`_start` and, when any part of
    it fails (Ctrl-C too), :meth:`stop` undoes what did start before the error goes on; :meth:`stop` must therefore
    cope with a half-done start. A context manager: :meth:`start` on entry, :meth:`stop` on exit. The interop
    tokens and the network lab (benchmarks/netlab.py) are this."""

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class InteropToken(Startable):
    """A token in a private directory: ``module`` (path to load), ``label``, ``user_pin``/``so_pin``, ``env``
    (what a child needs on top of ours), ``command_prefix`` (e.g. the mount namespace for p11-kit). A context
    manager: :meth:`start` on entry, :meth:`stop` on exit. ``repr`` never shows the PINs."""

    kind = "token"
    # What a token of this kind is made with when the caller names none; the PINs' lengths it takes, if limited.
    default_label = "p11-interop"
    default_user_pin = "interop-user-4711"
    default_so_pin = "interop-so-0815"
    pin_lengths: tuple[int, int] | None = None

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        label: str | None = None,
        user_pin: str | None = None,
        so_pin: str | None = None,
    ) -> None:
        self.label = self.default_label if label is None else label
        self.user_pin = self.default_user_pin if user_pin is None else user_pin
        self.so_pin = self.default_so_pin if so_pin is None else so_pin
        if self.pin_lengths is not None:
            shortest, longest = self.pin_lengths
            for what, value in (("user_pin", self.user_pin), ("so_pin", self.so_pin)):
                if not shortest <= len(value) <= longest:
                    raise ValueError(f"{self.kind} takes PINs of {shortest}..{longest} characters; {what} has "
                                     f"{len(value)}")
        self._own_dir = directory is None
        if directory is None:
            directory = tempfile.mkdtemp(prefix=f"p11-interop-{self.kind}-")
        self.directory = Path(directory)
        self.module = ""
        self.env: dict[str, str] = {}
        self.command_prefix: list[str] = []
        self._daemons: list[_Daemon] = []
        self._started = False

    # -- life cycle ----------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._started:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        self._started = True
        return super().start()

    def stop(self) -> None:
        """Stop what we started (newest first, by recorded PID) and remove the directory if we made it."""
        while self._daemons:
            self._daemons.pop().stop()
        self._started = False
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} label={self.label!r} module={self.module!r} dir={str(self.directory)!r}>"

    @property
    def pids(self) -> dict[str, int]:
        """The processes this token runs, by name (``swtpm``, ``dbus-daemon``, ``tpm2-abrmd``)."""
        return {d.name: d.proc.pid for d in self._daemons if d.alive()}

    # -- children ------------------------------------------------------------------------------------------------

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Our environment plus what the token needs (plus ``extra``)."""
        return {**os.environ, **self.env, **(extra or {})}

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` where it sees this token (its environment, behind :attr:`command_prefix`); output captured
        as text. A child still running after ``timeout`` seconds is killed (``subprocess.TimeoutExpired``)."""
        return subprocess.run(
            [*self.command_prefix, *argv],
            env=self.child_env(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_python(
        self,
        script: str | os.PathLike[str],
        *args: str,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a Python script with this interpreter in a child that sees this token (see :meth:`run`)."""
        return self.run([sys.executable, os.fspath(script), *args], timeout=timeout, env=env)

    # -- helpers for subclasses ----------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> _Daemon:
        """Start a long-running program, its output in ``<dir>/<name>.log``, its PID in ``<dir>/<name>.pid``."""
        log = self.directory / f"{name}.log"
        pid_file = self.directory / f"{name}.pid"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=self.directory,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the tests, which stop us in order
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        pid_file.write_text(f"{proc.pid}\n", encoding="ascii")
        daemon = _Daemon(name, proc, os.path.basename(argv[0]), pid_file, log)
        self._daemons.append(daemon)
        return daemon

    def _tool(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        what: str,
        timeout: float = _TOOL_TIMEOUT,
        stdin: str | None = None,
    ) -> str:
        """Run a setup tool to completion (``stdin`` its input); its stdout. Errors name the step, never the command
        line (PINs)."""
        try:
            proc = subprocess.run(
                list(argv), env=dict(env), cwd=self.directory, capture_output=True, text=True, timeout=timeout,
                check=False, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise InteropStartError(f"{self.kind}: {what} did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0:
            msg = self._redact((proc.stderr or proc.stdout).strip()[-2000:])
            raise InteropStartError(f"{self.kind}: {what} failed (exit {proc.returncode}): {msg}")
        return proc.stdout

    def _redact(self, text: str) -> str:
        for secret in (self.user_pin, self.so_pin):
            if secret:
                text = text.replace(secret, "<redacted>")
        return text

    def _wait(self, daemon: _Daemon, ready: object, what: str, timeout: float = _START_TIMEOUT) -> None:
        """Poll ``ready()`` until true; fail early if ``daemon`` exits, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if not daemon.alive():
                raise InteropStartError(
                    f"{self.kind}: {daemon.name} exited with status {daemon.proc.returncode} before {what}; "
                    f"its log ends:\n{self._redact(_tail(daemon.log))}"
                )
            if ready():  # type: ignore[operator]
                return
            if time.monotonic() > deadline:
                raise InteropStartError(
                    f"{self.kind}: no {what} within {timeout:.0f} s; {daemon.name}'s log ends:\n"
                    f"{self._redact(_tail(daemon.log))}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)


# -- SoftHSM: the back end -------------------------------------------------------------------------------------


class SoftHSMStore(InteropToken):
    """A private SoftHSM2 store (``<dir>/softhsm2.conf``, ``<dir>/tokens``) with one initialised token. Unlike
    :class:`p11.testing.SoftHSM` it leaves this process's environment alone: children get ``SOFTHSM2_CONF``."""

    kind = "softhsm"

    @property
    def conf_path(self) -> Path:
        """The store's ``softhsm2.conf`` (what ``SOFTHSM2_CONF`` names)."""
        return self.directory / "softhsm2.conf"

    @classmethod
    def check(cls) -> tuple[str, str]:
        """``(module path, softhsm2-util path)``, or :class:`InteropUnavailable`."""
        try:
            module = find_softhsm_module()
        except SoftHSMNotFound:
            raise InteropUnavailable("softhsm", ["libsofthsm2.so"]) from None
        found, missing = _which_all(["softhsm2-util"])
        if missing:
            raise InteropUnavailable("softhsm", missing)
        return module, found["softhsm2-util"]

    def _start(self) -> None:
        self.module, util = self.check()
        token_dir = self.directory / "tokens"
        token_dir.mkdir(exist_ok=True)
        self.conf_path.write_text(
            f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
            "slots.removable = false\n",
            encoding="utf-8",
        )
        self.env = {"SOFTHSM2_CONF": str(self.conf_path)}
        self._tool(
            [util, "--init-token", "--free", "--label", self.label, "--pin", self.user_pin, "--so-pin", self.so_pin],
            env=self.child_env(),
            what="softhsm2-util --init-token",
        )


# -- p11-kit proxy ----------------------------------------------------------------------------------------------


class _WrapsSoftHSM(InteropToken):
    """A module in front of a private :class:`SoftHSMStore` (``.backend``): what the proxy and the spy share."""

    module_names: tuple[str, ...] = ()  # where find_library looks for the wrapping module, best first

    @functools.cached_property
    def backend(self) -> SoftHSMStore:
        """The SoftHSM store behind the module: ``<dir>/softhsm``, its token with this token's label and PINs."""
        return SoftHSMStore(self.directory / "softhsm", label=self.label, user_pin=self.user_pin, so_pin=self.so_pin)

    @classmethod
    def _wrapper_module(cls, extra_missing: list[str] | None = None) -> str:
        """The wrapping module's path, or :class:`InteropUnavailable` naming all that is missing (SoftHSM too)."""
        missing: list[str] = []
        try:
            SoftHSMStore.check()
        except InteropUnavailable as exc:
            missing += exc.missing
        module = find_library(*cls.module_names)
        if module is None:
            missing.append(f"module {os.path.basename(cls.module_names[0])}")
        missing += extra_missing or []
        if missing or module is None:
            raise InteropUnavailable(cls.kind, missing)
        return module


class P11KitProxyToken(_WrapsSoftHSM):
    """``p11-kit-proxy.so`` in front of a private :class:`SoftHSMStore` (``.backend``), and nothing else.

    The proxy numbers slots itself, so slot ids differ from SoftHSM's; labels and serials are the back end's.
    As root, children run under ``unshare -m`` with ``<dir>/modules`` mounted over p11-kit's module directory
    (:attr:`command_prefix`); that needs ``CAP_SYS_ADMIN`` (a plain root shell has it, an unprivileged container
    may not: :meth:`start` checks).
    """

    kind = "p11kit"
    default_label = "p11-interop-proxy"
    module_names = ("p11-kit-proxy.so", "pkcs11/p11-kit-proxy.so")

    @classmethod
    def check(cls) -> str:
        """The proxy module's path, or :class:`InteropUnavailable`."""
        return cls._wrapper_module(_which_all(["unshare", "mount"])[1] if os.geteuid() == 0 else None)

    def _start(self) -> None:
        self.module = self.check()
        self.backend.start()
        modules = self.directory / "modules"
        modules.mkdir(exist_ok=True)
        conf = f"# written by p11's interop harness: only the private SoftHSM store\nmodule: {self.backend.module}\n"
        conf += "critical: yes\n"
        (modules / "softhsm-interop.module").write_text(conf, encoding="utf-8")
        home = self.directory / "home"
        user_modules = home / ".config" / "pkcs11" / "modules"
        user_modules.mkdir(parents=True, exist_ok=True)
        (user_modules / "softhsm-interop.module").write_text(conf, encoding="utf-8")
        (home / ".config" / "pkcs11" / "pkcs11.conf").write_text("user-config: only\n", encoding="utf-8")
        self.env = {**self.backend.env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
        if os.geteuid() == 0:
            self.command_prefix = self._namespace_prefix(modules)
            probe = self.run(["true"], timeout=10)
            if probe.returncode != 0:
                raise InteropUnavailable(
                    "p11kit",
                    [f"a private mount namespace (unshare -m + mount --bind failed: {probe.stderr.strip()[-300:]}); "
                     "needs CAP_SYS_ADMIN, or run the tests as a non-root user"],
                    packages=[],
                )

    def _namespace_prefix(self, modules: Path) -> list[str]:
        """``unshare -m`` + bind mounts that show p11-kit only our module directory, then ``exec`` the command."""
        empty = self.directory / "empty"
        empty.mkdir(exist_ok=True)
        mounts: list[tuple[str, str]] = []
        if os.path.isdir(P11KIT_PACKAGE_MODULES):
            mounts.append((str(modules), P11KIT_PACKAGE_MODULES))
        if os.path.isdir(P11KIT_SYSTEM_MODULES):
            mounts.append((str(empty), P11KIT_SYSTEM_MODULES))
        if not mounts:  # as root p11-kit reads modules only from its system directories
            raise InteropUnavailable("p11kit", [f"p11-kit's module directory {P11KIT_PACKAGE_MODULES}"])
        script = " && ".join(f'mount --bind "${2 * i + 1}" "${2 * i + 2}"' for i in range(len(mounts)))
        script += f' && shift {2 * len(mounts)} && exec "$@"'
        flat = [path for pair in mounts for path in pair]
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", *flat]


# -- pkcs11-spy -------------------------------------------------------------------------------------------------


class PKCS11SpyToken(_WrapsSoftHSM):
    """OpenSC's ``pkcs11-spy.so`` wrapping a private :class:`SoftHSMStore` (``.backend``); every call a child
    makes through it, with arguments and return values, is appended to :attr:`log_path`."""

    kind = "spy"
    default_label = "p11-interop-spy"
    module_names = ("pkcs11/pkcs11-spy.so", "pkcs11-spy.so")

    @property
    def log_path(self) -> Path:
        """The spy's log: ``<dir>/spy.log``."""
        return self.directory / "spy.log"

    @classmethod
    def check(cls) -> str:
        """The spy module's path, or :class:`InteropUnavailable`."""
        return cls._wrapper_module()

    def _start(self) -> None:
        self.module = self.check()
        self.backend.start()
        self.log_path.touch()
        self.env = {**self.backend.env, "PKCS11SPY": self.backend.module, "PKCS11SPY_OUTPUT": str(self.log_path)}

    def calls(self) -> list[str]:
        """The Cryptoki function names logged so far, in order (``["C_GetFunctionList", "C_Initialize", …]``)."""
        names = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            head, sep, rest = line.partition(": ")
            if sep and head.isdigit() and rest.startswith("C_"):
                names.append(rest.split()[0])
        return names


# -- openCryptoki soft token ------------------------------------------------------------------------------------


def _pkcsslotd_pids() -> list[int]:
    """Live (not zombie) processes whose program is ``pkcsslotd``: found by name to REFUSE to start, never to kill."""
    pids = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        name, _, rest = text.partition("(")[2].rpartition(")")
        if name == "pkcsslotd" and rest.split()[:1] != ["Z"]:
            pids.append(int(stat.split("/")[2]))
    return pids


class OpenCryptokiToken(InteropToken):
    """openCryptoki's soft token (``libpkcs11_sw.so``, slot :attr:`SLOT` of the stock ``opencryptoki.conf``)
    behind ``pkcsslotd``, which this starts in the foreground (``-f``) so its PID is the one recorded and stopped.

    openCryptoki 3.8 reads its configuration and keeps the token in fixed system paths (no environment override):
    :meth:`start` needs root, refuses when a ``pkcsslotd`` it did not start is running (one per machine), wipes the
    soft token's data, initialises it with ``pkcsconf`` (the default SO PIN, then ours; then the user PIN: the
    defaults are flagged "to be changed"), and :meth:`stop` wipes it again. PINs are 4..8 characters."""

    kind = "opencryptoki"
    SLOT = 3
    DEFAULT_SO_PIN = "87654321"  # what a fresh swtok takes for C_InitToken (openCryptoki's documented default)
    SWTOK = Path("/var/lib/opencryptoki/swtok")
    LOCKS = Path("/var/lock/opencryptoki")
    RUN_PREFIX = "/var/run/pkcsslotd"  # .pid and .socket
    SHM = "/dev/shm/var.lib.opencryptoki.swtok"
    PROGRAMS = ("pkcsslotd", "pkcsconf")
    default_label = "p11-interop-ock"
    default_user_pin = "11223344"
    default_so_pin = "55667788"
    pin_lengths = (4, 8)  # what swtok takes
    _own_daemon = False  # whether start() found no other pkcsslotd (so the token data is ours to wipe)

    @classmethod
    def check(cls) -> tuple[str, dict[str, str]]:
        """``(module path, {program: path})``, or :class:`InteropUnavailable` (also when not root)."""
        found, missing = _which_all(cls.PROGRAMS)
        module = find_library("pkcs11/libopencryptoki.so", "opencryptoki/libopencryptoki.so*", "libopencryptoki.so*")
        if module is None:
            missing.append("module libopencryptoki.so")
        if missing or module is None:
            raise InteropUnavailable("opencryptoki", missing)
        if os.geteuid() != 0:
            raise InteropUnavailable(
                "opencryptoki", ["root: pkcsslotd and its fixed system paths need it (CI runs as root)"], packages=[]
            )
        return module, found

    def _start(self) -> None:
        self.module, programs = self.check()
        foreign = _pkcsslotd_pids()
        if foreign:
            raise InteropStartError(
                f"opencryptoki: a pkcsslotd this harness did not start is running (pid {foreign[0]}); "
                "stop it first (only one can run per machine)"
            )
        self._own_daemon = True
        Path(f"{self.RUN_PREFIX}.pid").unlink(missing_ok=True)  # left behind by a daemon stopped with SIGTERM
        for directory in (self.LOCKS, self.LOCKS / "swtok", self.SWTOK.parent, self.SWTOK, self.SWTOK / "TOK_OBJ"):
            directory.mkdir(mode=0o770, parents=True, exist_ok=True)
            with contextlib.suppress(LookupError, OSError):
                shutil.chown(directory, group="pkcs11")
        self._wipe()
        slotd = self._spawn("pkcsslotd", [programs["pkcsslotd"], "-f"])
        conf, slot, env = programs["pkcsconf"], str(self.SLOT), self.child_env()
        # Ready when a real client gets an answer: a bare connect to the socket would be read as a garbled request
        # and leave the daemon answering CKR_HOST_MEMORY to every C_Initialize after it.
        socket_path = Path(f"{self.RUN_PREFIX}.socket")
        ask = [conf, "-c", slot, "-t"]
        self._wait(slotd, lambda: socket_path.exists() and _succeeds(ask, env), "pkcsslotd answering pkcsconf -t")
        self._tool([conf, "-c", slot, "-I", "-S", self.DEFAULT_SO_PIN], env=env, what="pkcsconf -I (init token)",
                   stdin=self.label + "\n")
        self._tool([conf, "-c", slot, "-P", "-S", self.DEFAULT_SO_PIN, "-n", self.so_pin], env=env,
                   what="pkcsconf -P (SO PIN)")
        self._tool([conf, "-c", slot, "-u", "-S", self.so_pin, "-n", self.user_pin], env=env,
                   what="pkcsconf -u (user PIN)")

    def _wipe(self) -> None:
        """Forget the soft token: its token file, master keys, objects and shared memory (the directories stay)."""
        for name in ("NVTOK.DAT", "MK_SO", "MK_USER"):
            (self.SWTOK / name).unlink(missing_ok=True)
        Path(self.SHM).unlink(missing_ok=True)  # the token's state shared by its clients (rebuilt from the files)
        objects = self.SWTOK / "TOK_OBJ"
        if objects.is_dir():
            for entry in objects.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop the daemon we started (by its PID), then remove its stale pid file and wipe the token; nothing
        when another pkcsslotd was running at start (it and its token are someone else's)."""
        ours = self._own_daemon
        super().stop()
        if ours:
            self._own_daemon = False
            if not _pkcsslotd_pids():
                Path(f"{self.RUN_PREFIX}.pid").unlink(missing_ok=True)
                self._wipe()


# -- tpm2-pkcs11 on swtpm ---------------------------------------------------------------------------------------


class TPM2Token(InteropToken):
    """tpm2-pkcs11 on a fresh software TPM (``swtpm`` on two consecutive free loopback ports), reached through
    ``tpm2-abrmd`` on a private D-Bus session bus; token store in ``<dir>/store``, made with ``tpm2_ptool``.

    Quirks of tpm2-pkcs11 1.9 worth knowing: ``C_VerifyInit`` and ``C_DigestInit`` need a logged-in session;
    ``AES-KEY-GEN`` is listed but ``C_GenerateKey`` returns ``CKR_FUNCTION_NOT_SUPPORTED``; a second, empty slot
    is always listed."""

    kind = "tpm2"
    PROGRAMS = ("swtpm", "dbus-daemon", "tpm2-abrmd", "tpm2_ptool", "tpm2_getcap")
    default_label = "p11-interop-tpm2"
    default_user_pin = "tpm2-user-3141"
    default_so_pin = "tpm2-so-2718"
    port = 0  # swtpm's command port (its control port is the next), once started
    _bus_dir: Path | None = None  # the D-Bus socket's directory when <dir> is too long a path for a socket

    @property
    def store(self) -> Path:
        """The tpm2-pkcs11 token store: ``<dir>/store``."""
        return self.directory / "store"

    @classmethod
    def check(cls) -> tuple[str, dict[str, str]]:
        """``(module path, {program: path})``, or :class:`InteropUnavailable`."""
        found, missing = _which_all(cls.PROGRAMS)
        module = find_library("pkcs11/libtpm2_pkcs11.so", "libtpm2_pkcs11.so", "libtpm2_pkcs11.so.1")
        if module is None:
            missing.append("module libtpm2_pkcs11.so")
        for tcti in ("libtss2-tcti-tabrmd.so*", "libtss2-tcti-swtpm.so*"):
            if find_library(tcti) is None:
                missing.append(f"library {tcti.rstrip('*')}")
        if missing or module is None:
            raise InteropUnavailable("tpm2", missing)
        return module, found

    def _start(self) -> None:
        self.module, programs = self.check()
        bus_socket = self.directory / "dbus.sock"
        if len(str(bus_socket)) > 100:  # sun_path is 108 bytes
            self._bus_dir = Path(tempfile.mkdtemp(prefix="p11-bus-"))
            bus_socket = self._bus_dir / "dbus.sock"
        self._start_swtpm(programs["swtpm"])
        bus = f"unix:path={bus_socket}"
        tcti = "tabrmd:bus_type=session"
        self.env = {
            "DBUS_SESSION_BUS_ADDRESS": bus,
            "TPM2_PKCS11_TCTI": tcti,
            "TPM2TOOLS_TCTI": tcti,
            "TPM2_PKCS11_STORE": str(self.store),
            "TSS2_LOG": "all+NONE",  # the TSS writes warnings to stderr otherwise
            "TPM2_PKCS11_LOG_LEVEL": "0",
        }
        dbus = self._spawn(
            "dbus-daemon",
            [programs["dbus-daemon"], "--session", "--nofork", "--nopidfile", f"--address={bus}"],
        )
        self._wait(dbus, lambda: _unix_accepts(bus_socket), "D-Bus socket")
        abrmd = self._spawn(
            "tpm2-abrmd",
            [programs["tpm2-abrmd"], "--session", "--allow-root", "--flush-all",
             f"--tcti=swtpm:host=127.0.0.1,port={self.port}"],
            env=self.child_env(),
        )
        getcap = [programs["tpm2_getcap"], "properties-fixed"]
        self._wait(abrmd, lambda: _succeeds(getcap, self.child_env()), "answer from tpm2-abrmd")
        self.store.mkdir(exist_ok=True)
        ptool = programs["tpm2_ptool"]
        self._tool([ptool, "init", "--path", str(self.store)], env=self.child_env(), what="tpm2_ptool init")
        self._tool(
            [ptool, "addtoken", "--pid=1", f"--label={self.label}", f"--sopin={self.so_pin}",
             f"--userpin={self.user_pin}", "--path", str(self.store)],
            env=self.child_env(),
            what="tpm2_ptool addtoken",
        )

    def _start_swtpm(self, swtpm: str) -> None:
        """swtpm on two consecutive free loopback ports, powered on and started (``TPM2_Startup(CLEAR)``); another
        process may take a port between our choice and swtpm's bind, so this tries three times."""
        state = self.directory / "tpmstate"
        state.mkdir(exist_ok=True)
        for attempt in range(3):
            port = _free_port_pair()
            ctrl = port + 1
            daemon = self._spawn(
                "swtpm",
                [swtpm, "socket", "--tpm2", "--tpmstate", f"dir={state}",
                 "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                 "--ctrl", f"type=tcp,port={ctrl},bindaddr=127.0.0.1",
                 "--flags", "not-need-init,startup-clear"],
            )
            try:
                # Probe the control port: the command port serves one client at a time, the resource manager.
                self._wait(daemon, lambda c=ctrl: _accepts(c), f"swtpm listening on 127.0.0.1:{ctrl}")
            except InteropStartError:
                self._daemons.remove(daemon)
                daemon.stop()
                if attempt == 2:
                    raise
                continue
            self.port = port
            return

    def stop(self) -> None:
        super().stop()
        if self._bus_dir is not None:
            shutil.rmtree(self._bus_dir, ignore_errors=True)
            self._bus_dir = None


def _unix_accepts(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(str(path)) == 0


def _succeeds(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    try:
        return subprocess.run(list(argv), env=dict(env), capture_output=True, timeout=10, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


# -- p11-kit server: a remote token -----------------------------------------------------------------------------


class P11KitServerToken(_WrapsSoftHSM):
    """A remote token: ``p11-kit server`` exporting the token of a private :class:`SoftHSMStore` (``.backend``) on a
    unix socket in the directory, and ``p11-kit-client.so`` (:attr:`module`, what children load) connecting to it
    through ``P11_KIT_SERVER_ADDRESS`` (in :attr:`env`). The server can be killed and started again
    (:meth:`kill_server`, :meth:`start_server`): what a network HSM restarting looks like to a client.

    The server runs in a process group of its own (it starts a ``p11-kit-remote`` per connection), killed as a
    whole by its recorded PID; no configuration of p11-kit is read or changed (``--provider`` names the module)."""

    kind = "p11kit-server"
    default_label = "p11-interop-remote"
    module_names = ("pkcs11/p11-kit-client.so", "p11-kit-client.so")

    @classmethod
    def check(cls) -> tuple[str, str]:
        """``(client module path, p11-kit program)``, or :class:`InteropUnavailable`."""
        found, missing = _which_all(["p11-kit"])
        module = cls._wrapper_module(missing)
        return module, found["p11-kit"]

    def _start(self) -> None:
        self.module, self._program = self.check()
        self.backend.start()
        self.socket_path = self.directory / "server.sock"
        self.env = {**self.backend.env, "P11_KIT_SERVER_ADDRESS": f"unix:path={self.socket_path}"}
        self._server: _Daemon | None = None
        self.start_server()

    def start_server(self) -> None:
        """Start the server (again), and wait until its socket accepts connections."""
        if self._server is not None and self._server.alive():
            return
        self.socket_path.unlink(missing_ok=True)
        argv = [self._program, "server", "--foreground", "--provider", self.backend.module,
                "--name", str(self.socket_path), f"pkcs11:token={self.label}"]
        self._server = self._spawn("p11-kit-server", argv, env=self.child_env())
        # p11-kit execs its server program with argv[0] "server": the socket path (ours alone) identifies it.
        self._server.expect = str(self.socket_path)
        self._wait(self._server, lambda: _unix_accepts(self.socket_path), "its socket")

    def kill_server(self) -> None:
        """SIGKILL the server and the connections it serves (its process group, by its recorded PID)."""
        daemon, self._server = self._server, None
        if daemon is None:
            return
        with contextlib.suppress(ValueError):
            self._daemons.remove(daemon)
        try:
            if daemon.alive() and daemon._still_ours():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(daemon.proc.pid, signal.SIGKILL)  # its own group: start_new_session in _spawn
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.proc.wait(_STOP_TIMEOUT)
        finally:
            daemon.pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        if getattr(self, "_server", None) is not None:
            self.kill_server()
        super().stop()


# -- what a test does while a server dies under it ------------------------------------------------------------------


class LineChild:
    """A child process that speaks a line protocol on its stdin and stdout (the reconnect test's client, the network
    lab's): a thread queues each line it prints, so :meth:`expect` can time out, and another keeps the end of its
    stderr (read as it comes, so a child that writes much there never blocks on the pipe). ``who`` names it in
    messages."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str | os.PathLike[str] | None = None,
                 who: str = "child") -> None:
        self.who = who
        self.proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("<EOF>")

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._err.append(line)
            del self._err[:-200]

    def stderr_tail(self, chars: int = 6000) -> str:
        """The end of what the child wrote to stderr (all of it, once the child has ended)."""
        if self.proc.poll() is not None:
            self._err_reader.join(5)
        return "".join(self._err)[-chars:]

    def expect(self, prefix: str, timeout: float) -> str:
        """The next line starting with ``prefix``; AssertionError on a timeout, or (the child stopped, with the end
        of its stderr) on its end of output or a line starting ``STUCK``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} from the {self.who} within {timeout:g} s") from None
            if line.startswith(prefix):
                return line
            if line == "<EOF>" or line.startswith("STUCK"):
                self.stop()
                raise AssertionError(f"{self.who} said {line!r} waiting for {prefix!r}: {self.stderr_tail()}")

    def send(self, command: str) -> None:
        """One line to the child."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        """Kill the child if it still runs (our own, by its Popen); reaped."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


class SigningThreads:
    """``count`` threads, each calling ``attempt(i, n)`` (thread ``i``'s ``n``-th request: sign, verify the
    signature, say whether it verified) until :meth:`stop`: the load the reconnect test and the network lab's
    failover run keep on a token while its server is killed and started again.

    Counted under :attr:`lock`: ``ok`` (verified), ``wrong`` (did not verify), ``typed`` (exceptions of the
    ``typed`` classes, by class name; the thread then waits 5 ms, so a dead server is not asked in a busy loop),
    ``untyped`` (any other exception, its repr), ``slowest`` (seconds, any call), ``last_ok[i]`` (when thread ``i``
    last signed) and ``ok_before_kill`` (``ok`` when :meth:`note_kill` was first called)."""

    def __init__(self, count: int, attempt: Callable[[int, int], bool], *,
                 typed: tuple[type[BaseException], ...] = ()) -> None:
        self.lock = threading.Lock()
        self.ok = 0
        self.wrong = 0
        self.typed: dict[str, int] = {}
        self.untyped: list[str] = []
        self.slowest = 0.0
        self.last_ok = [0.0] * count
        self.ok_before_kill: int | None = None
        self._attempt = attempt
        self._typed = typed
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(count)]

    def start(self) -> SigningThreads:
        for thread in self._threads:
            thread.start()
        return self

    def _work(self, i: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            started = time.monotonic()
            good: bool | None = None
            try:
                good = self._attempt(i, n)
            except self._typed as exc:
                with self.lock:
                    self.typed[type(exc).__name__] = self.typed.get(type(exc).__name__, 0) + 1
                time.sleep(0.005)
            except Exception as exc:  # an untyped error: what this counts
                with self.lock:
                    self.untyped.append(repr(exc)[:300])
            with self.lock:
                self.slowest = max(self.slowest, time.monotonic() - started)
                if good:
                    self.ok += 1
                    self.last_ok[i] = time.monotonic()
                elif good is False:
                    self.wrong += 1

    def all_signed_since(self, t: float, timeout: float) -> float | None:
        """Seconds from ``t`` until every thread had signed after it, waiting at most ``timeout`` s (None then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(last > t for last in self.last_ok):
                    return max(self.last_ok) - t
            time.sleep(0.01)
        return None

    def note_kill(self) -> None:
        """A server is being killed: the first call keeps ``ok`` as ``ok_before_kill``."""
        with self.lock:
            if self.ok_before_kill is None:
                self.ok_before_kill = self.ok

    def counts(self) -> dict[str, Any]:
        """The counts, read at once: ``ok``, ``wrong``, ``typed``, ``untyped``, ``slowest`` and, once a kill was
        noted, ``ok_before_kill``."""
        with self.lock:
            out: dict[str, Any] = {"ok": self.ok, "wrong": self.wrong, "typed": dict(self.typed),
                                   "untyped": list(self.untyped), "slowest": self.slowest}
            if self.ok_before_kill is not None:
                out["ok_before_kill"] = self.ok_before_kill
        return out

    def stop(self, timeout: float = 30.0) -> int:
        """Stop the threads (each given ``timeout`` s to finish its call); how many are still stuck in one."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        return sum(thread.is_alive() for thread in self._threads)
