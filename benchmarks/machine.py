"""What the figures were measured on: the machine and the versions of everything involved."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

NOT_INSTALLED = "not installed"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _first_line_of(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return NOT_INSTALLED
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0].strip() if out else "unknown"


def cpu_model() -> str:
    match = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or platform.machine())


def memory() -> str:
    match = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    return f"{int(match.group(1)) / 1024 / 1024:.1f} GiB" if match else "unknown"


def os_name() -> str:
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?$', _read("/etc/os-release"), re.MULTILINE)
    name = match.group(1) if match else platform.system()
    return f"{name} (kernel {platform.release()})"


def machine_info() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory": memory(),
        "os": os_name(),
        "arch": platform.machine(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_at_start": _load_average(),
    }


def _load_average() -> str:
    """Other work on the machine skews the figures; the 1/5/15-minute load says how busy it was."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def versions(compiler: str = "cc") -> dict[str, str]:
    return {
        "p11": _dist_version("p11"),
        "SoftHSM": _first_line_of(["softhsm2-util", "--version"]),
        "python-pkcs11": _dist_version("python-pkcs11"),
        "PyKCS11": _dist_version("PyKCS11"),
        "cffi": _dist_version("cffi"),
        "Cython": _dist_version("Cython"),
        "compiler": _first_line_of([compiler, "--version"]),
    }
