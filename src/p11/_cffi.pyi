"""Stub of the compiled cffi module (``native/build_cffi.py``): the whole header, opaque to a type checker.

``ffi`` and ``lib`` are built from ``include/p11/*.h``; their thousands of names are typed where they are used
(``p11.lowlevel``), and the constants reach typed code through ``p11.constants`` (whose stub is generated).
"""

from typing import Any

ffi: Any
lib: Any
