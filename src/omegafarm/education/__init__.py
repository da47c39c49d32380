"""Education Service: lessons, glossary and tutorials shipped in the package, full-text search,
progress, spaced-repetition reviews and recommendations, for the CLI, the API and Discord.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.education._ids import normalize_user
    from omegafarm.education.config import EducationSettings
    from omegafarm.education.errors import BadQueryError, ContentError, UnknownTopicError
    from omegafarm.education.lint import lint_content
    from omegafarm.education.loader import SHIPPED_CONTENT_DIR, load_content
    from omegafarm.education.models import (
        CATEGORIES,
        DIFFICULTIES,
        CheckResult,
        ComputeCheck,
        ContentLibrary,
        FibonacciCheck,
        GlossaryEntry,
        Lesson,
        PaperOrderCheck,
        ProgressRecord,
        ProgressSummary,
        QuizCheck,
        QuizOutcome,
        QuizQuestion,
        Recommendation,
        SearchHit,
        SearchResult,
        Status,
        Tutorial,
        TutorialStep,
    )
    from omegafarm.education.service import EducationService
    from omegafarm.education.sources import CandleSource, PaperOrderSource
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.education._ids": ("normalize_user",),
            "omegafarm.education.config": ("EducationSettings",),
            "omegafarm.education.errors": (
                "BadQueryError",
                "ContentError",
                "UnknownTopicError",
            ),
            "omegafarm.education.lint": ("lint_content",),
            "omegafarm.education.loader": (
                "SHIPPED_CONTENT_DIR",
                "load_content",
            ),
            "omegafarm.education.models": (
                "CATEGORIES",
                "DIFFICULTIES",
                "CheckResult",
                "ComputeCheck",
                "ContentLibrary",
                "FibonacciCheck",
                "GlossaryEntry",
                "Lesson",
                "PaperOrderCheck",
                "ProgressRecord",
                "ProgressSummary",
                "QuizCheck",
                "QuizOutcome",
                "QuizQuestion",
                "Recommendation",
                "SearchHit",
                "SearchResult",
                "Status",
                "Tutorial",
                "TutorialStep",
            ),
            "omegafarm.education.service": ("EducationService",),
            "omegafarm.education.sources": (
                "CandleSource",
                "PaperOrderSource",
            ),
        },
    )

__all__ = [
    "CATEGORIES",
    "DIFFICULTIES",
    "SHIPPED_CONTENT_DIR",
    "BadQueryError",
    "CandleSource",
    "CheckResult",
    "ComputeCheck",
    "ContentError",
    "ContentLibrary",
    "EducationService",
    "EducationSettings",
    "FibonacciCheck",
    "GlossaryEntry",
    "Lesson",
    "PaperOrderCheck",
    "PaperOrderSource",
    "ProgressRecord",
    "ProgressSummary",
    "QuizCheck",
    "QuizOutcome",
    "QuizQuestion",
    "Recommendation",
    "SearchHit",
    "SearchResult",
    "Status",
    "Tutorial",
    "TutorialStep",
    "UnknownTopicError",
    "lint_content",
    "load_content",
    "normalize_user",
]
