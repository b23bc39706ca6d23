"""Build and run the C floor (``benchmarks/floor.c``), compiled against our own header into build/bench/."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from benchmarks import spec
from benchmarks.harness import Target

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "benchmarks" / "floor.c"
INCLUDE = ROOT / "include"
BUILD_DIR = ROOT / "build" / "bench"
BINARY = BUILD_DIR / "floor"


class FloorBuildError(RuntimeError):
    """floor.c did not compile; the message holds the compiler's complaint."""


def compiler() -> str:
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    raise FloorBuildError("no C compiler (cc, gcc or clang) on PATH: apt-get install build-essential")


def _stale() -> bool:
    if not BINARY.exists():
        return True
    built = BINARY.stat().st_mtime
    inputs = [SOURCE, *INCLUDE.glob("p11/*.h")]
    return any(p.stat().st_mtime > built for p in inputs)


def check_matches_spec(source: str) -> None:
    """floor.c's #defines must name the same keys and sizes as spec.py, or its figures measure other work."""
    expected = {
        "EC_LABEL": f'"{spec.EC_KEY.label}"',
        "RSA_LABEL": f'"{spec.RSA_KEY.label}"',
        "HMAC_LABEL": f'"{spec.HMAC_KEY.label}"',
        "AES_LABEL": f'"{spec.AES_KEY.label}"',
        "RANDOM_LEN": str(spec.RANDOM_LEN),
        "GCM_TAG_BITS": str(spec.GCM_TAG_BITS),
    }
    found = dict(re.findall(r"^#define (\w+) (.+?)\s*$", source, re.MULTILINE))
    wrong = [
        f"{name} is {found.get(name)}, spec.py says {value}"
        for name, value in expected.items()
        if found.get(name) != value
    ]
    find = found.get("FIND_LABEL", "")
    find = found.get(find, find)  # floor.c defines it as another label's name
    if find != f'"{spec.FIND_LABEL}"':
        wrong.append(f"FIND_LABEL is {find}, spec.py says {spec.FIND_LABEL!r}")
    if wrong:
        raise FloorBuildError("floor.c disagrees with spec.py: " + "; ".join(wrong))


def build() -> Path:
    """Compile the floor if it is missing or older than floor.c or the header; return the binary's path."""
    check_matches_spec(SOURCE.read_text(encoding="utf-8"))
    if not _stale():
        return BINARY
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    tmp = BINARY.with_suffix(".tmp")
    argv = [
        compiler(),
        "-O2",
        "-Wall",
        "-Wextra",
        "-I",
        str(INCLUDE),
        str(SOURCE),
        "-o",
        str(tmp),
        "-ldl",
        "-lpthread",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FloorBuildError(f"cc failed on floor.c: {proc.stderr.strip()[-2000:]}")
    tmp.replace(BINARY)
    return BINARY


def command(binary: Path, target: Target, op: str, seconds: float, rounds: int) -> list[str]:
    """The floor's argv (its contract: module, token label, pin, op, seconds, then rounds)."""
    return [
        str(binary),
        target.module_path,
        target.token_label,
        target.user_pin,
        op,
        f"{seconds:g}",
        str(rounds),
    ]
