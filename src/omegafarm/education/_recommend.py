"""Recommendation rules: which lesson or tutorial next, and why; the user's level.

A lesson is available when all its prerequisites are completed. The user's level rises one step
after ``level_up_after`` completed lessons at the current level. Available items at the user's
level come first, then gaps below it, then one step above; two steps above are withheld. Ties
go to the item that unlocks the most others, so the graph opens up fastest.
"""

from __future__ import annotations

from collections.abc import Iterable

from omegafarm.education.models import (
    CATEGORIES,
    DIFFICULTIES,
    ContentLibrary,
    Lesson,
    Recommendation,
    Tutorial,
)


def user_level(library: ContentLibrary, completed: set[str], level_up_after: int) -> str:
    """The difficulty the user is working at, from their completed lessons."""
    level = 0
    for index in range(len(DIFFICULTIES) - 1):
        done = sum(
            1
            for lesson in library.lessons.values()
            if lesson.id in completed and lesson.difficulty == DIFFICULTIES[index]
        )
        available = sum(1 for x in library.lessons.values() if x.difficulty == DIFFICULTIES[index])
        if done >= min(level_up_after, max(available, 1)):
            level = index + 1
        else:
            break
    return DIFFICULTIES[level]


def _unlocks(library: ContentLibrary) -> dict[str, int]:
    counts = dict.fromkeys(library.lessons, 0)
    for lesson in library.lessons.values():
        for prereq in lesson.prerequisites:
            if prereq in counts:
                counts[prereq] += 1
    return counts


def _reason(item: Lesson | Tutorial, level: str, started: bool, library: ContentLibrary) -> str:
    gap = DIFFICULTIES.index(item.difficulty) - DIFFICULTIES.index(level)
    if item.prerequisites:
        titles = ", ".join(library.lessons[p].title for p in item.prerequisites)
        basis = f"you completed its prerequisites ({titles})"
    else:
        basis = "no prerequisites"
    if started:
        fit = "you started it and have not finished"
    elif gap == 0:
        fit = f"it matches your level ({level})"
    elif gap < 0:
        fit = f"it fills a gap at {item.difficulty} level"
    else:
        fit = f"a step up from {level} to {item.difficulty}"
    return f"{fit}; {basis}"


def next_items(
    library: ContentLibrary,
    items: Iterable[Lesson | Tutorial],
    completed: set[str],
    started: set[str],
    level: str,
) -> list[tuple[Lesson | Tutorial, str]]:
    """Available, not completed items in recommendation order, each with its reason."""
    unlocks = _unlocks(library)
    ranked = []
    for item in items:
        if item.id in completed or not set(item.prerequisites) <= completed:
            continue
        gap = DIFFICULTIES.index(item.difficulty) - DIFFICULTIES.index(level)
        if gap > 1:
            continue
        group = 0 if item.id in started else 1 if gap == 0 else 2 if gap < 0 else 3
        key = (group, -unlocks.get(item.id, 0), CATEGORIES.index(item.category), item.id)
        ranked.append((key, item))
    ranked.sort(key=lambda pair: pair[0])
    return [(item, _reason(item, level, item.id in started, library)) for _, item in ranked]


def recommend(
    library: ContentLibrary, completed: set[str], started: set[str], level: str, limit: int
) -> list[Recommendation]:
    """Next lessons (up to ``limit``) and up to two tutorials the user is ready for."""
    lessons = next_items(library, library.lessons.values(), completed, started, level)[:limit]
    tutorials = next_items(library, library.tutorials.values(), completed, started, level)[:2]
    return [
        Recommendation(
            "lesson" if isinstance(item, Lesson) else "tutorial", item.id, item.title, why
        )
        for item, why in [*lessons, *tutorials]
    ]
