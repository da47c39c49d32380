"""Identifiers and lookups shared by the service: user ids, topic ids, review ratings, the
glossary terms a lesson teaches and the error for an unknown topic (with a hint)."""

from __future__ import annotations

import re

from fsrs import Rating

from omegafarm.core.errors import ValidationError
from omegafarm.education.errors import UnknownTopicError
from omegafarm.education.lint import iter_links
from omegafarm.education.models import ContentLibrary

_USER_RE = re.compile(r"^(discord:\d{1,20}|[A-Za-z0-9][A-Za-z0-9_.@-]{0,63})$")
_RATINGS = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}


def normalize_user(user: str) -> str:
    """Validate a user id: a platform user name or ``discord:<numeric id>``."""
    value = user.strip() if isinstance(user, str) else ""
    if not _USER_RE.match(value):
        raise ValidationError(
            f"invalid user {user!r}: use a user name (letters, digits, . _ @ -) or discord:<id>"
        )
    return value


def normalize_topic(topic: str) -> str:
    """Turn a typed topic ("Order books") into an id ("order-books"); reject junk."""
    if not isinstance(topic, str) or not topic.strip() or len(topic) > 120:
        raise ValidationError("a topic is a lesson, tutorial or glossary id of 1-120 characters")
    return re.sub(r"[\s_]+", "-", topic.strip().lower())


def parse_rating(rating: int | str) -> Rating:
    """An FSRS rating from 1-4 or again/hard/good/easy."""
    grade = _RATINGS.get(rating.lower()) if isinstance(rating, str) else None
    if grade is None and isinstance(rating, int) and 1 <= rating <= 4:
        grade = Rating(rating)
    if grade is None:
        raise ValidationError(f"rating must be 1-4 or again/hard/good/easy, not {rating!r}")
    return grade


def lesson_terms(library: ContentLibrary, lesson_id: str) -> list[str]:
    """Glossary terms a lesson links to, then those that list the lesson, without repeats."""
    body = library.lessons[lesson_id].body
    linked = [t for _, kind, t in iter_links(body) if kind == "glossary"]
    listed = [g.id for g in library.glossary.values() if lesson_id in g.lessons]
    return [t for t in dict.fromkeys([*linked, *listed]) if t in library.glossary]


def unknown_topic(
    library: ContentLibrary, topic: str, wanted: str, suggestions: list[str]
) -> UnknownTopicError:
    """The error for a missing topic: what it is instead, or the closest ids."""
    for kind, ids in (
        ("lesson", library.lessons),
        ("tutorial", library.tutorials),
        ("glossary term", library.glossary),
    ):
        if topic in ids:
            return UnknownTopicError(f"{topic!r} is a {kind}, not a {wanted}")
    hint = "; did you mean: " + ", ".join(suggestions) if suggestions else ""
    return UnknownTopicError(f"no {wanted} {topic!r}{hint}")
