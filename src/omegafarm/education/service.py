"""EducationService: lessons, glossary, tutorials, search, progress and recommendations.

Content is read once at start from Markdown/YAML files shipped in the package and indexed in an
in-memory SQLite FTS5 table; progress and spaced-repetition cards live in a SQLite file (see
``_progress`` for why SQLite). Users are platform user names or ``discord:<id>``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import platformdirs
from fsrs import Scheduler
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import ConfigError, ServiceError, ValidationError
from omegafarm.core.health import Check as HealthCheck
from omegafarm.core.health import Health, HealthState
from omegafarm.core.service import BaseService
from omegafarm.education import _quiz
from omegafarm.education._checks import CheckRunner, parse_choice
from omegafarm.education._ids import (
    lesson_terms,
    normalize_topic,
    normalize_user,
    parse_rating,
    unknown_topic,
)
from omegafarm.education._progress import ProgressStore
from omegafarm.education._recommend import recommend, user_level
from omegafarm.education.config import EducationSettings
from omegafarm.education.errors import UnknownTopicError
from omegafarm.education.loader import load_content
from omegafarm.education.models import (
    CATEGORIES,
    CheckResult,
    ContentLibrary,
    GlossaryEntry,
    Kind,
    Lesson,
    ProgressRecord,
    ProgressSummary,
    QuizOutcome,
    QuizQuestion,
    Recommendation,
    SearchResult,
    Status,
    Tutorial,
)
from omegafarm.education.query import cached_index, check_search
from omegafarm.education.search import SearchIndex
from omegafarm.education.sources import CandleSource, PaperOrderSource

PREPARED_TTL = timedelta(minutes=15)


class EducationService(BaseService[EducationSettings]):
    """The learning product: content, search, progress, recommendations and tutorials."""

    name = "education"

    def __init__(
        self,
        settings: EducationSettings,
        *,
        orders: PaperOrderSource | None = None,
        candles: CandleSource | None = None,
        clock: Callable[[], datetime] | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(settings, metrics_registry=metrics_registry)
        self._orders = orders
        self._candles = candles
        self._clock = clock or (lambda: datetime.now(UTC))
        self._library: ContentLibrary | None = None
        self._index: SearchIndex | None = None
        self._store: ProgressStore | None = None
        # keyed by user too: two users in the same step were shown different markets
        self._prepared: dict[tuple[str, str, int], tuple[datetime, float]] = {}
        self._scheduler = Scheduler(
            desired_retention=settings.desired_retention, enable_fuzzing=False
        )

    # ----------------------------------------------------------------- lifecycle
    async def _on_initialize(self) -> None:
        if not SearchIndex.fts5_available():
            raise ServiceError("this Python's SQLite lacks FTS5; education search cannot run")
        library = await asyncio.to_thread(load_content, self.settings.content_dir)
        # the saved index when the content has not changed (built and saved otherwise)
        index = await asyncio.to_thread(cached_index, self.settings, library)
        path = (
            self.settings.db_path or platformdirs.user_data_path("omegafarm") / "education.sqlite3"
        )
        try:
            self._store = await asyncio.to_thread(ProgressStore, path)
        except (sqlite3.Error, OSError) as exc:
            index.close()
            raise ConfigError(f"cannot open the education progress database {path}: {exc}") from exc
        self._library, self._index = library, index
        self.log_activity(
            "content_loaded",
            lessons=len(library.lessons),
            glossary=len(library.glossary),
            tutorials=len(library.tutorials),
            db_path=str(path),
        )

    async def _on_shutdown(self) -> None:
        if self._index is not None:
            self._index.close()
        if self._store is not None:
            self._store.close()
        self._index = self._store = self._library = None

    async def _check_health(self) -> Health:
        lib = self.library
        checks = (
            HealthCheck("education", "lessons", HealthState.PASS, len(lib.lessons)),
            HealthCheck("education", "glossaryTerms", HealthState.PASS, len(lib.glossary)),
        )
        return Health(self.name, live=True, ready=True, reason="content loaded", checks=checks)

    def _extra_metrics(self) -> dict[str, Any]:
        if self._library is None:
            return {}
        return {
            "lessons": len(self._library.lessons),
            "glossary_terms": len(self._library.glossary),
            "tutorials": len(self._library.tutorials),
        }

    # ----------------------------------------------------------------- content
    @property
    def library(self) -> ContentLibrary:
        """The loaded content; ServiceStateError before ``initialize()``."""
        self._require_running()
        assert self._library is not None  # set whenever the state is running
        return self._library

    @property
    def _progress(self) -> ProgressStore:
        self._require_running()
        assert self._store is not None  # set whenever the state is running
        return self._store

    def _unknown(self, topic: str, wanted: str) -> UnknownTopicError:
        try:
            hits = self.search_content(topic.replace("-", " "), limit=3).hits
        except ValidationError:
            hits = ()
        return unknown_topic(self.library, topic, wanted, [h.id for h in hits])

    def get_content(self, topic: str) -> Lesson:
        """One lesson by id (``"order-books"``; ``"Order books"`` works too)."""
        key = normalize_topic(topic)
        lesson = self.library.lessons.get(key)
        if lesson is None:
            raise self._unknown(key, "lesson")
        return lesson

    def get_tutorial(self, topic: str) -> Tutorial:
        """One tutorial by id."""
        key = normalize_topic(topic)
        tutorial = self.library.tutorials.get(key)
        if tutorial is None:
            raise self._unknown(key, "tutorial")
        return tutorial

    def get_glossary(self) -> list[GlossaryEntry]:
        """Every glossary entry, alphabetical by term."""
        return sorted(self.library.glossary.values(), key=lambda g: g.term.casefold())

    def get_term(self, term: str) -> GlossaryEntry:
        """One glossary entry by id or by its term (case-insensitive)."""
        key = normalize_topic(term)
        entry = self.library.glossary.get(key)
        if entry is None:
            folded = term.strip().casefold()
            entry = next(
                (g for g in self.library.glossary.values() if g.term.casefold() == folded), None
            )
        if entry is None:
            raise self._unknown(key, "glossary term")
        return entry

    def search_content(
        self,
        query: str,
        category: str | None = None,
        difficulty: str | None = None,
        limit: int = 10,
        kind: Kind | None = None,
    ) -> SearchResult:
        """Full-text search (BM25, prefix, typo-tolerant) with highlighted snippets."""
        self._require_running()
        check_search(self.settings, query, category, difficulty, limit, kind)
        assert self._index is not None  # set whenever the state is running
        return self._index.search(
            query, category=category, difficulty=difficulty, kind=kind, limit=limit
        )

    # ----------------------------------------------------------------- progress
    def _topic_kind(self, topic: str) -> tuple[str, Kind]:
        key = normalize_topic(topic)
        if key in self.library.lessons:
            return key, "lesson"
        if key in self.library.tutorials:
            return key, "tutorial"
        raise self._unknown(key, "lesson or tutorial")

    def _lesson_terms(self, lesson_id: str) -> list[str]:
        return lesson_terms(self.library, lesson_id)

    async def track_progress(
        self,
        user: str,
        topic: str,
        status: Status | str = Status.STARTED,
        quiz_score: float | None = None,
    ) -> ProgressRecord:
        """Record that ``user`` started or completed a lesson/tutorial, with an optional score.

        ``quiz_score`` is a fraction in [0, 1]; completing a lesson adds its glossary terms to
        the user's spaced-repetition deck.
        """
        who = normalize_user(user)
        key, kind = self._topic_kind(topic)
        try:
            state = Status(status)
        except ValueError:
            raise ValidationError(
                f"status must be 'started' or 'completed', not {status!r}"
            ) from None
        if quiz_score is not None and not 0.0 <= quiz_score <= 1.0:
            raise ValidationError(f"quiz_score is a fraction from 0 to 1, not {quiz_score!r}")
        now = self._clock()
        async with self.track("track_progress"):
            record = await asyncio.to_thread(
                self._progress.record, who, key, kind, state, quiz_score, now
            )
            if record.status is Status.COMPLETED and kind == "lesson":
                terms = self._lesson_terms(key)
                await asyncio.to_thread(self._progress.enroll, who, terms, key, now)
        self.log_activity("progress_tracked", user=who, topic=key, status=str(record.status))
        return record

    async def _completed_started(self, who: str) -> tuple[list[ProgressRecord], set[str], set[str]]:
        records = await asyncio.to_thread(self._progress.records, who)
        done = {r.topic for r in records if r.status is Status.COMPLETED}
        return records, done, {r.topic for r in records if r.status is Status.STARTED}

    async def progress_summary(self, user: str) -> ProgressSummary:
        """Per-user totals: completed/started, level, average score, per-category counts."""
        who = normalize_user(user)
        lib = self.library
        records, done, started = await self._completed_started(who)
        scores = [r.best_score for r in records if r.best_score is not None]
        by_category = {
            c: (
                sum(1 for x in lib.lessons.values() if x.category == c and x.id in done),
                sum(1 for x in lib.lessons.values() if x.category == c),
            )
            for c in CATEGORIES
        }
        due = await asyncio.to_thread(self._progress.count_due, who, self._clock())
        return ProgressSummary(
            user=who,
            level=user_level(lib, done, self.settings.level_up_after),
            lessons_completed=len(done & lib.lessons.keys()),
            lessons_started=len(started & lib.lessons.keys()),
            lessons_total=len(lib.lessons),
            tutorials_completed=len(done & lib.tutorials.keys()),
            tutorials_total=len(lib.tutorials),
            average_score=sum(scores) / len(scores) if scores else None,
            minutes_completed=sum(x.minutes for x in lib.lessons.values() if x.id in done),
            by_category=by_category,
            reviews_due=due,
            records=tuple(records),
        )

    async def recommend_content(self, user: str) -> list[Recommendation]:
        """Next lessons/tutorials whose prerequisites are done, then glossary reviews due."""
        who = normalize_user(user)
        lib = self.library
        _, done, started = await self._completed_started(who)
        level = user_level(lib, done, self.settings.level_up_after)
        recs = recommend(lib, done, started, level, self.settings.max_recommendations)
        due = await asyncio.to_thread(
            self._progress.due, who, self._clock(), self.settings.max_reviews
        )
        for card in due:
            entry = lib.glossary.get(card.term)
            if entry is None:
                continue  # a term removed from the content since it was enrolled
            source = lib.lessons[card.source].title if card.source in lib.lessons else card.source
            if card.card.last_review is None:
                why = f"new term from the lesson {source!r}: first review"
            else:
                days = (self._clock() - card.card.last_review).days
                why = f"due for spaced-repetition review (last reviewed {days} day(s) ago)"
            recs.append(Recommendation("glossary", entry.id, entry.term, why))
        return recs

    async def review_term(self, user: str, term: str, rating: int | str) -> datetime:
        """Grade one glossary review (1-4 or again/hard/good/easy); returns the next due time."""
        who = normalize_user(user)
        entry = self.get_term(term)
        grade = parse_rating(rating)
        now = self._clock()
        card = await asyncio.to_thread(self._progress.card, who, entry.id)
        if card is None:
            await asyncio.to_thread(self._progress.enroll, who, [entry.id], "review", now)
            card = await asyncio.to_thread(self._progress.card, who, entry.id)
        assert card is not None  # enrolled just above
        updated, _ = self._scheduler.review_card(card.card, grade, now)
        await asyncio.to_thread(self._progress.save_review, who, entry.id, updated, int(grade), now)
        return updated.due

    # ----------------------------------------------------------------- quizzes
    async def next_quiz(self, user: str, topic: str | None = None) -> QuizQuestion:
        """A question: a due glossary term, or one from ``topic`` (term, lesson or tutorial)."""
        who = normalize_user(user)
        lib = self.library
        if topic is None:
            due = await asyncio.to_thread(self._progress.due, who, self._clock(), 1)
            term = due[0].term if due and due[0].term in lib.glossary else None
            if term is None:
                pool = sorted(lib.glossary)
                if not pool:
                    raise UnknownTopicError("the glossary is empty; there is nothing to quiz")
                term = pool[_quiz._rng(who, self._clock().date().isoformat()).randrange(len(pool))]
            question = _quiz.glossary_question(lib, term, who)[0]
        else:
            question = self._topic_question(normalize_topic(topic), who)
        await asyncio.to_thread(
            self._progress.set_pending_quiz, who, question.quiz_id, self._clock()
        )
        return question

    def _topic_question(self, key: str, who: str) -> QuizQuestion:
        lib = self.library
        if key in lib.tutorials:
            step = _quiz.first_quiz_step(lib, key)
            if step is None:
                raise ValidationError(f"the tutorial {key!r} has no quiz steps")
            return _quiz.tutorial_question(lib, key, step)[0]
        if key in lib.lessons:
            terms = self._lesson_terms(key)
            if not terms:
                raise ValidationError(f"the lesson {key!r} links no glossary terms to quiz on")
            pick = _quiz._rng(who, key, self._clock().isoformat()).choice(terms)
            return _quiz.glossary_question(lib, pick, who)[0]
        return _quiz.glossary_question(lib, self.get_term(key).id, who)[0]

    async def answer_quiz(self, user: str, answer: str | int) -> QuizOutcome:
        """Judge the answer (a 1-based choice number) to the user's pending question."""
        who = normalize_user(user)
        quiz_id = await asyncio.to_thread(self._progress.take_pending_quiz, who)
        if quiz_id is None:
            raise ValidationError(
                "no question is waiting for an answer; ask for one with quiz first"
            )
        question, right, why = _quiz.rebuild(self.library, quiz_id, who)
        try:
            chosen = parse_choice(answer, len(question.choices))
        except ValidationError:
            await asyncio.to_thread(self._progress.set_pending_quiz, who, quiz_id, self._clock())
            raise
        correct = chosen == right
        if quiz_id.startswith("glossary:"):
            await self.review_term(
                who, quiz_id.removeprefix("glossary:"), "good" if correct else "again"
            )
        return QuizOutcome(quiz_id, correct, question.choices[right], why)

    # ----------------------------------------------------------------- tutorials
    def _checks(self) -> CheckRunner:
        return CheckRunner(
            self._orders,
            self._candles,
            timeframe=self.settings.candles_timeframe,
            limit=self.settings.candles_limit,
        )

    def _step(self, tutorial_id: str, step: int) -> Tutorial:
        tutorial = self.get_tutorial(tutorial_id)
        if not 0 <= step < len(tutorial.steps):
            raise ValidationError(
                f"tutorial {tutorial.id!r} has steps 0-{len(tutorial.steps) - 1}, not {step}"
            )
        return tutorial

    async def prepare_step(self, user: str, tutorial_id: str, step: int) -> str:
        """Live context a step needs (e.g. the current swing's prices); may be empty.

        The number that context implies is remembered for ``user`` for ``PREPARED_TTL`` so
        their answer is judged against what they saw, even if a new candle arrives meanwhile
        (and never against what another user was shown at another moment).
        """
        who = normalize_user(user)
        tutorial = self._step(tutorial_id, step)
        context, expected = await self._checks().prepare(tutorial.steps[step].check)
        if expected is not None:
            now = self._clock()
            self._prepared = {  # forget what expired, so the table stays small
                key: seen for key, seen in self._prepared.items() if now - seen[0] <= PREPARED_TTL
            }
            self._prepared[(who, tutorial.id, step)] = (now, expected)
        return context

    async def check_step(
        self, user: str, tutorial_id: str, step: int, answer: str | float | None
    ) -> CheckResult:
        """Verify one step of a tutorial for ``user`` and mark the tutorial started."""
        who = normalize_user(user)
        tutorial = self._step(tutorial_id, step)
        prepared = self._prepared.get((who, tutorial.id, step))
        shown = prepared[1] if prepared and self._clock() - prepared[0] <= PREPARED_TTL else None
        async with self.track("check_step"):
            result = await self._checks().verify(tutorial.steps[step].check, answer, shown)
        await self.track_progress(who, tutorial.id, Status.STARTED)
        return result
