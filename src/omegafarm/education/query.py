"""Search without the service: the saved FTS5 index, opened directly.

``omega learn search`` is a short-lived process: loading and linting the content and building
the index took most of its second, and it needs none of the service (progress, quizzes,
spaced repetition). The index is built once per content version and saved as a SQLite file
(``education.index_dir``, default the user cache folder); :func:`cached_index` opens it when
its fingerprint (every content file's path, size and modification time, the index format and
the indexing code) still matches, and rebuilds and saves it otherwise. The Education Service
uses the same file at start, so ``omega up`` does not rebuild an index that exists.

Answers are the same either way: :class:`~omegafarm.education.search.SearchIndex` queries only
what is in the database.

The functions here read five fields of the ``education`` settings (:class:`SearchConfig`):
the service passes its ``EducationSettings``; ``omega learn search``, when no config file and no
``OMEGA_*`` variable lies on the defaults, passes :class:`SearchSettings` (the same defaults,
without importing pydantic).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from omegafarm.core.errors import ValidationError
from omegafarm.education._paths import SHIPPED_CONTENT_DIR
from omegafarm.education._results import CATEGORIES, DIFFICULTIES, Kind, SearchResult
from omegafarm.education.search import INDEX_FORMAT, SearchIndex, library_documents

if TYPE_CHECKING:
    from omegafarm.education.models import ContentLibrary

# The modules whose code decides what goes into the index: a change to any rebuilds it.
_INDEXING_CODE = (
    "search.py", "_text.py", "_files.py", "_schema.py", "lint.py", "models.py", "_results.py",
)  # fmt: skip
_HERE = Path(__file__).resolve().parent


class SearchConfig(Protocol):
    """What a search reads of the ``education`` settings (``EducationSettings`` has it all)."""

    @property
    def content_dir(self) -> Path | None: ...
    @property
    def index_dir(self) -> Path | None: ...
    @property
    def max_query_chars(self) -> int: ...
    @property
    def max_query_terms(self) -> int: ...
    @property
    def search_limit_max(self) -> int: ...


@dataclass(frozen=True)
class SearchSettings:
    """:class:`SearchConfig` at ``EducationSettings``' defaults, built without pydantic: what
    ``omega learn search`` reads when nothing is configured (tests/education/test_saved_index.py
    keeps the defaults equal to the settings model's)."""

    content_dir: Path | None = None
    index_dir: Path | None = None
    max_query_chars: int = 200
    max_query_terms: int = 12
    search_limit_max: int = 50


def check_search(
    settings: SearchConfig,
    query: object,
    category: str | None,
    difficulty: str | None,
    limit: int,
    kind: str | None,
) -> None:
    """Refuse arguments a search cannot take (ValidationError naming the argument)."""
    if category is not None and category not in CATEGORIES:
        raise ValidationError(f"unknown category {category!r}; one of: {', '.join(CATEGORIES)}")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ValidationError(
            f"unknown difficulty {difficulty!r}; one of: {', '.join(DIFFICULTIES)}"
        )
    if kind is not None and kind not in ("lesson", "tutorial", "glossary"):
        raise ValidationError(f"unknown kind {kind!r}; one of: lesson, tutorial, glossary")
    if not isinstance(query, str):
        raise ValidationError("the search query must be text")
    if not 1 <= limit <= settings.search_limit_max:
        raise ValidationError(f"limit must be between 1 and {settings.search_limit_max}")


def content_folder(settings: SearchConfig) -> Path:
    """The content folder the settings name (the shipped one by default)."""
    return settings.content_dir if settings.content_dir is not None else SHIPPED_CONTENT_DIR


def index_path(settings: SearchConfig) -> Path:
    """Where the saved index of this content folder lives."""
    folder = settings.index_dir
    if folder is None:
        import platformdirs

        folder = platformdirs.user_cache_path("omegafarm")
    key = hashlib.sha256(str(content_folder(settings).resolve()).encode()).hexdigest()[:16]
    return folder.expanduser() / f"education-index-{key}.sqlite3"


def fingerprint(folder: Path) -> str:
    """What the index depends on: every content file (path, size, mtime) and the indexing code."""
    digest = hashlib.sha256(f"format {INDEX_FORMAT}\n".encode())
    files = [_HERE / name for name in _INDEXING_CODE]
    if folder.is_dir():
        files += sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        try:
            info = path.stat()
        except OSError:
            continue  # a file removed while we walk: the next run sees the change
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached_index(
    settings: SearchConfig,
    library: ContentLibrary | None = None,
    before_build: Callable[[], object] | None = None,
) -> SearchIndex:
    """The saved index when it matches the content, else one built now (and saved for next time).

    ``library``: the content already loaded (the service has it); otherwise it is loaded (and
    linted: a broken folder raises ContentError) only when the index must be built.
    ``before_build``: called first when the index must be built (the CLI configures logging
    there: loading the content may log, opening the saved index does not).
    """
    path = index_path(settings)
    stamp = fingerprint(content_folder(settings))
    chars, terms = settings.max_query_chars, settings.max_query_terms
    try:
        found = SearchIndex.open(path, max_query_chars=chars, max_query_terms=terms)
    except sqlite3.Error:
        pass  # missing, unreadable or of another format: build it
    else:
        if found.meta("fingerprint") == stamp:
            return found
        found.close()
    if before_build is not None:
        before_build()
    if library is None:
        from omegafarm.education.loader import load_content

        library = load_content(settings.content_dir)
    index = SearchIndex(max_query_chars=chars, max_query_terms=terms)
    index.add(library_documents(library))
    try:
        index.save(path, fingerprint=stamp)
    except (sqlite3.Error, OSError) as exc:  # a read-only home: search works, only slower
        import structlog

        structlog.get_logger("omegafarm", service="education").warning(
            "search_index_not_saved", path=str(path), error=str(exc)
        )
    return index


def search(
    settings: SearchConfig,
    query: str,
    category: str | None = None,
    difficulty: str | None = None,
    limit: int = 10,
    kind: Kind | None = None,
    before_build: Callable[[], object] | None = None,
) -> SearchResult:
    """What ``EducationService.search_content`` answers, from the saved index."""
    check_search(settings, query, category, difficulty, limit, kind)
    index = cached_index(settings, before_build=before_build)
    try:
        return index.search(query, category=category, difficulty=difficulty, kind=kind, limit=limit)
    finally:
        index.close()


__all__ = [
    "SearchConfig",
    "SearchSettings",
    "cached_index",
    "check_search",
    "content_folder",
    "fingerprint",
    "index_path",
    "search",
]
