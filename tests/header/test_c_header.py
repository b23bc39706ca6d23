"""Checks of our Cryptoki header (include/p11/) against the C compiler and an independent header.

Why: the header is the one source of truth for every constant and struct the binding uses, and a wrong value
or field offset is an ABI bug that no Python test against a single token would reliably catch.  So we compile
it and compare it, value by value and offset by offset, with p11-kit's independently written PKCS#11 2.40
header (``/usr/include/p11-kit-1/p11-kit/pkcs11.h``, Debian package ``libp11-kit-dev``).  Each header is
compiled in a separate program, so neither can influence the other.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

INCLUDE = ROOT / "include"
HEADER_DIR = INCLUDE / "p11"
BODY_FILES = ("pkcs11_base.h", "pkcs11_constants.h", "pkcs11_mechparams.h")

P11KIT_INCLUDE = Path("/usr/include/p11-kit-1")
P11KIT_HEADER = P11KIT_INCLUDE / "p11-kit" / "pkcs11.h"

OURS_PRELUDE = '#include "p11/cryptoki.h"\n'
# CRYPTOKI_COMPAT makes p11-kit spell its struct fields and types as the specification does.
P11KIT_PRELUDE = "#define CRYPTOKI_COMPAT\n#include <p11-kit/pkcs11.h>\n"

# Names defined by both headers whose values differ on purpose.
KNOWN_VALUE_DIFFERENCES = {
    # Different header versions: ours is 3.1, p11-kit's is 2.40.
    "CRYPTOKI_VERSION_MAJOR",
    "CRYPTOKI_VERSION_MINOR",
    # p11-kit (at least up to 0.24) numbers these 0x1c0..0x1c4; the OASIS 2.40 and 3.x headers, and NSS,
    # number them 0x1b5..0x1b9, which is what modules return.
    "CKR_EXCEEDED_MAX_ITERATIONS",
    "CKR_FIPS_SELF_TEST_FAILED",
    "CKR_LIBRARY_LOAD_FAILED",
    "CKR_PIN_TOO_WEAK",
    "CKR_PUBLIC_KEY_INVALID",
}

# CK_FUNCTION_LIST_3_0 as the PKCS#11 3.0 specification orders it (3.1 uses the same list): the 2.40
# functions, then the 3.0 additions.  The struct's first field is `version`.
FUNCTIONS_2_40 = (
    "C_Initialize",
    "C_Finalize",
    "C_GetInfo",
    "C_GetFunctionList",
    "C_GetSlotList",
    "C_GetSlotInfo",
    "C_GetTokenInfo",
    "C_GetMechanismList",
    "C_GetMechanismInfo",
    "C_InitToken",
    "C_InitPIN",
    "C_SetPIN",
    "C_OpenSession",
    "C_CloseSession",
    "C_CloseAllSessions",
    "C_GetSessionInfo",
    "C_GetOperationState",
    "C_SetOperationState",
    "C_Login",
    "C_Logout",
    "C_CreateObject",
    "C_CopyObject",
    "C_DestroyObject",
    "C_GetObjectSize",
    "C_GetAttributeValue",
    "C_SetAttributeValue",
    "C_FindObjectsInit",
    "C_FindObjects",
    "C_FindObjectsFinal",
    "C_EncryptInit",
    "C_Encrypt",
    "C_EncryptUpdate",
    "C_EncryptFinal",
    "C_DecryptInit",
    "C_Decrypt",
    "C_DecryptUpdate",
    "C_DecryptFinal",
    "C_DigestInit",
    "C_Digest",
    "C_DigestUpdate",
    "C_DigestKey",
    "C_DigestFinal",
    "C_SignInit",
    "C_Sign",
    "C_SignUpdate",
    "C_SignFinal",
    "C_SignRecoverInit",
    "C_SignRecover",
    "C_VerifyInit",
    "C_Verify",
    "C_VerifyUpdate",
    "C_VerifyFinal",
    "C_VerifyRecoverInit",
    "C_VerifyRecover",
    "C_DigestEncryptUpdate",
    "C_DecryptDigestUpdate",
    "C_SignEncryptUpdate",
    "C_DecryptVerifyUpdate",
    "C_GenerateKey",
    "C_GenerateKeyPair",
    "C_WrapKey",
    "C_UnwrapKey",
    "C_DeriveKey",
    "C_SeedRandom",
    "C_GenerateRandom",
    "C_GetFunctionStatus",
    "C_CancelFunction",
    "C_WaitForSlotEvent",
)
FUNCTIONS_3_0_ADDED = (
    "C_GetInterfaceList",
    "C_GetInterface",
    "C_LoginUser",
    "C_SessionCancel",
    "C_MessageEncryptInit",
    "C_EncryptMessage",
    "C_EncryptMessageBegin",
    "C_EncryptMessageNext",
    "C_MessageEncryptFinal",
    "C_MessageDecryptInit",
    "C_DecryptMessage",
    "C_DecryptMessageBegin",
    "C_DecryptMessageNext",
    "C_MessageDecryptFinal",
    "C_MessageSignInit",
    "C_SignMessage",
    "C_SignMessageBegin",
    "C_SignMessageNext",
    "C_MessageSignFinal",
    "C_MessageVerifyInit",
    "C_VerifyMessage",
    "C_VerifyMessageBegin",
    "C_VerifyMessageNext",
    "C_MessageVerifyFinal",
)

# Structs whose layout must be compared with p11-kit's (all of them exist there).
REQUIRED_COMMON_STRUCTS = (
    "CK_VERSION",
    "CK_INFO",
    "CK_SLOT_INFO",
    "CK_TOKEN_INFO",
    "CK_SESSION_INFO",
    "CK_ATTRIBUTE",
    "CK_DATE",
    "CK_MECHANISM",
    "CK_MECHANISM_INFO",
    "CK_C_INITIALIZE_ARGS",
    "CK_RSA_PKCS_OAEP_PARAMS",
    "CK_RSA_PKCS_PSS_PARAMS",
    "CK_ECDH1_DERIVE_PARAMS",
    "CK_AES_CTR_PARAMS",
    "CK_AES_CBC_ENCRYPT_DATA_PARAMS",
    "CK_KEY_DERIVATION_STRING_DATA",
)


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------


def _body_text() -> str:
    return "\n".join((HEADER_DIR / name).read_text(encoding="utf-8") for name in BODY_FILES)


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", text)


def _our_define_names() -> list[str]:
    return re.findall(r"^\s*#\s*define\s+([A-Za-z_]\w*)\s", _body_text(), flags=re.MULTILINE)


def _our_structs() -> dict[str, list[str]]:
    """Struct name -> field names in order, read from our body files (their format is regular)."""
    text = _strip_comments(_body_text())
    structs: dict[str, list[str]] = {}
    pattern = r"(?:typedef\s+)?struct\s+(CK_\w+)\s*\{(.*?)\}\s*(CK_\w+)?\s*;"
    for match in re.finditer(pattern, text, flags=re.DOTALL):
        fields = [
            re.sub(r"\[.*$", "", decl.split()[-1]).lstrip("*")
            for decl in (d.strip() for d in match.group(2).split(";"))
            if decl
        ]
        structs[match.group(3) or match.group(1)] = fields
    return structs


def _run_c(tmp_path: Path, name: str, prelude: str, include_dir: Path, body: str) -> str:
    """Compile ``prelude`` + a main() running ``body`` against one header; return what it prints."""
    src = tmp_path / f"{name}.c"
    exe = tmp_path / name
    src.write_text(
        prelude + "#include <stdio.h>\n#include <stddef.h>\nint main(void) {\n" + body + "return 0;\n}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        ["cc", "-std=c99", "-Wall", "-Werror", f"-I{include_dir}", str(src), "-o", str(exe)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"compiling {name} failed:\n{result.stderr[:4000]}"
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout


def _print_values(names: list[str]) -> str:
    return "".join(f'printf("{n} %lu\\n", (unsigned long)({n}));\n' for n in names)


def _print_layout(structs: dict[str, list[str]]) -> str:
    lines = []
    for struct, fields in structs.items():
        lines.append(f'printf("{struct} sizeof %zu\\n", sizeof({struct}));\n')
        lines.extend(f'printf("{struct} {f} %zu\\n", offsetof({struct}, {f}));\n' for f in fields)
    return "".join(lines)


def _parse(output: str) -> dict[str, int]:
    return {key: int(value) for key, value in (line.rsplit(" ", 1) for line in output.splitlines())}


def _preprocessed_p11kit_defines() -> set[str]:
    out = subprocess.run(
        ["cc", "-E", "-dM", f"-I{P11KIT_INCLUDE}", "-"],
        input=P11KIT_PRELUDE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(re.findall(r"^#define\s+([A-Za-z_]\w*)\s", out, flags=re.MULTILINE))


def _p11kit_struct_typedefs() -> set[str]:
    out = subprocess.run(
        ["cc", "-E", f"-I{P11KIT_INCLUDE}", "-"],
        input=P11KIT_PRELUDE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(re.findall(r"typedef\s+struct\s+\w+\s+(CK_\w+)\s*;", out))


needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on PATH")
needs_p11kit = pytest.mark.skipif(
    not P11KIT_HEADER.is_file(), reason=f"p11-kit header {P11KIT_HEADER} missing (install libp11-kit-dev)"
)


# --------------------------------------------------------------------------------------------------------
# The header on its own
# --------------------------------------------------------------------------------------------------------


def test_body_files_hold_no_preprocessor_logic() -> None:
    """cffi's cdef() gets the body files verbatim: only one-line #defines are allowed as directives."""
    for name in BODY_FILES:
        for number, line in enumerate((HEADER_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("#"):
                assert re.match(r"#\s*define\s", stripped), f"{name}:{number}: {line}"


def test_every_define_is_a_literal_or_a_parenthesised_expression() -> None:
    literal = r"(0x[0-9A-Fa-f]+|[0-9]+)[uUlL]*"
    form = re.compile(rf"#define [A-Za-z_]\w* ({literal}|\(.*\))(\s*/\*.*\*/)?\s*$")
    for name in BODY_FILES:
        for number, line in enumerate((HEADER_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("#"):
                assert form.match(line.strip()), f"{name}:{number}: {line}"


def test_no_name_is_defined_twice() -> None:
    names = _our_define_names()
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert duplicates == []


def test_body_files_parse_with_cffi() -> None:
    cffi = pytest.importorskip("cffi")
    text = re.sub(r"^(\s*#\s*define\s+\w+\s+)\(.*$", r"\1...", _body_text(), flags=re.MULTILINE)
    ffi = cffi.FFI()
    ffi.cdef(text)
    assert ffi.sizeof("CK_FUNCTION_LIST_3_0") == ffi.sizeof("CK_FUNCTION_LIST") + 24 * ffi.sizeof("void *")


def test_function_list_3_0_fields_follow_the_specification_order() -> None:
    structs = _our_structs()
    assert structs["CK_FUNCTION_LIST"] == ["version", *FUNCTIONS_2_40]
    assert structs["CK_FUNCTION_LIST_3_0"] == ["version", *FUNCTIONS_2_40, *FUNCTIONS_3_0_ADDED]


def test_every_function_has_a_pointer_typedef() -> None:
    text = _body_text()
    for function in (*FUNCTIONS_2_40, *FUNCTIONS_3_0_ADDED):
        assert re.search(rf"typedef CK_RV \(\*CK_{function}\)\(", text), function


@needs_cc
def test_header_compiles_cleanly_and_function_lists_are_pointer_arrays(tmp_path: Path) -> None:
    body = (
        'printf("ptr %zu\\n", sizeof(void *));\n'
        'printf("list %zu\\n", sizeof(CK_FUNCTION_LIST));\n'
        'printf("list3 %zu\\n", sizeof(CK_FUNCTION_LIST_3_0));\n'
        'printf("first %zu\\n", offsetof(CK_FUNCTION_LIST_3_0, C_Initialize));\n'
        + "".join(
            f'printf("{f} %zu\\n", offsetof(CK_FUNCTION_LIST_3_0, {f}));\n'
            for f in (*FUNCTIONS_2_40, *FUNCTIONS_3_0_ADDED)
        )
    )
    values = _parse(_run_c(tmp_path, "ours_lists", OURS_PRELUDE, INCLUDE, body))
    ptr, first = values["ptr"], values["first"]
    for index, function in enumerate((*FUNCTIONS_2_40, *FUNCTIONS_3_0_ADDED)):
        assert values[function] == first + index * ptr, function
    assert values["list"] == first + len(FUNCTIONS_2_40) * ptr
    assert values["list3"] == first + (len(FUNCTIONS_2_40) + len(FUNCTIONS_3_0_ADDED)) * ptr


# --------------------------------------------------------------------------------------------------------
# Against p11-kit's header
# --------------------------------------------------------------------------------------------------------


@needs_cc
@needs_p11kit
def test_constants_agree_with_p11kit(tmp_path: Path) -> None:
    common = sorted(set(_our_define_names()) & _preprocessed_p11kit_defines())
    assert len(common) > 600, "suspiciously few names in common with p11-kit's header"
    ours = _parse(_run_c(tmp_path, "ours_values", OURS_PRELUDE, INCLUDE, _print_values(common)))
    theirs = _parse(_run_c(tmp_path, "p11kit_values", P11KIT_PRELUDE, P11KIT_INCLUDE, _print_values(common)))
    differing = {n for n in common if ours[n] != theirs[n]}
    assert differing - KNOWN_VALUE_DIFFERENCES == set(), {
        n: (hex(ours[n]), hex(theirs[n])) for n in sorted(differing - KNOWN_VALUE_DIFFERENCES)
    }
    # A known difference that disappeared (p11-kit fixed) should be dropped from the list.
    assert (KNOWN_VALUE_DIFFERENCES & set(common)) - differing == set()


@needs_cc
@needs_p11kit
def test_struct_layouts_agree_with_p11kit(tmp_path: Path) -> None:
    structs = _our_structs()
    available = _p11kit_struct_typedefs()
    missing = [s for s in REQUIRED_COMMON_STRUCTS if s not in available]
    assert missing == [], f"p11-kit lacks {missing}"
    # Every struct both headers define, except the function lists (compared below) and CK_GCM_PARAMS
    # (compared below with the ulIvBits rule).
    compared = {
        name: fields
        for name, fields in structs.items()
        if name in available and name not in ("CK_FUNCTION_LIST", "CK_FUNCTION_LIST_3_0", "CK_GCM_PARAMS")
    }
    assert set(REQUIRED_COMMON_STRUCTS) <= set(compared)
    ours = _parse(_run_c(tmp_path, "ours_layout", OURS_PRELUDE, INCLUDE, _print_layout(compared)))
    theirs = _parse(
        _run_c(tmp_path, "p11kit_layout", P11KIT_PRELUDE, P11KIT_INCLUDE, _print_layout(compared))
    )
    assert ours == theirs


@needs_cc
@needs_p11kit
def test_function_list_agrees_with_p11kit(tmp_path: Path) -> None:
    layout = {"CK_FUNCTION_LIST": ["version", *FUNCTIONS_2_40]}
    ours = _parse(_run_c(tmp_path, "ours_fl", OURS_PRELUDE, INCLUDE, _print_layout(layout)))
    theirs = _parse(_run_c(tmp_path, "p11kit_fl", P11KIT_PRELUDE, P11KIT_INCLUDE, _print_layout(layout)))
    assert ours == theirs
    pointer = ours["CK_FUNCTION_LIST C_Finalize"] - ours["CK_FUNCTION_LIST C_Initialize"]
    pointers = (ours["CK_FUNCTION_LIST sizeof"] - ours["CK_FUNCTION_LIST C_Initialize"]) // pointer
    assert pointers == len(FUNCTIONS_2_40) == 68


@needs_cc
@needs_p11kit
def test_gcm_params_layout_follows_the_ulivbits_rule(tmp_path: Path) -> None:
    """CK_GCM_PARAMS: ours is the 3.x / 2.40-errata layout with ulIvBits after ulIvLen.

    If p11-kit's copy has ulIvBits too, the layouts must be identical; if it is the original 2.40 document
    layout without it, ours must be exactly one CK_ULONG larger, with the fields after ulIvLen shifted.
    """
    fields = _our_structs()["CK_GCM_PARAMS"]
    assert fields == ["pIv", "ulIvLen", "ulIvBits", "pAAD", "ulAADLen", "ulTagBits"]
    ours = _parse(
        _run_c(tmp_path, "ours_gcm", OURS_PRELUDE, INCLUDE, _print_layout({"CK_GCM_PARAMS": fields}))
    )
    p11kit_text = P11KIT_HEADER.read_text(encoding="utf-8", errors="replace")
    gcm_struct = re.search(r"struct ck_gcm_params\s*\{(.*?)\}", p11kit_text, flags=re.DOTALL)
    assert gcm_struct is not None, "p11-kit's header has no struct ck_gcm_params"
    if "iv_bits" in gcm_struct.group(1):
        body = _print_layout({"CK_GCM_PARAMS": fields})
        theirs = _parse(_run_c(tmp_path, "p11kit_gcm", P11KIT_PRELUDE, P11KIT_INCLUDE, body))
        assert ours == theirs
    else:
        without = [f for f in fields if f != "ulIvBits"]
        body = _print_layout({"CK_GCM_PARAMS": without}) + 'printf("ulong %zu\\n", sizeof(CK_ULONG));\n'
        theirs = _parse(_run_c(tmp_path, "p11kit_gcm", P11KIT_PRELUDE, P11KIT_INCLUDE, body))
        ulong = theirs.pop("ulong")
        assert ours["CK_GCM_PARAMS sizeof"] == theirs["CK_GCM_PARAMS sizeof"] + ulong
        for field in ("pIv", "ulIvLen"):
            assert ours[f"CK_GCM_PARAMS {field}"] == theirs[f"CK_GCM_PARAMS {field}"]
        for field in ("pAAD", "ulAADLen", "ulTagBits"):
            assert ours[f"CK_GCM_PARAMS {field}"] == theirs[f"CK_GCM_PARAMS {field}"] + ulong
