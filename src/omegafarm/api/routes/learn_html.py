"""Lessons and glossary entries rendered to HTML on the server for the dashboard.

The dashboard inserts ``html`` as it is: it comes from :func:`omegafarm.api._markdown.to_html`,
which never passes raw HTML through and rewrites every link (see that module).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from omegafarm.api._markdown import to_html
from omegafarm.api._render import service
from omegafarm.api.auth import VIEWER
from omegafarm.api.routes.education import TopicId
from omegafarm.education import EducationService

router = APIRouter(
    prefix="/api/v1/education/html", tags=["education"], dependencies=[Depends(VIEWER)]
)


def _edu(request: Request) -> EducationService:
    return service(request, "education", EducationService)


@router.get("/lessons/{topic}", summary="One lesson as safe HTML (for the dashboard)")
async def lesson_html(request: Request, topic: TopicId) -> dict[str, Any]:
    lesson = _edu(request).get_content(topic)
    return {
        "kind": "lesson", "id": lesson.id, "title": lesson.title, "category": lesson.category,
        "difficulty": lesson.difficulty, "minutes": lesson.minutes,
        "prerequisites": list(lesson.prerequisites), "html": to_html(lesson.body),
    }  # fmt: skip


@router.get("/glossary/{term}", summary="One glossary term as safe HTML (for the dashboard)")
async def term_html(request: Request, term: TopicId) -> dict[str, Any]:
    entry = _edu(request).get_term(term)
    related = " ".join(f"[{r}](glossary:{r})" for r in entry.related)
    lessons = " ".join(f"[{r}](lesson:{r})" for r in entry.lessons)
    text = entry.definition
    if related:
        text += f"\n\n**Related:** {related}"
    if lessons:
        text += f"\n\n**Lessons:** {lessons}"
    return {"kind": "glossary", "id": entry.id, "title": entry.term, "html": to_html(text)}
