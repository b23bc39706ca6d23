"""p11: PKCS#11 (Cryptoki) for Python — the whole API through cffi, the hot paths in Cython.

Layers, bottom up: ``p11._cffi`` (our header, compiled) → ``p11.lowlevel`` (1:1 calls) → ``p11._native`` (Cython hot
paths) → the high-level API exported here → leaves (``p11.uri``, ``p11.crypto``, ``p11.testing`` …).
"""

from __future__ import annotations

from p11 import constants, errors
from p11.errors import CryptokiError, ModuleLoadError, P11Error
from p11.uri import URI, URIError

__version__ = "0.1.0"

__all__ = [
    "CryptokiError",
    "ModuleLoadError",
    "P11Error",
    "URI",
    "URIError",
    "__version__",
    "constants",
    "errors",
]
