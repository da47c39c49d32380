"""The search space of ``omega optimize``: ``"fast=5..50 slow=20..200 stop=0.01..0.05"``.

Each item is ``name=low..high`` (integers when both ends are integers, else decimals),
``name=low..high:step`` or a comma list ``name=5,10,20`` (a categorical choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Literal

from omegafarm.bots.strategy import ParamValue
from omegafarm.core.errors import ValidationError

if TYPE_CHECKING:
    from optuna.trial import Trial


@dataclass(frozen=True)
class Dimension:
    """One parameter's range or choices."""

    name: str
    kind: Literal["int", "float", "choice"]
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    choices: tuple[ParamValue, ...] = ()

    def suggest(self, trial: Trial) -> ParamValue:
        """Ask the sampler for this parameter's next value."""
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1)
            )
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, step=self.step)
        return trial.suggest_categorical(self.name, list(self.choices))

    @property
    def numeric(self) -> bool:
        return self.kind != "choice" or all(isinstance(c, int | float) for c in self.choices)


def _number(text: str, item: str) -> tuple[ParamValue, bool]:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"--space {item!r}: {text!r} is not a number") from None
    if not value.is_finite():
        raise ValidationError(f"--space {item!r}: {text!r} is not a finite number")
    integral = value == value.to_integral_value() and "." not in text and "e" not in text.lower()
    return (int(value) if integral else float(value)), integral


def parse_dimension(item: str) -> Dimension:
    """One ``name=...`` item."""
    name, eq, text = item.partition("=")
    if not eq or not name.isidentifier() or not text:
        raise ValidationError(f"--space item {item!r} must look like name=5..50 or name=1,2,3")
    if ".." in text:
        span, _, step_text = text.partition(":")
        lo_text, _, hi_text = span.partition("..")
        (lo, lo_int), (hi, hi_int) = _number(lo_text, item), _number(hi_text, item)
        step, step_int = _number(step_text, item) if step_text else (None, True)
        if hi <= lo or (step is not None and step <= 0):
            raise ValidationError(f"--space {item!r}: need low < high and a positive step")
        if lo_int and hi_int and step_int:
            return Dimension(name, "int", lo, hi, step)
        return Dimension(name, "float", float(lo), float(hi), None if step is None else float(step))
    choices = tuple(_number(part, item)[0] for part in text.split(",") if part)
    if len(choices) < 2:
        raise ValidationError(f"--space {item!r}: give a range a..b or at least two values")
    return Dimension(name, "choice", choices=choices)


def parse_space(spec: str) -> list[Dimension]:
    """Every dimension of a space spec, in order; names must be distinct."""
    dims = [parse_dimension(item) for item in spec.split()]
    if not dims:
        raise ValidationError("--space is empty; e.g. --space 'fast=5..50 slow=20..200'")
    names = [d.name for d in dims]
    if len(set(names)) != len(names):
        raise ValidationError(f"--space names a parameter twice: {' '.join(names)}")
    return dims
