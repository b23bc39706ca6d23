"""Sphinx extension: the site's front page is the README, so the two never say different things.

``docs/index.md`` holds the line ``<!-- p11: README -->``; when Sphinx reads it, the line is replaced by README.md
with its links made relative to docs/ (``docs/cli.md`` -> ``cli.md``, ``examples/x.sh`` -> ``../examples/x.sh``).
The line ``<!-- p11: other guides -->`` in its guides toctree becomes every guide of docs/ that the toctree does not
name yet (a new guide is listed, last, without anyone editing the index).
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx

MARKER = "<!-- p11: README -->"
OTHER_GUIDES = "<!-- p11: other guides -->"
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
    text = source[0]
    named = set(re.findall(r"^([\w/-]+)$", text, re.M))
    others = sorted(p.stem for p in Path(app.srcdir).glob("*.md") if p.stem != docname and p.stem not in named)
    text = text.replace(OTHER_GUIDES, "\n".join(others))
    source[0] = text.replace(MARKER, readme_for_docs(readme.read_text(encoding="utf-8")))


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("source-read", include_readme)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
