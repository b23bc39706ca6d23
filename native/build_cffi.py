"""Generate the C source of ``p11._cffi`` from our Cryptoki header (cffi out-of-line API mode).

The header in ``include/p11/`` is the one source of truth: its body files are handed to ``ffi.cdef`` as they are, except
that a ``#define`` whose value is a parenthesised expression becomes ``...`` so the C compiler, which sees the very same
header, supplies the value. API mode then checks every literal constant and struct layout against the compiler, so the
Python view of the ABI cannot drift from the C one.

Usage: ``python native/build_cffi.py OUTPUT.c`` (CMake runs this; nothing is compiled here).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cffi

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_gated

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "include"
BODY_FILES = ("pkcs11_base.h", "pkcs11_constants.h", "pkcs11_mechparams.h")

_EXPR_DEFINE = re.compile(r"^(\s*#\s*define\s+[A-Za-z_][A-Za-z_0-9]*\s+)\(.*\)\s*(/\*.*\*/|//.*)?$", re.MULTILINE)

GATE_CDEF = """
typedef struct { ...; } p11_gate;
#define P11_GATE_OPEN ...
#define P11_GATE_PAUSED ...
#define P11_GATE_CLOSED ...
p11_gate *p11_gate_new(void *function_list, int major);
long p11_gate_drain(p11_gate *g, int state, long timeout_ms);
void p11_gate_resume(p11_gate *g);
void p11_gate_close(p11_gate *g);
int p11_gate_state(p11_gate *g);
long p11_gate_inflight(p11_gate *g);
void p11_gate_serialize(p11_gate *g, int on);
int p11_gate_serialized(p11_gate *g);
"""

LOADER_CDEF = """
void *p11_module_open(const char *path, char *err, size_t errlen);
void *p11_module_symbol(void *handle, const char *name);
int p11_module_close(void *handle);
"""


def header_cdef() -> str:
    """The body files as cffi accepts them: expression-valued defines resolved by the compiler."""
    parts = []
    for name in BODY_FILES:
        text = (INCLUDE / "p11" / name).read_text(encoding="utf-8")
        parts.append(_EXPR_DEFINE.sub(r"\1...", text))
    return "\n".join(parts)


def make_ffi() -> cffi.FFI:
    ffi = cffi.FFI()
    # Windows Cryptoki structs are packed to 1 byte (the header does the same with #pragma pack for C).
    pack = 1 if sys.platform == "win32" else None
    ffi.cdef(header_cdef(), pack=pack)
    ffi.cdef(LOADER_CDEF)
    ffi.cdef(GATE_CDEF)
    ffi.cdef(gen_gated.cffi_cdef())
    ffi.set_source("p11._cffi", c_source(), include_dirs=[str(INCLUDE), str(ROOT / "native")])
    return ffi


def c_source() -> str:
    """Our C in the cffi module: the header, the gated call of every function (with native/p11_gate.h) and the
    loader. Also compiled on its own for Windows and macOS targets by ``scripts/wheels --check`` (platform paths)."""
    return "\n".join(
        [
            '#include "p11/cryptoki.h"',
            gen_gated.c_source(),  # the gated call of every function (includes native/p11_gate.h)
            (ROOT / "native" / "loader.c").read_text(encoding="utf-8"),
        ]
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    make_ffi().emit_c_code(str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
