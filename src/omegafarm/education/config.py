"""Settings of the Education Service: where content and user progress live, search limits.

Progress is kept in SQLite, not Redis: it is user data that must survive restarts (and a wiped
Redis), it is queried relationally (per-user summaries, joins with the prerequisite graph), and
it is small and local. Redis holds the running farm's state; this is not that.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class EducationSettings(BaseModel):
    """Configuration section ``education``."""

    model_config = ConfigDict(extra="forbid")

    content_dir: Path | None = Field(
        default=None, description="Content folder; None means the lessons shipped in the package."
    )
    db_path: Path | None = Field(
        default=None,
        description="SQLite file for progress; None means <user data dir>/education.sqlite3.",
    )
    index_dir: Path | None = Field(
        default=None,
        description="Folder of the saved search index (rebuilt when the content changes); "
        "None means the user cache folder.",
    )
    max_query_chars: int = Field(default=200, ge=8, le=2000)
    max_query_terms: int = Field(default=12, ge=1, le=64)
    search_limit_max: int = Field(default=50, ge=1, le=500)
    level_up_after: int = Field(
        default=3, ge=1, description="Completed lessons at a level before the next level opens."
    )
    max_recommendations: int = Field(default=5, ge=1, le=50)
    max_reviews: int = Field(default=10, ge=0, le=200)
    desired_retention: float = Field(default=0.9, gt=0.5, lt=1.0)
    candles_timeframe: str = Field(default="1h", min_length=2, max_length=4)
    candles_limit: int = Field(default=300, ge=20, le=5000)
