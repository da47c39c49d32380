"""Full-text search over lessons, tutorials and glossary: SQLite FTS5 with BM25 ranking.

Why FTS5: it ships with the standard library's sqlite3, ranks with BM25 (column weights make a
title match outrank a body match), does prefix queries from a prefix index and writes
highlighted snippets, all in well under a millisecond for our content size.

User input never reaches FTS5 syntax: the query is split into words by the same rules as the
index tokenizer, and each word is emitted as a double-quoted string (words contain only letters
and digits, so no quote can escape). ``OR``, ``NEAR(``, ``*`` and ``"`` typed by a user are
therefore plain words or nothing. Typos are fixed from a vocabulary table: a word that no
indexed word starts with is replaced by the nearest vocabulary word (trigram candidates, then
edit distance), and the correction is reported with the results.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from omegafarm.education._text import (
    STOPWORDS,
    edit_distance,
    light_stem,
    plain_text,
    trigrams,
    words,
)
from omegafarm.education.errors import BadQueryError
from omegafarm.education.models import (
    ContentLibrary,
    Kind,
    QuizCheck,
    SearchHit,
    SearchResult,
)

_SCHEMA = """
CREATE VIRTUAL TABLE docs USING fts5(
    title, tags, body, kind UNINDEXED, doc_id UNINDEXED, category UNINDEXED,
    difficulty UNINDEXED, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'
);
CREATE VIRTUAL TABLE docs_terms USING fts5vocab(docs, 'row');
CREATE TABLE vocab (word TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE vocab_gram (gram TEXT NOT NULL, word TEXT NOT NULL);
"""

# BM25 column weights: title 10, tags 4, body 1 (the UNINDEXED columns weigh nothing).
_SEARCH_SQL = """
SELECT kind, doc_id, title, snippet(docs, -1, '**', '**', '…', 16),
       bm25(docs, 10.0, 4.0, 1.0, 0, 0, 0, 0) AS rank,
       category, difficulty
FROM docs
WHERE docs MATCH ?1
  AND (?2 IS NULL OR category = ?2)
  AND (?3 IS NULL OR difficulty = ?3)
  AND (?4 IS NULL OR kind = ?4)
ORDER BY rank
LIMIT ?5
"""


@dataclass(frozen=True)
class IndexDoc:
    """One searchable document."""

    kind: Kind
    id: str
    title: str
    tags: str
    body: str
    category: str | None = None
    difficulty: str | None = None


def library_documents(library: ContentLibrary) -> list[IndexDoc]:
    """Turn lessons, glossary entries and tutorials into index documents."""
    docs = [
        IndexDoc(
            "lesson", x.id, x.title, " ".join(x.tags), plain_text(x.body), x.category, x.difficulty
        )
        for x in library.lessons.values()
    ]
    docs += [
        IndexDoc("glossary", g.id, g.term, "glossary", plain_text(g.definition))
        for g in library.glossary.values()
    ]
    for t in library.tutorials.values():
        parts: list[str] = []
        for step in t.steps:
            check = step.check
            extra = check.question if isinstance(check, QuizCheck) else check.instruction
            parts += [step.title, step.explanation, extra]
        body = plain_text("\n".join(parts))
        docs.append(IndexDoc("tutorial", t.id, t.title, "tutorial", body, t.category, t.difficulty))
    return docs


class SearchIndex:
    """An in-memory FTS5 index; build once, query many times (thread-safe)."""

    def __init__(self, *, max_query_chars: int = 200, max_query_terms: int = 12) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._max_chars = max_query_chars
        self._max_terms = max_query_terms
        self.size = 0

    @staticmethod
    def fts5_available() -> bool:
        """Whether this Python's SQLite was built with FTS5."""
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute("CREATE VIRTUAL TABLE probe USING fts5(x)")
        except sqlite3.OperationalError:
            return False
        finally:
            probe.close()
        return True

    def add(self, docs: Iterable[IndexDoc]) -> None:
        """Index documents and rebuild the vocabulary used for typo correction."""
        rows = [(d.title, d.tags, d.body, d.kind, d.id, d.category, d.difficulty) for d in docs]
        with self._lock, self._db:
            self._db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.execute("DELETE FROM vocab")
            self._db.execute("DELETE FROM vocab_gram")
            self._db.execute("INSERT INTO vocab SELECT term, doc FROM docs_terms")
            vocab = [row[0] for row in self._db.execute("SELECT word FROM vocab")]
            self._db.executemany(
                "INSERT INTO vocab_gram VALUES (?, ?)",
                ((gram, word) for word in vocab if len(word) > 2 for gram in trigrams(word)),
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS vocab_gram_idx ON vocab_gram (gram)")
        self.size += len(rows)

    def close(self) -> None:
        """Release the in-memory database."""
        self._db.close()

    # ------------------------------------------------------------------ query side
    def _terms(self, query: str) -> list[str]:
        if not query.strip():
            raise BadQueryError("the search query is empty")
        if len(query) > self._max_chars:
            raise BadQueryError(
                f"the search query is {len(query)} characters long; the limit is {self._max_chars}"
            )
        tokens = list(dict.fromkeys(words(query)))
        if not tokens:
            raise BadQueryError(
                f"the search query {query!r} has no letters or digits to search for"
            )
        content = [t for t in tokens if t not in STOPWORDS]
        return (content or tokens)[: self._max_terms]

    def _known_prefix(self, term: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM vocab WHERE word >= ?1 AND word < ?1 || char(1114111) LIMIT 1", (term,)
        ).fetchone()
        return row is not None

    def _correct(self, term: str) -> str | None:
        grams = sorted(trigrams(term))
        marks = ",".join("?" * len(grams))
        rows = self._db.execute(
            f"SELECT g.word, v.df, COUNT(*) AS shared FROM vocab_gram g JOIN vocab v USING (word)"  # noqa: S608  # only '?' marks are interpolated
            f" WHERE g.gram IN ({marks}) GROUP BY g.word ORDER BY shared DESC, v.df DESC LIMIT 40",
            grams,
        ).fetchall()
        limit = 1 if len(term) <= 5 else 2
        best: tuple[int, int, str] | None = None
        for word, df, _shared in rows:
            distance = edit_distance(term, word, limit)
            if distance <= limit and (best is None or (distance, -df) < best[:2]):
                best = (distance, -df, word)
        return best[2] if best else None

    @staticmethod
    def _expression(terms: list[str], joiner: str) -> str:
        parts = []
        for term in terms:
            if len(term) == 1:
                parts.append(f'"{term}"')
                continue
            stem = light_stem(term)
            parts.append(f'"{term}"*' if stem == term else f'("{term}"* OR "{stem}"*)')
        return f" {joiner} ".join(parts)

    def search(
        self,
        query: str,
        *,
        category: str | None = None,
        difficulty: str | None = None,
        kind: Kind | None = None,
        limit: int = 10,
    ) -> SearchResult:
        """Ranked hits for ``query``; every word must match, else any word may (reported)."""
        terms = self._terms(query)
        with self._lock:
            corrections: list[tuple[str, str]] = []
            fixed: list[str] = []
            for term in terms:
                if len(term) > 2 and not self._known_prefix(term):
                    better = self._correct(term)
                    if better is not None:
                        corrections.append((term, better))
                        term = better
                fixed.append(term)
            args = (category, difficulty, kind, limit)
            rows = self._db.execute(_SEARCH_SQL, (self._expression(fixed, "AND"), *args)).fetchall()
            matched_any = False
            if not rows and len(fixed) > 1:
                matched_any = True
                rows = self._db.execute(
                    _SEARCH_SQL, (self._expression(fixed, "OR"), *args)
                ).fetchall()
        hits = tuple(
            SearchHit(kind=k, id=i, title=t, snippet=s, score=-r, category=c, difficulty=d)
            for k, i, t, s, r, c, d in rows
        )
        return SearchResult(query, hits, tuple(corrections), matched_any and bool(hits))
