"""Load a content folder into a :class:`ContentLibrary`, refusing it when the linter objects.

The service loads content once at start; a broken shipped folder must fail loudly at start
(with every problem named by file and key), not later as a missing lesson.
"""

from __future__ import annotations

from pathlib import Path

from omegafarm.education._files import SHIPPED_CONTENT_DIR, read_library
from omegafarm.education.errors import ContentError
from omegafarm.education.lint import lint_library
from omegafarm.education.models import ContentLibrary

__all__ = ["SHIPPED_CONTENT_DIR", "load_content"]


def load_content(root: Path | None = None) -> ContentLibrary:
    """Load and lint a content folder (default: the shipped one); raise ContentError if broken."""
    folder = root if root is not None else SHIPPED_CONTENT_DIR
    library, issues = read_library(folder)
    issues += lint_library(library)
    if issues:
        shown = "; ".join(str(issue) for issue in issues[:10])
        more = f" (and {len(issues) - 10} more)" if len(issues) > 10 else ""
        raise ContentError(f"content in {folder} has {len(issues)} problem(s): {shown}{more}")
    return library
