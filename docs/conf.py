"""Sphinx configuration of p11's documentation site (`bash scripts/docs` builds it into build/docs/html).

The guides are the Markdown files beside this one (MyST); the API reference, the exception tree and the CLI reference
are generated at build time from the installed package by ``_ext/p11_reference.py`` and sphinx-click, never written
by hand. Warnings are errors and cross-references are checked (nitpicky), so a name that no longer exists fails the
build. Inventories for links to Python's and cryptography's documentation come from Debian's python3-doc and
python-cryptography-doc packages (no network at build time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import p11

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "p11"
author = "p11 developers"
copyright = "p11 developers"
release = version = p11.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "myst_parser",
    "sphinx_click",
    "p11_reference",
    "p11_readme",
]

root_doc = "index"
# Text about a command line: "--module" stays two hyphens, quotes stay straight.
smartquotes = False
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Every cross-reference must resolve: a guide or docstring that names something that is gone fails the build.
nitpicky = True
# Third-party types in signatures whose inventories we do not have offline: shown as text, not links.
nitpick_ignore_regex = [
    (r"py:.*", r"(boto3|botocore|awscrt|click|pytest|_pytest|paramiko|asyncssh|pyhanko|jwcrypto|josepy|asn1crypto)"
               r"(\..*)?"),
    # cryptography names newer than the inventory Debian ships (38.x) stay unlinked rather than failing the build.
    (r"py:.*", r"cryptography\..*"),
]

# -- autodoc: the code's own docstrings and annotations ---------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
autodoc_inherit_docstrings = True
python_use_unqualified_type_names = True
add_module_names = False

# -- MyST: the guides are Markdown ----------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Links to other projects' documentation (inventories from Debian packages, read offline) -----------------
_PYTHON_INV = f"/usr/share/doc/python{sys.version_info.major}.{sys.version_info.minor}/html/objects.inv"
_CRYPTOGRAPHY_INV = "/usr/share/doc/python-cryptography-doc/html/objects.inv"
for _inventory in (_PYTHON_INV, _CRYPTOGRAPHY_INV):
    if not Path(_inventory).exists():
        raise RuntimeError(f"{_inventory} is missing: apt-get install python3-doc python-cryptography-doc "
                           "(scripts/docs installs them)")
intersphinx_mapping = {
    "python": (f"https://docs.python.org/{sys.version_info.major}.{sys.version_info.minor}", _PYTHON_INV),
    "cryptography": ("https://cryptography.io/en/latest", _CRYPTOGRAPHY_INV),
}
intersphinx_timeout = 5

# -- HTML ----------------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"p11 {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
html_copy_source = False
