"""The progress store: one SQLite file with each user's lessons, tutorials, review cards and
pending quiz.

SQLite, not Redis: progress is user data that must outlive restarts and a wiped Redis, it is
queried relationally (a user's records joined with the prerequisite graph) and it is small and
local. Calls are synchronous and serialized by a lock; the service runs them in a thread.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fsrs import Card

from omegafarm.education.models import Kind, ProgressRecord, Status

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS progress (
    user TEXT NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('lesson', 'tutorial', 'glossary')),
    status TEXT NOT NULL CHECK (status IN ('started', 'completed')),
    quiz_score REAL CHECK (quiz_score BETWEEN 0 AND 1),
    best_score REAL CHECK (best_score BETWEEN 0 AND 1),
    attempts INTEGER NOT NULL DEFAULT 0,
    started_ts REAL NOT NULL,
    updated_ts REAL NOT NULL,
    completed_ts REAL,
    PRIMARY KEY (user, topic)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS review_cards (
    user TEXT NOT NULL,
    term TEXT NOT NULL,
    card_json TEXT NOT NULL,
    due_ts REAL NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (user, term)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS review_cards_due ON review_cards (user, due_ts);
CREATE TABLE IF NOT EXISTS review_log (
    user TEXT NOT NULL, term TEXT NOT NULL, rating INTEGER NOT NULL, reviewed_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_quiz (
    user TEXT PRIMARY KEY, quiz_id TEXT NOT NULL, asked_ts REAL NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class DueCard:
    """A glossary term's review card and why it entered the deck."""

    term: str
    card: Card
    source: str


def _ts(moment: datetime) -> float:
    return moment.timestamp()


class ProgressStore:
    """Thread-safe access to the progress database at ``path``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

    def record(
        self,
        user: str,
        topic: str,
        kind: Kind,
        status: Status,
        quiz_score: float | None,
        now: datetime,
    ) -> ProgressRecord:
        """Upsert one topic's progress; ``completed`` is sticky, the best score is kept."""
        ts = _ts(now)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT status, best_score, attempts FROM progress WHERE user=? AND topic=?",
                    (user, topic),
                ).fetchone()
                old_status, best, attempts = row if row else (None, None, 0)
                new_status = (
                    Status.COMPLETED if Status.COMPLETED in (old_status, status) else status
                )
                if quiz_score is not None:
                    attempts += 1
                    best = quiz_score if best is None else max(best, quiz_score)
                self._db.execute(
                    "INSERT INTO progress VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)"
                    " ON CONFLICT (user, topic) DO UPDATE SET status=?4,"
                    " quiz_score=COALESCE(?5, quiz_score), best_score=?6, attempts=?7,"
                    " updated_ts=?8, completed_ts=COALESCE(completed_ts, ?9)",
                    (
                        user,
                        topic,
                        kind,
                        str(new_status),
                        quiz_score,
                        best,
                        attempts,
                        ts,
                        ts if new_status is Status.COMPLETED else None,
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self._records(user, topic)[0]

    def _records(self, user: str, topic: str | None = None) -> list[ProgressRecord]:
        sql = (
            "SELECT topic, kind, status, quiz_score, best_score, attempts, updated_ts"
            " FROM progress WHERE user=?1 AND (?2 IS NULL OR topic=?2) ORDER BY updated_ts, topic"
        )
        with self._lock:
            rows = self._db.execute(sql, (user, topic)).fetchall()
        return [
            ProgressRecord(t, k, Status(s), q, b, a, datetime.fromtimestamp(u, UTC))
            for t, k, s, q, b, a, u in rows
        ]

    def records(self, user: str) -> list[ProgressRecord]:
        """Every record of ``user``, oldest update first."""
        return self._records(user)

    def users(self) -> list[str]:
        """Every user with any progress."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT user FROM progress ORDER BY 1")]

    # ------------------------------------------------------------------ review cards
    def enroll(self, user: str, terms: list[str], source: str, now: datetime) -> int:
        """Add new cards (due now) for terms the user has no card for; returns how many."""
        added = 0
        base_id = int(_ts(now) * 1000)
        with self._lock:
            for offset, term in enumerate(terms):
                card = Card(card_id=base_id + offset, due=now)
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO review_cards VALUES (?, ?, ?, ?, ?)",
                    (user, term, card.to_json(), _ts(card.due), source),
                )
                added += cursor.rowcount
        return added

    def card(self, user: str, term: str) -> DueCard | None:
        """The user's card for ``term``, if the term is in their deck."""
        with self._lock:
            row = self._db.execute(
                "SELECT card_json, source FROM review_cards WHERE user=? AND term=?", (user, term)
            ).fetchone()
        return DueCard(term, Card.from_json(row[0]), row[1]) if row else None

    def save_review(self, user: str, term: str, card: Card, rating: int, now: datetime) -> None:
        """Store a reviewed card and log the review."""
        with self._lock:
            self._db.execute(
                "UPDATE review_cards SET card_json=?, due_ts=? WHERE user=? AND term=?",
                (card.to_json(), _ts(card.due), user, term),
            )
            self._db.execute(
                "INSERT INTO review_log VALUES (?, ?, ?, ?)", (user, term, rating, _ts(now))
            )

    def due(self, user: str, now: datetime, limit: int) -> list[DueCard]:
        """Cards due at ``now``, most overdue first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT term, card_json, source FROM review_cards WHERE user=? AND due_ts<=?"
                " ORDER BY due_ts, term LIMIT ?",
                (user, _ts(now), limit),
            ).fetchall()
        return [DueCard(t, Card.from_json(c), s) for t, c, s in rows]

    def count_due(self, user: str, now: datetime) -> int:
        """How many cards are due at ``now``."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM review_cards WHERE user=? AND due_ts<=?", (user, _ts(now))
            ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ pending quiz
    def set_pending_quiz(self, user: str, quiz_id: str, now: datetime) -> None:
        """Remember the question a user was asked last (answers refer to it)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO pending_quiz VALUES (?, ?, ?)", (user, quiz_id, _ts(now))
            )

    def take_pending_quiz(self, user: str) -> str | None:
        """The question awaiting an answer from ``user`` (removed once taken)."""
        with self._lock:
            row = self._db.execute(
                "DELETE FROM pending_quiz WHERE user=? RETURNING quiz_id", (user,)
            ).fetchone()
        return str(row[0]) if row else None
