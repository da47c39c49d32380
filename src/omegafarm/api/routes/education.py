"""Education routes: search, lessons, tutorials, glossary, the caller's progress, advice.

Progress is always the caller's own (the principal's user name), so a viewer may record it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from omegafarm.api._render import jsonable, service
from omegafarm.api.auth import VIEWER
from omegafarm.education import EducationService
from omegafarm.security import Principal

router = APIRouter(prefix="/api/v1/education", tags=["education"])
TopicId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,80}$")]
Caller = Annotated[Principal | None, Depends(VIEWER)]


class ProgressUpdate(BaseModel):
    """The caller started or completed a lesson or tutorial (score: fraction 0..1)."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,80}$")
    status: Literal["started", "completed"] = "started"
    quiz_score: float | None = Field(default=None, ge=0.0, le=1.0)


def _edu(request: Request) -> EducationService:
    return service(request, "education", EducationService)


def _user(who: Principal | None) -> str:
    return who.user if who else "anonymous"


@router.get("/search", dependencies=[Depends(VIEWER)], summary="Full-text search")
async def search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    category: Annotated[str | None, Query(max_length=40)] = None,
    difficulty: Annotated[str | None, Query(max_length=40)] = None,
    kind: Literal["lesson", "tutorial", "glossary"] | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict[str, Any]:
    found = _edu(request).search_content(q, category, difficulty, limit, kind)
    data: dict[str, Any] = jsonable(found)
    return data


@router.get("/lessons", dependencies=[Depends(VIEWER)], summary="Every lesson (no bodies)")
async def lessons(request: Request) -> list[dict[str, Any]]:
    library = _edu(request).library
    return [jsonable(lesson, drop=frozenset({"body"})) for lesson in library.lessons.values()]


@router.get("/lessons/{topic}", dependencies=[Depends(VIEWER)], summary="One lesson")
async def lesson(request: Request, topic: TopicId) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(_edu(request).get_content(topic))
    return data


@router.get("/tutorials", dependencies=[Depends(VIEWER)], summary="Every tutorial")
async def tutorials(request: Request) -> list[dict[str, Any]]:
    library = _edu(request).library
    return [jsonable(t, drop=frozenset({"steps", "body"})) for t in library.tutorials.values()]


@router.get("/tutorials/{topic}", dependencies=[Depends(VIEWER)], summary="One tutorial")
async def tutorial(request: Request, topic: TopicId) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(_edu(request).get_tutorial(topic))
    return data


@router.get("/glossary", dependencies=[Depends(VIEWER)], summary="Every glossary term")
async def glossary(request: Request) -> list[Any]:
    return [jsonable(g) for g in _edu(request).get_glossary()]


@router.get("/glossary/{term}", dependencies=[Depends(VIEWER)], summary="One glossary term")
async def term(request: Request, term: TopicId) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(_edu(request).get_term(term))
    return data


@router.get("/progress", summary="The caller's progress")
async def progress(request: Request, who: Caller) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(await _edu(request).progress_summary(_user(who)))
    return data


@router.post("/progress", summary="Record the caller's progress")
async def record_progress(request: Request, body: ProgressUpdate, who: Caller) -> dict[str, Any]:
    record = await _edu(request).track_progress(
        _user(who), body.topic, body.status, body.quiz_score
    )
    data: dict[str, Any] = jsonable(record)
    return data


@router.get("/recommendations", summary="What the caller should learn next")
async def recommendations(request: Request, who: Caller) -> list[Any]:
    return [jsonable(r) for r in await _edu(request).recommend_content(_user(who))]
