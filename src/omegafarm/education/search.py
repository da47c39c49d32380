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

import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omegafarm.education._results import Kind, SearchHit, SearchResult
from omegafarm.education._text import (
    STOPWORDS,
    edit_distance,
    plain_text,
    trigrams,
    words,
)
from omegafarm.education.errors import BadQueryError

if TYPE_CHECKING:  # building an index needs the content models; querying a saved one does not
    from omegafarm.education.models import ContentLibrary

_SCHEMA = """
CREATE VIRTUAL TABLE docs USING fts5(
    title, tags, body, kind UNINDEXED, doc_id UNINDEXED, category UNINDEXED,
    difficulty UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3 4'
);
CREATE VIRTUAL TABLE docs_terms USING fts5vocab(docs, 'row');
CREATE TABLE stems (stem TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE vocab (word TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE vocab_gram (gram TEXT NOT NULL, word TEXT NOT NULL);
CREATE TABLE vocab_del (key TEXT NOT NULL, word TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
# Bump when the schema or the indexing rules change: a saved index of another format is rebuilt.
INDEX_FORMAT = "1"

# BM25 column weights: title 10, tags 4, body 1 (the UNINDEXED columns weigh nothing).
_RANK_SQL = (
    "SELECT rowid, bm25(docs, 10.0, 4.0, 1.0, 0, 0, 0, 0) AS score FROM docs"
    " WHERE docs MATCH ?1 {filters} ORDER BY score LIMIT ?2"
)
# Snippets (from the body: a title is shown anyway) are costly, so they are made in a second
# pass for the ranked top rows only.
_SNIPPET_SQL = (
    "SELECT rowid, kind, doc_id, title, snippet(docs, 2, '**', '**', '…', 16), category,"
    " difficulty FROM docs WHERE docs MATCH ?1 AND rowid IN ({marks})"
)
_FILTERS = (("category", "category = ?"), ("difficulty", "difficulty = ?"), ("kind", "kind = ?"))
# A query whose rarest word is in more documents than this is "broad": it is ranked over
# title/tag matches first (a champion tier) and over every match only if that tier is short.
BROAD_QUERY_DOCS = 1000
MAX_PREFIX_EXPANSIONS = 12
# Lessons and tutorials teach; a glossary entry only defines. At equal relevance the lesson
# comes first, so glossary BM25 scores are scaled down by this factor.
GLOSSARY_WEIGHT = 0.75


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
    from omegafarm.education.models import QuizCheck

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


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _deletion_rows(words: Iterable[str]) -> Iterable[tuple[str, str]]:
    """Each word and each one-letter deletion of it → the word: one-edit lookups by key."""
    for word in words:
        for key in {word, *_deletions(word)}:
            yield key, word


class SearchIndex:
    """An FTS5 index; build once (in memory), query many times (thread-safe).

    :meth:`save` writes it to a file and :meth:`open` queries that file read-only, with the
    same answers: everything a query reads (vocabulary, one-edit deletion keys, which rows are
    glossary entries) is in the database, so a short-lived process (``omega learn search``)
    skips loading the content and building the index.
    """

    def __init__(
        self,
        *,
        max_query_chars: int = 200,
        max_query_terms: int = 12,
        _db: sqlite3.Connection | None = None,
    ) -> None:
        self._db = _db or sqlite3.connect(":memory:", check_same_thread=False)
        if _db is None:
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT INTO meta VALUES ('format', ?)", (INDEX_FORMAT,))
        self._lock = threading.Lock()
        self._max_chars = max_query_chars
        self._max_terms = max_query_terms
        self._df: dict[str, int] = {}  # built here; a saved index asks its vocab table instead
        self._saved = _db is not None
        self._glossary_rows: set[int] = set()
        self.size = 0

    @classmethod
    def open(
        cls, path: Path, *, max_query_chars: int = 200, max_query_terms: int = 12
    ) -> SearchIndex:
        """A saved index, read-only; sqlite3.Error when the file is missing or not one."""
        uri = f"{path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None or row[0] != INDEX_FORMAT:
                raise sqlite3.DatabaseError(f"search index {path} has another format")
            index = cls(max_query_chars=max_query_chars, max_query_terms=max_query_terms, _db=db)
            index._glossary_rows = {
                rowid for (rowid,) in db.execute("SELECT rowid FROM docs WHERE kind = 'glossary'")
            }
            index.size = db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
        except BaseException:
            db.close()
            raise
        return index

    def meta(self, key: str) -> str | None:
        """A value stored with :meth:`save` (``None`` when absent)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def save(self, path: Path, **meta: str) -> None:
        """Write the index (with ``meta`` key/values) to ``path``, replacing it atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.unlink(missing_ok=True)
        target = sqlite3.connect(temporary)
        try:
            with self._lock:
                self._db.backup(target)
            with target:
                target.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        finally:
            target.close()
        try:
            os.replace(temporary, path)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise

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
        first = self.size + 1
        rows = [
            (first + n, d.title, d.tags, d.body, d.kind, d.id, d.category, d.difficulty)
            for n, d in enumerate(docs)
        ]
        self._glossary_rows.update(r[0] for r in rows if r[4] == "glossary")
        for row in rows:  # surface words (the index holds stems) for typo fixes and completion
            for word in set(words(f"{row[1]} {row[2]} {row[3]}")):
                self._df[word] = self._df.get(word, 0) + 1
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO docs (rowid, title, tags, body, kind, doc_id, category, difficulty)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("DELETE FROM stems")
            self._db.execute("INSERT INTO stems SELECT term, doc FROM docs_terms")
            self._db.execute("DELETE FROM vocab")
            self._db.execute("DELETE FROM vocab_gram")
            self._db.executemany("INSERT INTO vocab VALUES (?, ?)", self._df.items())
            self._db.executemany(
                "INSERT INTO vocab_gram VALUES (?, ?)",
                ((gram, word) for word in self._df if len(word) > 2 for gram in trigrams(word)),
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS vocab_gram_idx ON vocab_gram (gram)")
            self._db.execute("DELETE FROM vocab_del")
            self._db.executemany(
                "INSERT INTO vocab_del VALUES (?, ?)",
                _deletion_rows(w for w in self._df if len(w) > 2),
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS vocab_del_idx ON vocab_del (key)")
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

    def _doc_count(self, word: str) -> int | None:
        """In how many documents ``word`` occurs (None: not in the vocabulary). A saved index
        looks words up in its table: loading all of it cost a short search more than the
        few words a query asks about."""
        if not self._saved:
            return self._df.get(word)
        row = self._db.execute("SELECT df FROM vocab WHERE word = ?", (word,)).fetchone()
        return None if row is None else int(row[0])

    def _known_prefix(self, term: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM vocab WHERE word >= ?1 AND word < ?1 || char(1114111) LIMIT 1", (term,)
        ).fetchone()
        return row is not None

    def _correct(self, term: str) -> str | None:
        """The nearest vocabulary word: one edit via a deletion map, else two via trigrams."""
        keys = sorted({term, *(_deletions(term))})
        near: set[str] = {
            word
            for (word,) in self._db.execute(
                f"SELECT word FROM vocab_del WHERE key IN ({','.join('?' * len(keys))})",  # noqa: S608  # only '?' marks
                keys,
            )
        }
        one = [w for w in near if edit_distance(term, w, 1) <= 1]
        if one:
            return min(one, key=lambda w: (-(self._doc_count(w) or 0), w))
        if len(term) <= 5:
            return None
        grams = sorted(trigrams(term))
        marks = ",".join("?" * len(grams))
        rows = self._db.execute(
            f"SELECT g.word, v.df, COUNT(*) AS shared FROM vocab_gram g JOIN vocab v USING (word)"  # noqa: S608  # only '?' marks are interpolated
            f" WHERE g.gram IN ({marks}) GROUP BY g.word ORDER BY shared DESC, v.df DESC LIMIT 40",
            grams,
        ).fetchall()
        best: tuple[int, int, str] | None = None
        for word, df, _shared in rows:
            distance = edit_distance(term, word, 2)
            if distance <= 2 and (best is None or (distance, -df) < best[:2]):
                best = (distance, -df, word)
        return best[2] if best else None

    def _variants(self, term: str) -> tuple[str, int]:
        """The FTS5 phrase for one query word and how many documents it reaches (estimated).

        The index stems words (Porter), so a whole word matches its inflections (orders,
        ordering → order) with one exact phrase, the fast path. A partial word becomes a prefix
        phrase over the stems (``"fibon"*``) when few stems share it; otherwise, or when it runs
        past its stem (``retracem``), it is completed to the most frequent word it starts.
        """
        df = self._doc_count(term)
        if df is not None or len(term) <= 2:
            return f'"{term}"', df or 0
        count, reach = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(df), 0) FROM stems"
            " WHERE stem >= ?1 AND stem < ?1 || char(1114111)",
            (term,),
        ).fetchone()
        if 0 < count <= MAX_PREFIX_EXPANSIONS:
            return f'"{term}"*', int(reach)
        row = self._db.execute(
            "SELECT word, df FROM vocab WHERE word >= ?1 AND word < ?1 || char(1114111)"
            " ORDER BY df DESC, word LIMIT 1",
            (term,),
        ).fetchone()
        return (f'"{row[0]}"', int(row[1])) if row else (f'"{term}"', 0)

    @staticmethod
    def _expression(phrases: list[str], joiner: str) -> str:
        return f" {joiner} ".join(phrases)

    def _ranked(
        self, expression: str, filters: dict[str, str | None], limit: int
    ) -> list[tuple[int, float]]:
        where = "".join(f" AND {sql}" for key, sql in _FILTERS if filters.get(key) is not None)
        values = [filters[key] for key, _ in _FILTERS if filters.get(key) is not None]
        sql = _RANK_SQL.format(filters=where.replace("?", "?{}"))
        sql = sql.format(*range(3, 3 + len(values)))
        rows = self._db.execute(sql, (expression, limit, *values)).fetchall()
        return [(int(rowid), float(score)) for rowid, score in rows]

    def _rank(
        self,
        expression: str,
        broad: bool,
        filters: dict[str, str | None],
        limit: int,
        *,
        champions_only: bool = False,
    ) -> list[tuple[int, float]]:
        """Top rows by BM25 (glossary entries scaled by GLOSSARY_WEIGHT), best first.

        Three times ``limit`` rows are fetched before the glossary scaling, which only moves
        entries down; a lesson deeper than that would need many glossary entries above it.
        """
        fetch = limit * 3
        rows: list[tuple[int, float]] = []
        if broad:
            rows = self._ranked(f"{{title tags}} : ({expression})", filters, fetch)
        if len(rows) < limit and not (broad and champions_only):
            rows = self._ranked(expression, filters, fetch)
        weighted = [
            (rowid, score * GLOSSARY_WEIGHT if rowid in self._glossary_rows else score)
            for rowid, score in rows
        ]
        weighted.sort(key=lambda pair: pair[1])  # SQLite's BM25: more negative is better
        return weighted[:limit]

    def search(
        self,
        query: str,
        *,
        category: str | None = None,
        difficulty: str | None = None,
        kind: Kind | None = None,
        limit: int = 10,
    ) -> SearchResult:
        """Ranked hits: documents with every word first, then (flagged) ones with some words."""
        terms = self._terms(query)
        filters = {"category": category, "difficulty": difficulty, "kind": kind}
        with self._lock:
            corrections, phrases, reach = self._phrases(terms)
            ranked = self._rank(
                self._expression(phrases, "AND"), min(reach) > BROAD_QUERY_DOCS, filters, limit
            )
            matched_any = False
            if len(ranked) < limit and len(phrases) > 1:
                seen = {rowid for rowid, _ in ranked}
                broad = sum(reach) > BROAD_QUERY_DOCS
                # any-word hits are a best effort: for a broad query, title/tag matches only
                extra = self._rank(
                    self._expression(phrases, "OR"), broad, filters, limit, champions_only=True
                )
                extra = [pair for pair in extra if pair[0] not in seen][: limit - len(ranked)]
                matched_any = bool(extra)
                ranked += extra
            hits = self._hits(self._expression(phrases, "OR"), ranked)
        return SearchResult(query, hits, tuple(corrections), matched_any)

    def _phrases(self, terms: list[str]) -> tuple[list[tuple[str, str]], list[str], list[int]]:
        corrections: list[tuple[str, str]] = []
        phrases: list[str] = []
        reach: list[int] = []
        for term in terms:
            if len(term) > 2 and not self._known_prefix(term):
                better = self._correct(term)
                if better is not None:
                    corrections.append((term, better))
                    term = better
            phrase, docs = self._variants(term)
            phrases.append(phrase)
            reach.append(docs)
        if len(phrases) > 1 and self.size:
            # a word in over half the documents adds ~nothing to BM25 but costs a full scan
            kept = [
                (p, r)
                for p, r in zip(phrases, reach, strict=True)
                if r * 2 <= self.size or r <= BROAD_QUERY_DOCS
            ]
            if kept:
                phrases, reach = [p for p, _ in kept], [r for _, r in kept]
            else:
                rarest = reach.index(min(reach))
                phrases, reach = [phrases[rarest]], [reach[rarest]]
        return corrections, phrases, reach

    def _hits(self, expression: str, ranked: list[tuple[int, float]]) -> tuple[SearchHit, ...]:
        if not ranked:
            return ()
        marks = ",".join("?" * len(ranked))
        rows = self._db.execute(
            _SNIPPET_SQL.format(marks=marks), (expression, *(rowid for rowid, _ in ranked))
        ).fetchall()
        by_id = {row[0]: row for row in rows}
        hits = []
        for rowid, score in ranked:
            _, kind, doc_id, title, snippet, category, difficulty = by_id[rowid]
            hits.append(SearchHit(kind, doc_id, title, snippet, -score, category, difficulty))
        return tuple(hits)
