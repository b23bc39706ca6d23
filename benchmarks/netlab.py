"""The network lab: HSM hosts and a client in network namespaces of our own, for tests and benchmarks of remote
tokens and token groups (``tests/network``, ``python -m benchmarks.network``). A test tool: not in the wheel.

::

    client namespace  <tag>-c                          host namespace <tag>-h<k>  (k = 1..hosts)
    ------------------------------------               --------------------------------------------
    p11 (a child process) loads a copy of              p11-kit server --provider libsofthsm2.so
    p11-kit-client.so per host, each with                 on <dir>/h<k>/server.sock, over a SoftHSM
    P11_KIT_SERVER_ADDRESS=unix:path=<dir>/c/h<k>.sock    store of its own (token "hsm<k>")
       |                                                   ^
    delay proxy (or socat when no delay is added)      socat TCP-LISTEN:5400 -> UNIX-CONNECT server.sock
    unix <dir>/c/h<k>.sock -> TCP 198.18.k.2:5400  ---- veth: 198.18.k.1/24 (client) <-> 198.18.k.2/24 (host)

Everything is made inside the namespaces: each veth pair is created with both ends already in their namespaces
(``ip link add ... netns A type veth peer ... netns B``), so no interface, route, address, iptables rule or sysctl
of the machine's own namespace is touched. The addresses are 198.18.0.0/15 (RFC 2544: benchmarking), reachable only
between our namespaces. Every process is started by this lab (``ip netns exec NS program``: ``ip`` execs the program,
so the recorded PID is the program's), asked to die with its parent (``PR_SET_PDEATHSIG``), and stopped by that PID;
:meth:`Lab.stop` then deletes the namespaces. :func:`leftovers` finds what a lab left (processes whose command line
names its directory, namespaces with its tag): the tests assert there is none.

Why a copy of ``p11-kit-client.so`` per host: the client module reads ``P11_KIT_SERVER_ADDRESS`` when
``C_GetFunctionList`` is called and keeps that address for the life of the function list (a renewal's
``C_Initialize`` connects to it again), but a process loads one file once (``dlopen`` and p11 both), so one file is
one connection. A copy under another directory is another file: another instance with its own state, its own
address, its own module in p11 (its own call gate, health and renewals), and the same file name, so the p11-kit
quirk profile (one call at a time) still matches it. :func:`load_members` does this in the client process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.interop.harness import InteropUnavailable, P11KitServerToken, Startable, _which_all

HERE = Path(__file__).resolve().parent
DELAY_PROXY = HERE / "delayproxy.py"
PORT = 5400
NET = "198.18"  # RFC 2544's benchmarking range: host k is 198.18.k.2, the client's side of its link 198.18.k.1
USER_PIN = "net-user-2468"
SO_PIN = "net-so-1357"
PREFIX = "p11n"  # every namespace name starts with it: "<PREFIX><pid>x<random>-c", "...-h1"
LIFETIME = 1800.0  # seconds: a delay proxy stops by itself after this, whatever happens to the lab
_STOP_TIMEOUT = 5.0
PACKAGES = ("iproute2", "socat", "p11-kit", "p11-kit-modules", "softhsm2")


class LabUnavailable(RuntimeError):
    """The lab cannot run here (not root, no ``ip netns``, a program missing); the message says what to do."""


def _die_with_parent() -> None:  # pragma: no cover - between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run(argv: Sequence[str], what: str, timeout: float = 20.0) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"netlab: {what} did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"netlab: {what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _listening(pid: int, port: int) -> bool:
    """Whether the network namespace of process ``pid`` has a TCP socket listening on ``port`` (its
    ``/proc/<pid>/net/tcp``: no need to enter the namespace to ask)."""
    try:
        lines = Path(f"/proc/{pid}/net/tcp").read_text(encoding="ascii").splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return True
    return False


class Process:
    """A process the lab started, stopped by its PID (SIGTERM, then SIGKILL), always reaped."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int:
        """The program's PID."""
        return int(self.proc.pid)

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after a grace period; reaped."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(_STOP_TIMEOUT)

    def tail(self, lines: int = 12) -> str:
        """The end of its log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


class RemoteHSM(P11KitServerToken):
    """One HSM host: a SoftHSM store and ``p11-kit server`` exporting its token, both in the host's namespace, and
    ``socat`` there taking TCP connections on ``address:port`` to the server's unix socket. ``kill_server`` /
    ``start_server`` as for :class:`~tests.interop.harness.P11KitServerToken` (socat stays up: a connection made
    while the server is down is closed at once, as a host whose HSM daemon died would close it)."""

    kind = "p11kit-net"

    def __init__(self, directory: Path, *, netns: str, address: str, port: int, label: str) -> None:
        super().__init__(directory, label=label, user_pin=USER_PIN, so_pin=SO_PIN)
        self.netns = netns
        self.address = address
        self.port = port

    def _spawn(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> Any:
        daemon = super()._spawn(name, ["ip", "netns", "exec", self.netns, *argv], env=env)
        daemon.expect = os.path.basename(argv[0])  # `ip netns exec` execs the program: its cmdline is the program's
        return daemon

    def _start(self) -> None:
        super()._start()
        socat = shutil.which("socat") or "socat"
        listener = self._spawn("socat", [
            socat, f"TCP-LISTEN:{self.port},bind={self.address},reuseaddr,fork,nodelay",
            f"UNIX-CONNECT:{self.socket_path}",
        ])
        self._wait(listener, lambda: _listening(listener.proc.pid, self.port), f"socat listening on {self.port}")


@dataclass(frozen=True)
class MemberSpec:
    """What a client needs to reach one host: its copy of the client module, the address it reads, the token."""

    module: str
    address: str
    label: str


class Lab(Startable):
    """``hosts`` HSM hosts and a client namespace (see the module docstring); ``delay_ms`` of round trip added
    between the client and every host by a delay proxy (none: socat forwards). A context manager; :meth:`stop`
    (also on a failed :meth:`start`) leaves nothing behind."""

    def __init__(self, hosts: int = 3, *, delay_ms: float = 0.0, directory: str | os.PathLike[str] | None = None,
                 client_module: str | None = None) -> None:
        if not 1 <= hosts <= 9:
            raise ValueError("a lab has 1 to 9 hosts")
        self.hosts = hosts
        self.delay_ms = float(delay_ms)
        self.tag = f"{PREFIX}{os.getpid()}x{secrets.token_hex(2)}"
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix=f"{self.tag}-"))
        self.client_ns = f"{self.tag}-c"
        self.host_ns = [f"{self.tag}-h{k}" for k in range(1, hosts + 1)]
        self.hsms: list[RemoteHSM] = []
        self.members: list[MemberSpec] = []
        self._client_module = client_module
        self._namespaces: list[str] = []
        self._forwarders: list[Process] = []
        self._paused: set[int] = set()

    # -- life cycle -------------------------------------------------------------------------------------------

    @staticmethod
    def check() -> str:
        """The client module's path, or :class:`LabUnavailable` saying what is missing."""
        if os.geteuid() != 0:
            raise LabUnavailable("the network lab makes network namespaces (ip netns add): it needs root")
        _, missing = _which_all(["ip", "socat", "p11-kit"])
        try:
            module = RemoteHSM.check()[0]
        except InteropUnavailable as exc:
            missing += exc.missing
            module = ""
        if missing:
            raise LabUnavailable(f"the network lab needs {', '.join(missing)}: apt-get install -y {' '.join(PACKAGES)}")
        return module

    def _start(self) -> None:
        """Namespaces, links, hosts, forwarders (:meth:`start` stops what started if any part fails)."""
        module = self._client_module or self.check()
        remove_stale_labs()
        self.directory.mkdir(parents=True, exist_ok=True)
        client_dir = self.directory / "c"
        client_dir.mkdir(exist_ok=True)
        self._add_namespace(self.client_ns)
        for k, netns in enumerate(self.host_ns, start=1):
            self._add_namespace(netns)
            # Both ends made inside their namespaces: the machine's own namespace never sees the pair.
            _run(["ip", "link", "add", f"h{k}", "netns", self.client_ns, "type", "veth",
                  "peer", "name", "eth0", "netns", netns], f"veth for host {k}")
            self._ip(self.client_ns, "addr", "add", f"{NET}.{k}.1/24", "dev", f"h{k}")
            self._ip(self.client_ns, "link", "set", f"h{k}", "up")
            self._ip(netns, "addr", "add", f"{NET}.{k}.2/24", "dev", "eth0")
            self._ip(netns, "link", "set", "eth0", "up")
        for k, netns in enumerate(self.host_ns, start=1):
            hsm = RemoteHSM(self.directory / f"h{k}", netns=netns, address=f"{NET}.{k}.2", port=PORT,
                            label=f"hsm{k}")
            self.hsms.append(hsm)
            hsm.start()
            listen = client_dir / f"h{k}.sock"
            self._forwarders.append(self._forwarder(k, listen))
            copy = client_dir / f"h{k}" / os.path.basename(module)
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(module, copy)
            self.members.append(MemberSpec(str(copy), f"unix:path={listen}", hsm.label))

    def _add_namespace(self, name: str) -> None:
        _run(["ip", "netns", "add", name], f"ip netns add {name}")
        self._namespaces.append(name)
        self._ip(name, "link", "set", "lo", "up")

    def _ip(self, netns: str, *args: str) -> None:
        _run(["ip", "-n", netns, *args], f"ip -n {netns} {' '.join(args)}")

    def _forwarder(self, k: int, listen: Path) -> Process:
        target = f"{NET}.{k}.2:{PORT}"
        if self.delay_ms > 0:
            argv = [sys.executable, str(DELAY_PROXY), "--listen", str(listen), "--connect", target,
                    "--delay-ms", f"{self.delay_ms:g}", "--lifetime", f"{LIFETIME:g}"]
        else:
            argv = [shutil.which("socat") or "socat", f"UNIX-LISTEN:{listen},fork,unlink-early",
                    f"TCP:{target},nodelay"]
        proc = Process(f"forwarder-h{k}", ["ip", "netns", "exec", self.client_ns, *argv],
                       self.directory / "c" / f"forwarder-h{k}.log")
        deadline = time.monotonic() + 20
        while not listen.exists():
            if not proc.alive() or time.monotonic() > deadline:
                proc.stop()
                raise RuntimeError(f"netlab: the forwarder to host {k} did not start: {proc.tail()}")
            time.sleep(0.02)
        return proc

    def stop(self) -> None:
        """Stop every process the lab started (forwarders, servers, socat), delete its namespaces and directory."""
        for k in list(self._paused):  # a stopped process would take SIGTERM only when continued
            with contextlib.suppress(Exception):
                self.resume_server(k)
        while self._forwarders:
            self._forwarders.pop().stop()
        while self.hsms:
            with contextlib.suppress(Exception):
                self.hsms.pop().stop()
        while self._namespaces:
            name = self._namespaces.pop()
            with contextlib.suppress(Exception):
                _run(["ip", "netns", "del", name], f"ip netns del {name}")
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- using it -------------------------------------------------------------------------------------------

    def kill_server(self, k: int) -> None:
        """SIGKILL host ``k``'s ``p11-kit server`` and the connections it serves (1-based ``k``)."""
        self.hsms[k - 1].kill_server()

    def pause_server(self, k: int) -> None:
        """SIGSTOP host ``k``'s server and the connections it serves (its process group): a host that hangs, its
        TCP connections open, instead of failing."""
        os.killpg(self.hsms[k - 1].pids["p11-kit-server"], signal.SIGSTOP)
        self._paused.add(k)

    def resume_server(self, k: int) -> None:
        """SIGCONT what :meth:`pause_server` stopped."""
        self._paused.discard(k)
        os.killpg(self.hsms[k - 1].pids["p11-kit-server"], signal.SIGCONT)

    def start_server(self, k: int) -> None:
        """Start host ``k``'s server again (waits until its socket accepts)."""
        self.hsms[k - 1].start_server()

    def client_command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as run in the client's namespace."""
        return ["ip", "netns", "exec", self.client_ns, *argv]

    def client_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a client process: ours, without a SoftHSM configuration (the client loads only the
        p11-kit client copies), plus ``extra``."""
        env = {k: v for k, v in os.environ.items() if k not in ("SOFTHSM2_CONF", "P11_KIT_SERVER_ADDRESS")}
        env.update(extra or {})
        return env

    def pids(self) -> list[int]:
        """Every process of the lab that runs now."""
        out = [p.pid for p in self._forwarders if p.alive()]
        for hsm in self.hsms:
            out += list(hsm.pids.values())
        return out


def leftovers(tag: str, directory: Path) -> list[str]:
    """What a lab left behind: its namespaces (by ``tag``) and processes whose command line names ``directory``
    (servers, socat, forwarders all carry a path in it)."""
    found = []
    with contextlib.suppress(OSError):
        found += [f"netns {name}" for name in os.listdir("/run/netns") if name.startswith(tag)]
    marker = str(directory).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if marker in cmdline:
                shown = cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]
                found.append(f"pid {entry.name}: {shown}")
    return found


def remove_stale_labs() -> list[str]:
    """Delete what labs of processes that no longer run left (a run killed with SIGKILL cannot stop its lab: its
    processes die with it, its namespaces and directory stay): namespaces named ``<PREFIX><pid>x...`` whose PID
    is gone, and their directories in the temp dir. A live lab (ours or another user's of the machine) is left
    alone. Returns what was deleted."""
    removed = []
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir("/run/netns")):
            pid_text = name[len(PREFIX):].partition("x")[0]
            if not name.startswith(PREFIX) or not pid_text.isdigit() or _alive(int(pid_text)):
                continue
            with contextlib.suppress(Exception):
                _run(["ip", "netns", "del", name], f"ip netns del {name}")
                removed.append(f"netns {name}")
            tag = name.rpartition("-")[0]
            for directory in Path(tempfile.gettempdir()).glob(f"{tag}-*"):
                if directory.is_dir():
                    shutil.rmtree(directory, ignore_errors=True)
                    removed.append(str(directory))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_members(members: Sequence[MemberSpec]) -> list[Any]:
    """In the client process: load each member's copy of the client module with its address (the variable is read
    when the module is loaded), and return each member's :class:`p11.Token`."""
    import p11

    tokens = []
    for member in members:
        os.environ["P11_KIT_SERVER_ADDRESS"] = member.address
        tokens.append(p11.load(member.module).get_token(label=member.label))
    os.environ.pop("P11_KIT_SERVER_ADDRESS", None)
    return tokens


def members_arg(members: Sequence[MemberSpec]) -> str:
    """The members for a child's command line: ``module|address|label`` joined by ``,``."""
    return ",".join(f"{m.module}|{m.address}|{m.label}" for m in members)


def parse_members(text: str) -> list[MemberSpec]:
    """The inverse of :func:`members_arg`."""
    return [MemberSpec(*part.split("|")) for part in text.split(",") if part]
