"""Build the HTML site: ``python docs/build.py [OUTDIR]`` (default ``build/docs/html``), warnings as errors.

The one place the build's options live: ``scripts/docs`` runs it after installing what it needs, and
``tests/test_docs.py`` runs it into a temp dir. Every build starts afresh (``-E``, its own doctree cache under
OUTDIR's parent): an incremental build would not re-read a page whose source did not change, and so would not
report again a warning that is still there. ``-n`` (nitpicky): every cross-reference must resolve;
``-W --keep-going``: any warning fails the build, after all of them have been reported.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sphinx.cmd.build import build_main

DOCS = Path(__file__).resolve().parent
DEFAULT_OUT = DOCS.parent / "build" / "docs" / "html"


def main(argv: list[str]) -> int:
    out = Path(argv[0]).resolve() if argv else DEFAULT_OUT
    doctrees = out.parent / "doctrees"
    rc = build_main(["-b", "html", "-E", "-n", "-W", "--keep-going", "-q", "-d", str(doctrees), str(DOCS), str(out)])
    if rc == 0:
        print(f"docs: {out / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
