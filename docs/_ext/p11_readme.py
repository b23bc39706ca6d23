"""Sphinx extension: the site's front page is the README, so the two never say different things.

``docs/index.md`` holds the line ``<!-- p11: README -->``; when Sphinx reads it, the line is replaced by README.md
with its links made relative to docs/ (``docs/cli.md`` -> ``cli.md``, ``examples/x.sh`` -> ``../examples/x.sh``).
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx

MARKER = "<!-- p11: README -->"
_LINK = re.compile(r"\]\((?!https?:|#|mailto:)([^)]+)\)")


def _relative(match: re.Match[str]) -> str:
    target = match.group(1)
    if target.startswith("docs/"):
        return f"]({target[len('docs/'):]})"
    return f"](../{target})"


def readme_for_docs(readme: str) -> str:
    """README.md's Markdown with its repository-relative links made relative to docs/."""
    return _LINK.sub(_relative, readme)


def include_readme(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != "index" or MARKER not in source[0]:
        return
    readme = Path(app.srcdir).parent / "README.md"
    app.env.note_dependency(str(readme))
    source[0] = source[0].replace(MARKER, readme_for_docs(readme.read_text(encoding="utf-8")))


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("source-read", include_readme)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
