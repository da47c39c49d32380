"""Harmonic XABCD patterns (AB=CD, Gartley, Bat, Butterfly, Crab, Shark, Cypher, 5-0, ...).

The ratios live in ``harmonic_ratios.toml`` (versioned, each row cited), read by
:mod:`._harmonic_ratios`; this module only measures. Patterns are read off consecutive zig-zag
pivots, so the scan is one vectorised numpy pass over pivot windows (pivots are far fewer than
candles) and a pattern is known exactly when its D pivot is confirmed (``confirmed_index``),
never earlier.

A *completed* pattern has a confirmed D. A *forming* pattern has X, A, B and C confirmed and
the current leg heading toward D; it carries the potential reversal zone (PRZ): the prices at
which D would satisfy every D rule of the table at once. A forming pattern whose leg has
already run through the far side of its PRZ is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from omegafarm.cosmic._harmonic_ratios import (
    D_RATIOS,
    RATIO_NAMES,
    PatternSpec,
    RatioRule,
    RatioTable,
    load_ratio_table,
    parse_ratio_table,
)
from omegafarm.cosmic._ohlcv import FloatArray, OhlcvInput, as_ohlcv
from omegafarm.cosmic.pivots import PIVOT_LOW, Pivots, ZigZag, ZigZagConfig

__all__ = [  # the table's names stay importable from here
    "D_RATIOS",
    "RATIO_NAMES",
    "HarmonicConfig",
    "Pattern",
    "PatternScan",
    "PatternSpec",
    "RatioRule",
    "RatioTable",
    "forming_candidates",
    "forming_patterns",
    "identify_patterns",
    "load_ratio_table",
    "measure_ratios",
    "measure_ratios_py",
    "parse_ratio_table",
    "prz",
    "scan_pivots",
    "still_forming",
]
_SMALL = 16  # at most this many windows: match in plain Python (numpy call overhead dominates)

Direction = Literal["bullish", "bearish"]
Status = Literal["completed", "forming"]


@dataclass(frozen=True)
class Pattern:
    """A detected XABCD pattern with its measured ratios, errors, score and PRZ."""

    name: str
    label: str
    direction: Direction
    status: Status
    bars: tuple[int, int, int, int, int]  # X, A, B, C, D (D = -1 while forming)
    prices: tuple[float, float, float, float, float]  # D = nan while forming
    confirmed_index: int  # bar at whose close the pattern (or, forming, its C) was known
    ratios: dict[str, float] = field(hash=False)
    errors: dict[str, float] = field(hash=False)
    score: float
    prz: tuple[float, float]  # D zone where every D rule holds (tolerance included)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (NaN prices of a forming D become None)."""
        return {
            "name": self.name,
            "label": self.label,
            "direction": self.direction,
            "status": self.status,
            "bars": dict(zip("XABCD", self.bars, strict=True)),
            "prices": {
                k: (v if math.isfinite(v) else None)
                for k, v in zip("XABCD", self.prices, strict=True)
            },
            "confirmed_index": self.confirmed_index,
            "ratios": dict(self.ratios),
            "errors": dict(self.errors),
            "score": self.score,
            "prz": list(self.prz),
        }


@dataclass(frozen=True)
class PatternScan:
    """Result of a scan: completed and forming patterns plus the pivots they stand on."""

    completed: tuple[Pattern, ...]
    forming: tuple[Pattern, ...]
    pivots: Pivots
    table_version: str


@dataclass(frozen=True)
class HarmonicConfig:
    """Scan settings: the zig-zag, a tolerance override and an optional pattern subset."""

    zigzag: ZigZagConfig = field(default_factory=ZigZagConfig)
    tolerance: float | None = None
    patterns: tuple[str, ...] | None = None


# --------------------------------------------------------------------------- measurement
def measure_ratios(
    x: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray
) -> dict[str, FloatArray]:
    """Signed XABCD ratios (see the table's header) for aligned price arrays."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "xb": (a - b) / (a - x),
            "ac": (c - b) / (a - b),
            "bd": (c - d) / (c - b),
            "xd": (a - d) / (a - x),
            "xc": (c - x) / (a - x),
            "xcd": (c - d) / (c - x),
            "abcd": (c - d) / (a - b),
        }


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0.0 else math.nan  # numpy gives inf or nan: never a match


def measure_ratios_py(prices: list[float]) -> dict[str, list[float]]:
    """:func:`measure_ratios` in plain floats for every window of ``prices`` (X first)."""
    out: dict[str, list[float]] = {name: [] for name in RATIO_NAMES}
    for i in range(len(prices) - 4):
        x, a, b, c, d = prices[i : i + 5]
        out["xb"].append(_ratio(a - b, a - x))
        out["ac"].append(_ratio(c - b, a - b))
        out["bd"].append(_ratio(c - d, c - b))
        out["xd"].append(_ratio(a - d, a - x))
        out["xc"].append(_ratio(c - x, a - x))
        out["xcd"].append(_ratio(c - d, c - x))
        out["abcd"].append(_ratio(c - d, a - b))
    return out


def _rule_mask(values: FloatArray, rule: RatioRule, tol: float) -> np.ndarray:
    lo, hi = rule.low * (1.0 - tol), rule.high * (1.0 + tol)
    out: np.ndarray = (values >= lo) & (values <= hi)
    return out


def _rule_error(value: float, rule: RatioRule) -> float:
    if value < rule.low:
        return (rule.low - value) / rule.low
    if value > rule.high:
        return (value - rule.high) / rule.high
    return 0.0


def _d_interval(rule: RatioRule, tol: float, pts: tuple[float, ...]) -> tuple[float, float]:
    """Prices of D for which ``rule`` holds (with tolerance), given X, A, B, C."""
    x, a, b, c = pts
    name = rule.name
    if name == "xd":
        anchor, span = a, a - x
    elif name == "bd":
        anchor, span = c, c - b
    elif name == "xcd":
        anchor, span = c, c - x
    else:  # abcd
        anchor, span = c, a - b
    p1 = anchor - rule.low * (1.0 - tol) * span
    p2 = anchor - rule.high * (1.0 + tol) * span
    return (min(p1, p2), max(p1, p2))


def prz(spec: PatternSpec, tol: float, pts: tuple[float, ...]) -> tuple[float, float] | None:
    """The potential reversal zone of D for X, A, B, C, or None when the D rules disagree."""
    lo, hi = -math.inf, math.inf
    for rule in spec.rules:
        if rule.name in D_RATIOS:
            r_lo, r_hi = _d_interval(rule, tol, pts)
            lo, hi = max(lo, r_lo), min(hi, r_hi)
    if lo > hi or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return (lo, hi)


def _make_pattern(
    spec: PatternSpec,
    tol: float,
    status: Status,
    bars: tuple[int, int, int, int, int],
    prices: tuple[float, float, float, float, float],
    confirmed: int,
    measured: dict[str, float],
) -> Pattern | None:
    rules = [r for r in spec.rules if status == "completed" or r.name not in D_RATIOS]
    errors = {r.name: _rule_error(measured[r.name], r) for r in rules}
    score = max(0.0, 1.0 - (sum(errors.values()) / max(len(errors), 1)) / tol) if tol else 1.0
    zone = prz(spec, tol, prices[:4])
    if zone is None:
        return None
    direction: Direction = "bullish" if prices[3] > prices[2] else "bearish"
    ratios = {k: v for k, v in measured.items() if math.isfinite(v)}
    return Pattern(
        spec.name,
        spec.label,
        direction,
        status,
        bars,
        prices,
        confirmed,
        ratios,
        errors,
        score,
        zone,
    )


def scan_pivots(
    pivots: Pivots, table: RatioTable, *, tolerance: float | None = None, first_d: int = 3
) -> list[Pattern]:
    """Completed patterns whose D is pivot ``first_d`` or later, ordered by confirmation."""
    n = len(pivots)
    tol = table.tolerance if tolerance is None else tolerance
    start = max(first_d, 3)
    if n <= start:
        return []
    if n - start <= _SMALL:  # a few windows (appends): plain floats beat numpy's overhead
        pr = (
            pivots.price[start - 4 :].tolist() if start >= 4 else [math.nan, *pivots.price.tolist()]
        )
        values = measure_ratios_py(pr)
        hits = _hits_small(values, table, tol)
    else:
        p = np.concatenate([[np.nan], pivots.price])  # pad so X of the first window is NaN
        k = np.arange(start, n)
        x, a, b, c, d = p[k - 3], p[k - 2], p[k - 1], p[k], p[k + 1]
        ratios = measure_ratios(x, a, b, c, d)
        hits = _hits_vector(ratios, table, tol)
        values = {name: arr.tolist() for name, arr in ratios.items()}
    found: list[tuple[int, int, Pattern]] = []
    for order, j in hits:
        measured = {r: v[j] for r, v in values.items()}
        pat = _completed(table.patterns[order], tol, pivots, start + j, measured)
        if pat is not None:
            found.append((pat.confirmed_index, order, pat))
    found.sort(key=lambda t: (t[0], t[2].bars[4], t[1]))
    return [t[2] for t in found]


def _hits_vector(
    ratios: dict[str, FloatArray], table: RatioTable, tol: float
) -> list[tuple[int, int]]:
    """(pattern order, window) pairs that match, one numpy mask per rule."""
    size = next(iter(ratios.values())).shape[0]
    out: list[tuple[int, int]] = []
    for order, spec in enumerate(table.patterns):
        mask = np.ones(size, dtype=bool)
        for rule in spec.rules:
            mask &= _rule_mask(ratios[rule.name], rule, tol)
        out.extend((order, j) for j in np.flatnonzero(mask).tolist())
    return out


def _hits_small(
    values: dict[str, list[float]], table: RatioTable, tol: float
) -> list[tuple[int, int]]:
    """Same as :func:`_hits_vector` in plain Python: faster for a few windows (appends)."""
    size = len(values["xb"])
    lo_f, hi_f = 1.0 - tol, 1.0 + tol
    out: list[tuple[int, int]] = []
    for order, spec in enumerate(table.patterns):
        for j in range(size):
            for r in spec.rules:
                v = values[r.name][j]
                if not (r.low * lo_f <= v <= r.high * hi_f):
                    break
            else:
                out.append((order, j))
    return out


def _completed(
    spec: PatternSpec, tol: float, pivots: Pivots, kd: int, measured: dict[str, float]
) -> Pattern | None:
    idx = pivots.index
    xi = int(idx[kd - 4]) if kd >= 4 else -1
    bars = (xi, int(idx[kd - 3]), int(idx[kd - 2]), int(idx[kd - 1]), int(idx[kd]))
    pr = pivots.price
    xp = float(pr[kd - 4]) if kd >= 4 else math.nan
    prices = (xp, float(pr[kd - 3]), float(pr[kd - 2]), float(pr[kd - 1]), float(pr[kd]))
    return _make_pattern(
        spec, tol, "completed", bars, prices, int(pivots.confirmed_index[kd]), measured
    )


def forming_candidates(
    pivots: Pivots, table: RatioTable, *, tolerance: float | None = None
) -> list[Pattern]:
    """Patterns whose X, A, B, C are the last confirmed pivots (D not yet seen, not filtered)."""
    n = len(pivots)
    tol = table.tolerance if tolerance is None else tolerance
    if n < 3:
        return []
    pr = pivots.price[-4:].tolist()
    pts = (pr[-4] if n >= 4 else math.nan, pr[-3], pr[-2], pr[-1])
    values = measure_ratios_py([*pts, math.nan])
    measured = {k: v[0] for k, v in values.items()}
    idx = pivots.index[-4:].tolist()
    bars = (idx[-4] if n >= 4 else -1, idx[-3], idx[-2], idx[-1], -1)
    confirmed = int(pivots.confirmed_index[-1])
    out: list[Pattern] = []
    for order, _ in _hits_small(values, table.early, tol):
        spec = table.patterns[order]
        pat = _make_pattern(spec, tol, "forming", bars, (*pts, math.nan), confirmed, measured)
        if pat is not None:
            out.append(pat)
    return out


def still_forming(pattern: Pattern, pending: tuple[int, float, int] | None) -> bool:
    """Whether the current leg (its extreme so far: ``pending``) has not run through the PRZ."""
    if pending is None or pending[0] <= pattern.bars[3]:
        return False
    if pattern.direction == "bullish":
        return pending[2] == PIVOT_LOW and pending[1] >= pattern.prz[0]
    return pending[2] != PIVOT_LOW and pending[1] <= pattern.prz[1]


def forming_patterns(
    pivots: Pivots,
    pending: tuple[int, float, int] | None,
    table: RatioTable,
    *,
    tolerance: float | None = None,
) -> list[Pattern]:
    """Forming patterns whose leg toward D has not yet overshot the PRZ."""
    cands = forming_candidates(pivots, table, tolerance=tolerance)
    return [p for p in cands if still_forming(p, pending)]


def identify_patterns(
    ohlcv: OhlcvInput, config: HarmonicConfig | None = None, table: RatioTable | None = None
) -> PatternScan:
    """Scan candles for completed and forming harmonic patterns."""
    cfg = config or HarmonicConfig()
    tab = (table or load_ratio_table()).select(cfg.patterns)
    bars = as_ohlcv(ohlcv)
    zz = ZigZag(cfg.zigzag)
    if len(bars):
        zz.feed(bars.high, bars.low, bars.close)
    piv = zz.pivots()
    done = scan_pivots(piv, tab, tolerance=cfg.tolerance)
    forming = forming_patterns(piv, zz.pending(), tab, tolerance=cfg.tolerance)
    return PatternScan(tuple(done), tuple(forming), piv, tab.version)
