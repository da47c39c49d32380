"""The harmonic ratio table: its types, and reading the bundled ``harmonic_ratios.toml``.

Data, not measurement: what each XABCD pattern's ratios must be (versioned, each row cited).
:mod:`omegafarm.cosmic.harmonics` measures pivots against it.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources

from omegafarm.core.errors import ValidationError

__all__ = [
    "D_RATIOS",
    "RATIO_NAMES",
    "PatternSpec",
    "RatioRule",
    "RatioTable",
    "load_ratio_table",
    "parse_ratio_table",
]

RATIO_NAMES: tuple[str, ...] = ("xb", "ac", "bd", "xd", "xc", "xcd", "abcd")
D_RATIOS: frozenset[str] = frozenset({"bd", "xd", "xcd", "abcd"})
_TABLE_FILE = "harmonic_ratios.toml"


@dataclass(frozen=True)
class RatioRule:
    """One ratio bound of a pattern: ``low <= ratio <= high`` (a point when equal)."""

    name: str
    low: float
    high: float


@dataclass(frozen=True)
class PatternSpec:
    """One row of the ratio table."""

    name: str
    label: str
    source: str
    note: str
    rules: tuple[RatioRule, ...]


@dataclass(frozen=True)
class RatioTable:
    """The versioned harmonic ratio table."""

    version: str
    tolerance: float
    patterns: tuple[PatternSpec, ...]

    @functools.cached_property
    def early(self) -> RatioTable:
        """The same table without the D rules: what X, A, B, C alone must satisfy."""
        specs = tuple(
            PatternSpec(p.name, p.label, p.source, p.note, _early_rules(p)) for p in self.patterns
        )
        return RatioTable(self.version, self.tolerance, specs)

    def select(self, names: tuple[str, ...] | None) -> RatioTable:
        """The table restricted to ``names`` (all when None); unknown names raise."""
        if names is None:
            return self
        known = {p.name for p in self.patterns}
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValidationError(f"unknown harmonic pattern(s) {unknown}; known: {sorted(known)}")
        return RatioTable(
            self.version, self.tolerance, tuple(p for p in self.patterns if p.name in names)
        )


@functools.cache  # the bundled file never changes and RatioTable is immutable: a constant
def load_ratio_table() -> RatioTable:
    """Read the bundled ``harmonic_ratios.toml`` (parsed once per process)."""
    text = resources.files("omegafarm.cosmic").joinpath(_TABLE_FILE).read_text("utf-8")
    return parse_ratio_table(tomllib.loads(text))


def parse_ratio_table(doc: dict[str, object]) -> RatioTable:
    """Build a :class:`RatioTable` from the TOML document, checking every rule."""
    specs: list[PatternSpec] = []
    rows = doc.get("pattern")
    if not isinstance(rows, list) or not rows:
        raise ValidationError("ratio table has no [[pattern]] rows")
    for row in rows:
        rules: list[RatioRule] = []
        for key, bounds in dict(row["ratios"]).items():
            if key not in RATIO_NAMES:
                raise ValidationError(f"pattern {row['name']}: unknown ratio {key!r}")
            low, high = (float(v) for v in bounds)
            if not 0 < low <= high:
                raise ValidationError(f"pattern {row['name']}: bad bounds {key} = {bounds}")
            rules.append(RatioRule(key, low, high))
        specs.append(
            PatternSpec(
                str(row["name"]),
                str(row["label"]),
                str(row["source"]),
                str(row.get("note", "")),
                tuple(rules),
            )
        )
    tol = doc.get("tolerance")
    if not isinstance(tol, int | float):
        raise ValidationError("ratio table needs a numeric tolerance")
    return RatioTable(str(doc.get("version", "")), float(tol), tuple(specs))


def _early_rules(spec: PatternSpec) -> tuple[RatioRule, ...]:
    return tuple(r for r in spec.rules if r.name not in D_RATIOS)
