"""Running the ``p11`` command as a subprocess against a throwaway SoftHSM store of its own.

The store is a directory with a ``softhsm2.conf``; children see it through ``SOFTHSM2_CONF`` in the environment
passed to them (this process's environment and its loaded SoftHSM are left alone). Tokens are made with
``p11 init-token --free`` itself.
"""

from __future__ import annotations

import itertools
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p11.testing.softhsm import find_softhsm_module

SO_PIN = "12345678"
USER_PIN = "1234"
ENGINE = Path("/usr/lib") / getattr(sys.implementation, "_multiarch", "x86_64-linux-gnu") / "engines-3" / "pkcs11.so"
_labels = itertools.count(1)


def p11_executable() -> str:
    """The console script installed beside this interpreter."""
    script = Path(sys.executable).parent / "p11"
    return str(script) if script.exists() else shutil.which("p11") or "p11"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    raw: bytes  # standard output as bytes

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


class CLI:
    """A SoftHSM store and the environment that points ``p11`` (and pkcs11-tool, openssl) at it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.module = find_softhsm_module()
        (directory / "tokens").mkdir(parents=True, exist_ok=True)
        self.conf = directory / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
                             "log.level = ERROR\nslots.removable = false\n", encoding="utf-8")
        self.env = {**os.environ, "SOFTHSM2_CONF": str(self.conf), "P11_MODULE": self.module, "COLUMNS": "200"}
        for name in ("P11_PIN", "P11_SO_PIN"):
            self.env.pop(name, None)

    def run(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Result:
        proc = subprocess.run([p11_executable(), *args], input=input, capture_output=True, timeout=120,
                              env={**self.env, **(env or {})}, cwd=cwd or self.directory, check=False)
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
                      proc.stdout)

    def on_terminal(self, *args: str, columns: int = 100, env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run ``p11 ARGS`` with standard output on a pseudo-terminal ``columns`` wide: (exit code, output text)."""
        master, slave = pty.openpty()
        environment = {**self.env, "COLUMNS": str(columns), "TERM": "xterm", **(env or {})}
        proc = subprocess.Popen([p11_executable(), *args], stdout=slave, stderr=subprocess.PIPE, env=environment,
                                cwd=self.directory)
        os.close(slave)
        chunks = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed its end
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
        os.close(master)
        code = proc.wait(timeout=60)
        return code, b"".join(chunks).decode().replace("\r\n", "\n")

    def ok(self, *args: str, **kwargs: Any) -> Result:
        """Run and insist on exit 0 (the failure message shows what the command said)."""
        result = self.run(*args, **kwargs)
        assert result.code == 0, f"p11 {' '.join(args)} exited {result.code}: {result.stderr}"
        return result

    def new_token(self, label: str | None = None) -> dict[str, Any]:
        """A fresh token (user PIN 1234, SO PIN 12345678) by ``init-token --free --json``: its JSON."""
        label = label or f"cli-{next(_labels)}"
        data: dict[str, Any] = self.ok("init-token", "--free", "--label", label, "--so-pin", SO_PIN,
                                       "--pin", USER_PIN, "--json").json()
        return data

    def pkcs11_tool(self, token: str, *args: str) -> subprocess.CompletedProcess[str]:
        """OpenSC's pkcs11-tool on this store, logged in to ``token`` with the user PIN: how the tests make what
        ``p11`` refuses to (a second key under a label already taken, as other tools do)."""
        proc = subprocess.run(["pkcs11-tool", "--module", self.module, "--token-label", token, "--login", "--pin",
                               USER_PIN, *args], capture_output=True, text=True, env=self.env, timeout=120,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        return proc

    def engine_config(self) -> Path:
        """An OpenSSL config that loads libp11's pkcs11 engine on this store's module."""
        path = self.directory / "engine.cnf"
        path.write_text("openssl_conf = openssl_init\n[openssl_init]\nengines = engine_section\n"
                        "[engine_section]\npkcs11 = pkcs11_section\n[pkcs11_section]\nengine_id = pkcs11\n"
                        f"dynamic_path = {ENGINE}\nMODULE_PATH = {self.module}\ninit = 0\n", encoding="utf-8")
        return path


def openssl(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60,
                          check=False)
