"""What a search answers with (hits and the result) and the names it filters by.

Part of :mod:`omegafarm.education.models` (which re-exports every name here), in a module of
its own so that ``omega learn search`` builds these two classes only, not the twenty other
value objects of the service (their dataclass set-up was a twentieth of the command).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Category = Literal[
    "market-basics",
    "order-types",
    "risk-management",
    "technical-analysis",
    "exchange-safety",
    "bot-operation",
]
CATEGORIES: tuple[str, ...] = get_args(Category)  # in this order in listings and progress
DIFFICULTIES: tuple[str, ...] = ("beginner", "intermediate", "advanced")

Kind = Literal["lesson", "tutorial", "glossary"]


@dataclass(frozen=True)
class SearchHit:
    """One search result; ``snippet`` marks matched words with ``**``."""

    kind: Kind
    id: str
    title: str
    snippet: str
    score: float
    category: str | None
    difficulty: str | None


@dataclass(frozen=True)
class SearchResult:
    """Hits plus what the engine did to the query (corrections, fallback to any-word)."""

    query: str
    hits: tuple[SearchHit, ...]
    corrections: tuple[tuple[str, str], ...] = ()
    matched_any: bool = False


__all__ = ["CATEGORIES", "DIFFICULTIES", "Category", "Kind", "SearchHit", "SearchResult"]
