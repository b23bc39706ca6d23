"""Every ``>>>`` example in p11's docstrings runs, as the API reference shows it, against throwaway SoftHSM tokens.

The examples are written as a user pastes them (``p11.load("/usr/lib/softhsm/libsofthsm2.so")``, token ``my-token``
or ``ca-token``, user PIN ``1234``, as the README's), so they run in a child process whose SoftHSM store has those
two tokens (SoftHSM reads ``SOFTHSM2_CONF`` once per process). Each docstring runs in a directory of its own holding
``server.pem``: a P-256 key encrypted with the password ``secret`` and its certificate, for the import example.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support import self_signed

RUNNER = r"""
import doctest, importlib, os, pkgutil, shutil, sys, tempfile
import p11
from p11.testing import SoftHSM

server_pem = sys.argv[1]
finder = doctest.DocTestFinder(exclude_empty=True)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
ran = []
with SoftHSM(label="my-token", user_pin="1234", so_pin="12345678") as hsm:
    hsm.add_token("ca-token", user_pin="1234", so_pin="12345678")
    for info in pkgutil.walk_packages(p11.__path__, "p11."):
        if info.name.endswith("__main__"):  # running it is the command line
            continue
        module = importlib.import_module(info.name)
        for test in sorted(finder.find(module), key=lambda t: t.name):
            if not test.examples or test.name in ran:
                continue
            cwd = tempfile.mkdtemp(prefix="p11-doctest-")
            shutil.copy(server_pem, cwd)
            here = os.getcwd()
            os.chdir(cwd)
            try:
                runner.run(test)
            finally:
                os.chdir(here)
                shutil.rmtree(cwd, ignore_errors=True)
            ran.append(test.name)
result = runner.summarize(verbose=False)
print("ran:", " ".join(ran))
print(f"examples: {result.attempted} failed: {result.failed}")
sys.exit(1 if result.failed else 0)
"""


def _encrypted_key_and_certificate(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ) + self_signed(key, "server.example").public_bytes(serialization.Encoding.PEM)
    path.write_bytes(pem)


def test_docstring_examples_run_against_real_tokens(tmp_path: Path) -> None:
    _encrypted_key_and_certificate(tmp_path / "server.pem")
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(tmp_path / "server.pem")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = proc.stdout.split("ran:", 1)[1].splitlines()[0].split()
    # The reference's examples: URIs, mechanism objects, cryptography import and signing, the CA walk-through.
    assert {"p11.uri.URI", "p11.mechanisms", "p11.crypto", "p11.pki"} <= set(ran), ran
    assert "failed: 0" in proc.stdout
