"""The project's set-up never changes what other programs on the machine load.

scripts/demo installs only what the demo and the benchmark use; scripts/test installs the interop stack, whose
tokens the tests load by path in processes of their own, and keeps the p11-kit registration of its modules (Debian's
libtpm2-pkcs11-1 drops /usr/share/p11-kit/modules/tpm2_pkcs11.module) out of every program that loads p11-kit's
registered modules: OpenSSL's pkcs11 engine, with its default configuration, loads p11-kit's proxy, and a
registered tpm2_pkcs11 without a TPM prints a dozen TCTI errors into every ``openssl ... -engine pkcs11``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.cli import ENGINE

SETUP = ROOT / "scripts" / "setup.sh"
# What a registered interop module prints into other programs (tpm2-tss, tpm2-pkcs11, tpm2-abrmd, openCryptoki).
FOREIGN = ("tcti", "tpm", "dbus", "CRITICAL", "opencryptoki", "pkcsslotd")


def _bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", f'set -euo pipefail; source "{SETUP}"; {script}'], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env}, check=False)


def _default_environment() -> dict[str, str]:
    """The environment of a user who never heard of p11: no OpenSSL config, module or token settings of ours."""
    drop = ("OPENSSL_CONF", "SOFTHSM2_CONF", "P11_MODULE", "PKCS11SPY", "DBUS_SESSION_BUS_ADDRESS")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("TPM2", "TSS2", "P11_"))}


@pytest.mark.skipif(not ENGINE.is_file() or shutil.which("openssl") is None, reason="no OpenSSL pkcs11 engine")
def test_openssl_engine_with_the_default_configuration_hears_nothing_of_other_tokens(tmp_path: Path) -> None:
    proc = subprocess.run(["openssl", "pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-sign", "-in",
                           os.devnull, "-inkey", "pkcs11:object=p11-no-such-key;type=private"],
                          capture_output=True, text=True, timeout=120, env=_default_environment(), cwd=tmp_path,
                          check=False)
    said = proc.stdout + proc.stderr
    assert 'Engine "pkcs11" set.' in said  # the engine ran, through p11-kit's proxy
    heard = [line for line in said.splitlines() if any(word.lower() in line.lower() for word in FOREIGN)]
    assert not heard, "a module of the interop stack is loaded by every program using p11-kit:\n" + "\n".join(heard)


@pytest.mark.skipif(shutil.which("p11-kit") is None, reason="p11-kit is not installed")
def test_p11_kit_lists_no_interop_module() -> None:
    listed = subprocess.run(["p11-kit", "list-modules"], capture_output=True, text=True, timeout=120,
                            env=_default_environment(), check=False)
    said = listed.stdout + listed.stderr
    heard = [line for line in said.splitlines() if any(word.lower() in line.lower() for word in FOREIGN)]
    assert "tpm2_pkcs11" not in said and not heard, said


def test_the_main_job_installs_nothing_of_the_interop_stack() -> None:
    demo = (ROOT / "scripts" / "demo").read_text()
    assigned = next(line for line in demo.splitlines() if line.startswith("APT_PACKAGES=")).split(" #")[0]
    listed = _bash(f'{assigned}; echo "${{APT_PACKAGES[*]}}"; echo "${{INTEROP_PACKAGES[*]}}"')
    assert listed.returncode == 0, listed.stderr
    demo_packages, interop = (line.split() for line in listed.stdout.splitlines())
    assert "softhsm2" in demo_packages and not set(demo_packages) & set(interop)
    assert {"libtpm2-pkcs11-1", "opencryptoki", "swtpm"} <= set(interop)


@pytest.mark.skipif(os.geteuid() != 0, reason="the registration is written as root (setup runs apt as root)")
def test_setup_neutralises_what_it_installs_and_leaves_an_administrators_file(tmp_path: Path) -> None:
    package, admin = tmp_path / "share", tmp_path / "etc"
    package.mkdir()
    (package / "tpm2_pkcs11.module").write_text("module: libtpm2_pkcs11.so\n")
    dirs = f'P11KIT_PACKAGE_DIR="{package}"; P11KIT_ADMIN_DIR="{admin}"'
    # This run installed it: neutralised, whatever the machine has.
    done = _bash(f"{dirs}; tpm_present() {{ true; }}; keep_interop_modules_private softhsm2 libtpm2-pkcs11-1")
    assert done.returncode == 0 and "kept tpm2_pkcs11" in done.stdout, done.stderr
    written = (admin / "tpm2_pkcs11.module").read_text()
    assert written.splitlines()[-1] == "module:" and "setup leaves an existing file alone" in written
    # An administrator's file (or ours from an earlier run) is left as it is.
    (admin / "tpm2_pkcs11.module").write_text("module: libtpm2_pkcs11.so\n")
    again = _bash(f"{dirs}; tpm_present() {{ false; }}; keep_interop_modules_private libtpm2-pkcs11-1")
    assert again.returncode == 0 and again.stdout == ""
    assert (admin / "tpm2_pkcs11.module").read_text() == "module: libtpm2_pkcs11.so\n"
    # Installed before, on a machine with a TPM: the module works there and someone may use it, so it stays.
    (admin / "tpm2_pkcs11.module").unlink()
    kept = _bash(f"{dirs}; tpm_present() {{ true; }}; keep_interop_modules_private")
    assert kept.returncode == 0 and not (admin / "tpm2_pkcs11.module").exists()
    # Installed before, no TPM: the module can only print errors into other programs: neutralised.
    quiet = _bash(f"{dirs}; tpm_present() {{ false; }}; keep_interop_modules_private")
    assert quiet.returncode == 0 and (admin / "tpm2_pkcs11.module").read_text() == written


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("p11-kit") is None or shutil.which("unshare") is None,
                    reason="needs root, p11-kit and unshare (a private mount namespace)")
def test_p11_kit_skips_a_module_the_written_file_names(tmp_path: Path) -> None:
    """The file setup writes does what it says, checked by p11-kit itself in a private mount namespace where it
    sits in /etc/pkcs11/modules (an overlay: nothing outside this process tree sees it)."""
    upper, work = tmp_path / "upper", tmp_path / "work"
    (upper / "pkcs11" / "modules").mkdir(parents=True)
    work.mkdir()
    written = _bash(f'P11KIT_ADMIN_DIR="{upper}/pkcs11/modules"; P11KIT_PACKAGE_DIR=/usr/share/p11-kit/modules; '
                    "keep_interop_modules_private libtpm2-pkcs11-1")
    if not (Path("/usr/share/p11-kit/modules") / "tpm2_pkcs11.module").is_file():
        pytest.skip("libtpm2-pkcs11-1 is not installed: nothing to neutralise")
    assert written.returncode == 0, written.stderr
    script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc && "
              "p11-kit list-modules 2>&1")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120, env=_default_environment(), check=False)
    if "mount" in proc.stdout + proc.stderr and proc.returncode != 0:
        pytest.skip(f"no overlay mount here: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0 and "tpm2_pkcs11" not in proc.stdout and "tcti" not in proc.stdout.lower(), (
        proc.stdout + proc.stderr)
