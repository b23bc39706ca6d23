"""Which Python binding class measures which implementation column (the C floor is in floor.py)."""

from __future__ import annotations

import importlib

from benchmarks.harness import Binding

# impl name -> (module, class). Modules import their library only when a binding is constructed,
# so the runner can read OPS from every class even when a library is not installed.
PYTHON_IMPLS: dict[str, tuple[str, str]] = {
    "p11": ("benchmarks.impl_p11", "P11"),
    "p11-batch": ("benchmarks.impl_p11", "P11Batch"),
    "p11-batch-2": ("benchmarks.impl_p11", "P11Batch2"),
    "python-pkcs11": ("benchmarks.impl_python_pkcs11", "PythonPkcs11"),
    "pykcs11": ("benchmarks.impl_pykcs11", "PyKCS11Binding"),
}


def binding_class(impl: str) -> type[Binding]:
    module, name = PYTHON_IMPLS[impl]
    cls: type[Binding] = getattr(importlib.import_module(module), name)
    return cls
