"""Quiz questions from the glossary and from tutorial quiz steps, rebuilt from their id.

A question is a pure function of (quiz id, user), seeded by a hash, so the service need not
store the shuffled choices: it stores only the pending quiz id and rebuilds the same question
when the answer arrives, even after a restart.
"""

from __future__ import annotations

import hashlib
import random
import re

from omegafarm.core.errors import ValidationError
from omegafarm.education.errors import UnknownTopicError
from omegafarm.education.models import ContentLibrary, QuizCheck, QuizQuestion

CHOICES = 4


def _rng(*parts: str) -> random.Random:
    seed = hashlib.sha256("\x1f".join(parts).encode()).digest()[:8]
    return random.Random(int.from_bytes(seed, "big"))  # noqa: S311  # shuffling quiz choices, not security


def _mask(definition: str, term: str) -> str:
    return re.sub(re.escape(term), "____", definition, flags=re.IGNORECASE)


def glossary_question(
    library: ContentLibrary, term_id: str, user: str
) -> tuple[QuizQuestion, int, str]:
    """(question, index of the right choice, explanation) for a glossary term."""
    entry = library.glossary.get(term_id)
    if entry is None:
        raise UnknownTopicError(f"no glossary term {term_id!r}")
    rng = _rng(user, term_id)
    related = [library.glossary[r].term for r in entry.related if r in library.glossary]
    others = sorted(
        g.term for g in library.glossary.values() if g.id != term_id and g.term not in related
    )
    rng.shuffle(others)
    distractors = list(dict.fromkeys([*related, *others]))[: CHOICES - 1]
    choices = [entry.term, *distractors]
    rng.shuffle(choices)
    question = QuizQuestion(
        quiz_id=f"glossary:{term_id}",
        question=f"Which term is this? {_mask(entry.definition, entry.term)}",
        choices=tuple(choices),
    )
    return question, choices.index(entry.term), f"{entry.term}: {entry.definition}"


def tutorial_question(
    library: ContentLibrary, tutorial_id: str, step: int
) -> tuple[QuizQuestion, int, str]:
    """(question, index of the right choice, explanation) for a tutorial's quiz step."""
    tutorial = library.tutorials.get(tutorial_id)
    if tutorial is None:
        raise UnknownTopicError(f"no tutorial {tutorial_id!r}")
    check = tutorial.steps[step].check if 0 <= step < len(tutorial.steps) else None
    if not isinstance(check, QuizCheck):
        raise ValidationError(f"step {step} of tutorial {tutorial_id!r} is not a quiz")
    question = QuizQuestion(f"tutorial:{tutorial_id}:{step}", check.question, check.choices)
    return question, check.answer, check.why


def rebuild(library: ContentLibrary, quiz_id: str, user: str) -> tuple[QuizQuestion, int, str]:
    """The question behind a quiz id."""
    kind, _, rest = quiz_id.partition(":")
    if kind == "glossary":
        return glossary_question(library, rest, user)
    if kind == "tutorial":
        tutorial_id, _, step = rest.rpartition(":")
        if step.isdigit():
            return tutorial_question(library, tutorial_id, int(step))
    raise ValidationError(f"unknown quiz id {quiz_id!r}")


def first_quiz_step(library: ContentLibrary, tutorial_id: str) -> int | None:
    """Index of a tutorial's first quiz step, or None when it has none."""
    for index, step in enumerate(library.tutorials[tutorial_id].steps):
        if isinstance(step.check, QuizCheck):
            return index
    return None
