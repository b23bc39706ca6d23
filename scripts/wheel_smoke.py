"""Smoke suite for an installed p11 (a wheel or the sdist), run where the wheel will run.

Against a throwaway SoftHSM2 token: load the module (both compiled layers), generate keys, sign and verify (checked
in software too), a pooled batch on two workers, a key opened by its RFC 7512 URI, and the ``p11 info`` command.
``--abi3`` also requires both extensions to be the stable-ABI builds. Each step prints one ``ok:`` line; the first
failure raises (non-zero exit). Run from a directory holding no ``p11`` source, so only the installed package can be
imported.

Run by scripts/wheel-check (the x86_64 wheel, in CI), scripts/wheels --check (every wheel, each Python, aarch64 under
emulation, the sdist) and cibuildwheel's test step (.github/workflows/wheels.yml).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import p11
import p11._cffi
import p11._native
from p11 import KeyType, Mechanism, lowlevel
from p11.crypto import export_public_key
from p11.testing import SoftHSM

LABEL = "wheel-smoke"


def ok(what: str) -> None:
    print(f"ok: {what}", flush=True)


def check_extensions(abi3: bool) -> None:
    files = [Path(p11._cffi.__file__ or ""), Path(p11._native.__file__ or "")]
    names = [f.name for f in files]
    # Stable-ABI modules are named _x.abi3.so on Linux and macOS and plain _x.pyd on Windows (no version tag).
    stable = [f.suffixes == [".pyd"] if sys.platform == "win32" else ".abi3." in f.name for f in files]
    if abi3 and not all(stable):
        raise AssertionError(f"expected stable-ABI extensions, found {names}")
    ok(f"extensions {', '.join(names)}")


def p11_command() -> list[str]:
    """The ``p11`` console script installed beside this interpreter (what a user types)."""
    script = shutil.which("p11", path=str(Path(sys.executable).parent))
    if script is None:
        raise AssertionError(f"no p11 console script next to {sys.executable}")
    return [script]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--abi3", action="store_true", help="require the stable-ABI (abi3) extension modules")
    args = parser.parse_args(argv)

    print(f"p11 {p11.__version__} from {p11.__file__}")
    print(f"CPython {platform.python_version()} on {platform.machine()} ({platform.platform()})")
    check_extensions(args.abi3)

    with SoftHSM(label=LABEL) as hsm:
        # Load: the cffi layer sees the token.
        module = lowlevel.load(hsm.module_path)
        labels = [module.C_GetTokenInfo(s).label for s in module.C_GetSlotList(True)]
        assert LABEL in labels, labels
        ok(f"lowlevel.load {hsm.module_path}: tokens {labels}")

        # Keygen, sign/verify on an explicit session (Cython one-crossing path).
        lib = p11.load(hsm.module_path)
        token = lib.get_token(label=LABEL)
        with token.open(user_pin=hsm.user_pin, rw=True) as session:
            public, private = session.generate_keypair(KeyType.EC, curve="P-256", label="smoke-ec")
            session.generate_key(KeyType.GENERIC_SECRET, 256, label="smoke-hmac")
            ok("generate_keypair EC P-256, generate_key HMAC-256")
            signature = private.sign(b"smoke", Mechanism.ECDSA_SHA256)
            public.verify(b"smoke", signature, Mechanism.ECDSA_SHA256)
            assert not public.verify_ok(b"smoke!", signature, Mechanism.ECDSA_SHA256), "a wrong message verified"
            software = export_public_key(public)
            assert isinstance(software, ec.EllipticCurvePublicKey)
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            software.verify(encode_dss_signature(r, s), b"smoke", ec.ECDSA(hashes.SHA256()))
            ok("ECDSA-SHA256 signed on the token, verified on the token and by cryptography")

        # A pooled batch: one crossing per batch, two workers, order kept, each tag what a single sign gives.
        token.login(hsm.user_pin)
        try:
            hmac_key = token.get_key(label="smoke-hmac")
            messages = [f"GET /things/{n}".encode() for n in range(200)]
            tags = hmac_key.sign_many(messages, Mechanism.SHA256_HMAC, workers=2)
            assert len(tags) == len(messages)
            assert tags[7] == hmac_key.sign(messages[7], Mechanism.SHA256_HMAC)
            assert tags == hmac_key.sign_many(messages, Mechanism.SHA256_HMAC)
            checks = hmac_key.verify_many(messages, [tags[0], *tags[1:]], Mechanism.SHA256_HMAC)
            assert all(checks), checks
            assert hmac_key.verify_many(messages[:2], tags[1::-1], Mechanism.SHA256_HMAC) == [False, False]
            ok(f"pooled sign_many/verify_many of {len(messages)} HMAC-SHA256 tags on 2 workers")
        finally:
            token.close_pool()

        # A URI open: a cryptography private key whose signatures are made on the token.
        uri = f"pkcs11:token={LABEL};object=smoke-ec;type=private?module-path={hsm.module_path}"
        device_key = p11.open(uri, pin=hsm.user_pin)
        assert isinstance(device_key, ec.EllipticCurvePrivateKey)
        der = device_key.sign(b"challenge", ec.ECDSA(hashes.SHA256()))
        software.verify(der, b"challenge", ec.ECDSA(hashes.SHA256()))
        try:
            software.verify(der, b"challenge!", ec.ECDSA(hashes.SHA256()))
            raise AssertionError("a wrong message verified")
        except InvalidSignature:
            pass
        del device_key
        ok("p11.open(pkcs11:token=...;object=smoke-ec;type=private) signed a challenge")

        # The command line, as a user runs it.
        env = {**hsm.env, "P11_MODULE": hsm.module_path}
        proc = subprocess.run([*p11_command(), "info", "--json"], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode == 0, (proc.returncode, proc.stderr)
        info = json.loads(proc.stdout)
        tokens = [slot["token"]["label"] for slot in info["slots"] if slot.get("token")]
        assert LABEL in tokens, tokens
        assert os.path.samefile(info["module"]["path"], hsm.module_path), info["module"]
        ok(f"p11 info --json: {info['module']['description']!r}, tokens {tokens}")
    print("wheel smoke: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
