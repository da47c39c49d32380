"""Pydantic models for the content files: the only place raw YAML is trusted into types.

Each model mirrors one file format; ``to_domain()`` turns it into the frozen value objects of
``models``. Unknown keys are errors so a typo in a key never silently drops content.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from omegafarm.education import models
from omegafarm.education.models import Category

KEBAB = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Id = Annotated[str, Field(pattern=KEBAB, min_length=1, max_length=80)]
Difficulty = Literal["beginner", "intermediate", "advanced"]
Text = Annotated[str, Field(min_length=1)]
# YAML reads `tags: [429, 2fa]` as an int and a string; a tag is a word, so numbers become text.
Tag = Annotated[
    str, BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v), Field(min_length=1)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LessonFront(_Strict):
    """Front matter of a lesson file."""

    id: Id
    title: Text
    category: Category
    difficulty: Difficulty
    prerequisites: list[Id] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    minutes: int = Field(ge=1, le=240)

    def to_domain(self, body: str) -> models.Lesson:
        """The frozen value object this file entry describes."""
        return models.Lesson(
            id=self.id,
            title=self.title,
            category=self.category,
            difficulty=self.difficulty,
            prerequisites=tuple(self.prerequisites),
            tags=tuple(self.tags),
            minutes=self.minutes,
            body=body,
        )


class GlossaryItem(_Strict):
    """One entry of ``glossary.yaml``."""

    id: Id
    term: Text
    definition: Text
    related: list[Id] = Field(default_factory=list)
    lessons: list[Id] = Field(default_factory=list)

    def to_domain(self) -> models.GlossaryEntry:
        """The frozen value object this file entry describes."""
        return models.GlossaryEntry(
            id=self.id,
            term=self.term,
            definition=self.definition,
            related=tuple(self.related),
            lessons=tuple(self.lessons),
        )


class QuizModel(_Strict):
    """A multiple-choice check."""

    type: Literal["quiz"]
    question: Text
    choices: list[Text] = Field(min_length=2, max_length=8)
    answer: int = Field(ge=0)
    why: Text

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> Self:
        if self.answer >= len(self.choices):
            raise ValueError(f"answer {self.answer} is not an index of {len(self.choices)} choices")
        return self

    def to_domain(self) -> models.QuizCheck:
        """The frozen value object this file entry describes."""
        return models.QuizCheck(
            question=self.question, choices=tuple(self.choices), answer=self.answer, why=self.why
        )


class PaperOrderModel(_Strict):
    """A check that the user placed an order on the paper exchange."""

    type: Literal["paper_order"]
    instruction: Text
    symbol: Text
    side: Literal["buy", "sell"]
    order_type: Literal["limit", "market"]
    max_distance_pct: float | None = Field(default=None, gt=0, le=100)

    def to_domain(self) -> models.PaperOrderCheck:
        """The frozen value object this file entry describes."""
        return models.PaperOrderCheck(
            instruction=self.instruction,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            max_distance_pct=self.max_distance_pct,
        )


class FibonacciModel(_Strict):
    """A check of a retracement level of the current swing."""

    type: Literal["fibonacci_level"]
    instruction: Text
    symbol: Text
    ratio: float = Field(gt=0, lt=5)
    tolerance_pct: float = Field(gt=0, le=50)

    def to_domain(self) -> models.FibonacciCheck:
        """The frozen value object this file entry describes."""
        return models.FibonacciCheck(
            instruction=self.instruction,
            symbol=self.symbol,
            ratio=self.ratio,
            tolerance_pct=self.tolerance_pct,
        )


class ComputeModel(_Strict):
    """A check of a number the user computes (SMA, ATR, position size)."""

    type: Literal["compute_answer"]
    instruction: Text
    question: Text
    answer_from: Literal["sma", "atr", "position_size"]
    params: dict[str, float | str] = Field(default_factory=dict)
    tolerance_pct: float = Field(gt=0, le=50)

    def to_domain(self) -> models.ComputeCheck:
        """The frozen value object this file entry describes."""
        return models.ComputeCheck(
            instruction=self.instruction,
            question=self.question,
            answer_from=self.answer_from,
            params=tuple(sorted(self.params.items())),
            tolerance_pct=self.tolerance_pct,
        )


CheckModel = Annotated[
    QuizModel | PaperOrderModel | FibonacciModel | ComputeModel, Field(discriminator="type")
]


class StepModel(_Strict):
    """One tutorial step: explanation and check."""

    title: Text
    explanation: Text
    check: CheckModel

    def to_domain(self) -> models.TutorialStep:
        """The frozen value object this file entry describes."""
        return models.TutorialStep(
            title=self.title, explanation=self.explanation, check=self.check.to_domain()
        )


class TutorialModel(_Strict):
    """A tutorial file."""

    id: Id
    title: Text
    category: Category
    difficulty: Difficulty
    prerequisites: list[Id] = Field(default_factory=list)
    minutes: int = Field(ge=1, le=240)
    steps: list[StepModel] = Field(min_length=1)

    def to_domain(self) -> models.Tutorial:
        """The frozen value object this file entry describes."""
        return models.Tutorial(
            id=self.id,
            title=self.title,
            category=self.category,
            difficulty=self.difficulty,
            prerequisites=tuple(self.prerequisites),
            minutes=self.minutes,
            steps=tuple(step.to_domain() for step in self.steps),
        )
