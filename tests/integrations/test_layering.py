"""p11.integrations is a leaf: the core never imports it, and importing one of its modules loads the third-party
package it adapts only when its function is called (paramiko and asyncssh are both behind ``p11.integrations.ssh``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import modules_loaded_after


def test_the_core_and_the_other_leaves_do_not_import_p11_integrations() -> None:
    loaded = modules_loaded_after("import p11, p11.crypto, p11.opener, p11.aws, p11.pki, p11.testing")
    assert not {m for m in loaded if m.startswith("p11.integrations")}


@pytest.mark.parametrize(
    ("module", "packages"),
    [("p11.integrations.ssh", {"paramiko", "asyncssh", "nacl"}), ("p11.integrations.jose", {"jwcrypto", "josepy"})],
)
def test_importing_an_integration_loads_no_third_party_package(module: str, packages: set[str]) -> None:
    loaded = modules_loaded_after(f"import {module}")
    assert not {m.split(".")[0] for m in loaded} & packages


@pytest.mark.parametrize(
    ("module", "function", "blocked", "extra"),
    [("ssh", "paramiko_key", "paramiko", "ssh"), ("ssh", "asyncssh_keypair", "asyncssh", "ssh"),
     ("jose", "jwk", "jwcrypto", "jose"), ("jose", "josepy_jwk", "josepy", "jose")],
)
def test_a_missing_package_names_the_extra_to_install(module: str, function: str, blocked: str, extra: str) -> None:
    """With the package absent (``sys.modules[name] = None`` makes its import fail), the call says which extra
    brings it; the key argument is checked first, so a stand-in key that passes the check is used."""
    probe = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        f"from p11.integrations import {module}\n"
        f"{module}.adapter = lambda key: key\n"
        f"try:\n    {module}.{function}(object())\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{blocked} is not installed: pip install 'p11[{extra}]'"


def test_the_pdf_module_without_pyhanko_names_the_extra() -> None:
    probe = (
        "import sys; sys.modules['pyhanko'] = None\n"
        "try:\n    import p11.integrations.pdf\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "pyHanko is not installed: pip install 'p11[pdf]'"
