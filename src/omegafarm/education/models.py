"""Value objects of the Education Service: lessons, glossary terms, tutorials and their checks,
search hits (defined in ``_results``), progress and recommendations.

They are frozen dataclasses so a loaded library can be shared by every caller; pydantic only
validates the files at the boundary (see ``_schema``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

# The search's own value objects and names live in _results (``omega learn search`` imports
# only that module); they are part of this one.
from omegafarm.education._results import CATEGORIES as CATEGORIES
from omegafarm.education._results import DIFFICULTIES as DIFFICULTIES
from omegafarm.education._results import Category as Category
from omegafarm.education._results import Kind as Kind
from omegafarm.education._results import SearchHit as SearchHit
from omegafarm.education._results import SearchResult as SearchResult


class Status(StrEnum):
    """Where a user stands on one lesson or tutorial."""

    STARTED = "started"
    COMPLETED = "completed"


@dataclass(frozen=True)
class Lesson:
    """One Markdown lesson with its front matter."""

    id: str
    title: str
    category: str
    difficulty: str
    prerequisites: tuple[str, ...]
    tags: tuple[str, ...]
    minutes: int
    body: str


@dataclass(frozen=True)
class GlossaryEntry:
    """One glossary term: definition, related terms and the lessons that teach it."""

    id: str
    term: str
    definition: str
    related: tuple[str, ...] = ()
    lessons: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuizCheck:
    """A multiple-choice question; ``answer`` is the index of the right choice."""

    question: str
    choices: tuple[str, ...]
    answer: int
    why: str
    type: Literal["quiz"] = "quiz"


@dataclass(frozen=True)
class PaperOrderCheck:
    """The user places an order on the paper exchange; the service verifies it."""

    instruction: str
    symbol: str
    side: Literal["buy", "sell"]
    order_type: Literal["limit", "market"]
    max_distance_pct: float | None = None
    type: Literal["paper_order"] = "paper_order"


@dataclass(frozen=True)
class FibonacciCheck:
    """The user reads a retracement level of the current swing; checked within tolerance."""

    instruction: str
    symbol: str
    ratio: float
    tolerance_pct: float
    type: Literal["fibonacci_level"] = "fibonacci_level"


@dataclass(frozen=True)
class ComputeCheck:
    """The user computes a number (SMA, ATR, position size); checked within tolerance."""

    instruction: str
    question: str
    answer_from: Literal["sma", "atr", "position_size"]
    params: tuple[tuple[str, float | str], ...]
    tolerance_pct: float
    type: Literal["compute_answer"] = "compute_answer"

    def param(self, key: str, default: float | str | None = None) -> float | str | None:
        """One parameter by name."""
        return dict(self.params).get(key, default)


Check = QuizCheck | PaperOrderCheck | FibonacciCheck | ComputeCheck


@dataclass(frozen=True)
class TutorialStep:
    """One step: an explanation and the check that ends it."""

    title: str
    explanation: str
    check: Check


@dataclass(frozen=True)
class Tutorial:
    """An ordered, interactive walk-through."""

    id: str
    title: str
    category: str
    difficulty: str
    prerequisites: tuple[str, ...]
    minutes: int
    steps: tuple[TutorialStep, ...]


@dataclass(frozen=True)
class ContentLibrary:
    """Everything loaded from one content folder, indexed by id."""

    lessons: dict[str, Lesson]
    glossary: dict[str, GlossaryEntry]
    tutorials: dict[str, Tutorial]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one tutorial check, with an explanation the user can read."""

    passed: bool
    message: str
    expected: float | None = None


@dataclass(frozen=True)
class ProgressRecord:
    """A user's state on one lesson or tutorial."""

    topic: str
    kind: Kind
    status: Status
    quiz_score: float | None
    best_score: float | None
    attempts: int
    updated_at: datetime


@dataclass(frozen=True)
class ProgressSummary:
    """Per-user totals: what is done, the level reached, average quiz score."""

    user: str
    level: str
    lessons_completed: int
    lessons_started: int
    lessons_total: int
    tutorials_completed: int
    tutorials_total: int
    average_score: float | None
    minutes_completed: int
    by_category: dict[str, tuple[int, int]]
    reviews_due: int
    records: tuple[ProgressRecord, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Recommendation:
    """Something to do next and why."""

    kind: Kind
    id: str
    title: str
    reason: str


@dataclass(frozen=True)
class QuizQuestion:
    """A question handed to a user; ``quiz_id`` is what the answer refers to."""

    quiz_id: str
    question: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class QuizOutcome:
    """Whether an answer was right, the right answer and the explanation."""

    quiz_id: str
    correct: bool
    right_choice: str
    why: str
