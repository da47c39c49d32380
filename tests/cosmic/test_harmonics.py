"""Harmonic patterns: the ratio table, planted patterns (recall and precision per type),
no look-ahead, and properties (finite, scale invariant, empty on flat or short input)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic.harmonics import (
    D_RATIOS,
    HarmonicConfig,
    PatternSpec,
    identify_patterns,
    load_ratio_table,
    measure_ratios,
    measure_ratios_py,
    prz,
)
from omegafarm.cosmic.pivots import ZigZagConfig

TABLE = load_ratio_table()
SPECS = {p.name: p for p in TABLE.patterns}
PCT = HarmonicConfig(zigzag=ZigZagConfig("percent", 0.02))


def _candles(path: np.ndarray, spread: float) -> np.ndarray:
    n = path.size
    return np.column_stack(
        [np.arange(n) * 300_000.0, path, path + spread, path - spread, path, np.ones(n)]
    )


# ----------------------------------------------------------------------------- the table
def test_table_has_every_pattern_of_the_specification_with_sources() -> None:
    names = {
        "abcd",
        "gartley",
        "bat",
        "alt_bat",
        "butterfly",
        "crab",
        "deep_crab",
        "shark",
        "cypher",
        "five_zero",
    }
    assert set(SPECS) == names
    assert all(p.source for p in TABLE.patterns)
    assert TABLE.version


def test_cypher_follows_oglesbee_not_pyharmonics() -> None:
    rules = {r.name: (r.low, r.high) for r in SPECS["cypher"].rules}
    assert rules["xb"] == (0.382, 0.618)
    assert rules["xcd"] == (0.786, 0.786)
    assert "xd" not in rules


def test_unknown_pattern_subset_raises() -> None:
    with pytest.raises(ValidationError, match="unknown harmonic pattern"):
        TABLE.select(("gartley", "dragon"))


def test_hand_built_gartley_measures_its_ratios() -> None:
    # X=100, A=120 (XA=20), B=120-0.618*20, C=B+0.618*AB, D=120-0.786*20
    x, a = 100.0, 120.0
    b = a - 0.618 * 20
    c = b + 0.618 * (a - b)
    d = a - 0.786 * 20
    r = {
        k: float(v[0]) for k, v in measure_ratios(*(np.array([p]) for p in (x, a, b, c, d))).items()
    }
    assert r["xb"] == pytest.approx(0.618)
    assert r["ac"] == pytest.approx(0.618)
    assert r["xd"] == pytest.approx(0.786)
    assert r["bd"] == pytest.approx((c - d) / (c - b))
    zone = prz(SPECS["gartley"], 0.0, (x, a, b, c))
    assert zone == pytest.approx((d, d))


# ----------------------------------------------------------------------------- planted
def _plant(spec: PatternSpec, rng: np.random.Generator, bullish: bool) -> list[float]:
    """X, A, B, C, D (relative to X = 0, XA = +1 when bullish) meeting spec at tolerance 0."""
    for _ in range(10_000):
        pick = {}
        for r in spec.rules:
            pick[r.name] = r.low if r.low == r.high else rng.uniform(r.low, r.high)
        x, a = 0.0, 1.0
        # AB=CD has no X: any B inside XA
        b = a - pick["xb"] if "xb" in pick else a - rng.uniform(0.3, 0.9)
        c = x + pick["xc"] if "xc" in pick else b + pick["ac"] * (a - b)
        zone = prz(spec, 0.0, (x, a, b, c))
        if zone is None:
            continue
        d = (zone[0] + zone[1]) / 2
        ratios = measure_ratios(*(np.array([v]) for v in (x, a, b, c, d)))
        if all(r.low - 1e-9 <= ratios[r.name][0] <= r.high + 1e-9 for r in spec.rules):
            pts = [x, a, b, c, d]
            return pts if bullish else [-p for p in pts]
    raise AssertionError(f"could not plant {spec.name}")


def _planted_series(seed: int, per_type: int) -> tuple[np.ndarray, list[tuple[str, str, int]]]:
    """A path through planted patterns joined by connector swings, and the truth list."""
    rng = np.random.default_rng(seed)
    points: list[float] = [100.0]
    truth_pts: list[tuple[str, str, int]] = []  # (name, direction, position of D in points)
    jobs = [(name, bull) for name in SPECS for bull in (True, False) for _ in range(per_type)]
    rng.shuffle(jobs)  # type: ignore[arg-type]
    for name, bull in jobs:
        rel = _plant(SPECS[name], rng, bull)
        scale = rng.uniform(15.0, 25.0)
        base = 100.0 + rng.uniform(-5, 5)
        pts = [base + scale * p for p in rel]
        # connector: from the last point go the other way, then to X (keep alternation)
        last_up = len(points) > 1 and points[-1] > points[-2]
        x_is_low = bull
        if last_up == (not x_is_low):  # last leg ended on the same kind as X: add a swing
            points.append(points[-1] + (-1 if last_up else 1) * rng.uniform(8, 15))
            last_up = not last_up
        if last_up and pts[0] >= points[-1] - 4:  # need X below the last high
            points.append(pts[0] + 10.0)
        elif not last_up and pts[0] <= points[-1] + 4 and len(points) > 1:
            points.append(pts[0] - 10.0)
        points.extend(pts)
        truth_pts.append((name, "bullish" if bull else "bearish", len(points) - 1))
        points.append(pts[-1] + (1 if bull else -1) * rng.uniform(10, 15))
    durations = rng.integers(12, 30, size=len(points) - 1)
    bar_of_point = np.concatenate([[0], np.cumsum(durations)])
    path = np.concatenate(
        [
            np.linspace(points[i], points[i + 1], durations[i], endpoint=False)
            for i in range(len(points) - 1)
        ]
        + [np.array([points[-1]])]
    )
    truth = [(name, direction, int(bar_of_point[pos])) for name, direction, pos in truth_pts]
    return path, truth


def _keys(patterns: tuple, slack: int = 2) -> set[tuple[str, str, int]]:
    return {
        (p.name, p.direction, p.bars[4] + s) for p in patterns for s in range(-slack, slack + 1)
    }


@pytest.mark.parametrize("noise", [0.03, 0.1], ids=["noise-0.15pct-of-XA", "noise-0.5pct-of-XA"])
def test_planted_patterns_are_found_with_high_recall_and_precision(noise: float) -> None:
    # 20 of each type (10 bullish, 10 bearish), XA of 15-25 price units, Gaussian noise per bar
    path, truth = _planted_series(seed=11, per_type=10)
    rng = np.random.default_rng(12)
    noisy = path + rng.normal(0.0, noise, path.size)
    found = identify_patterns(_candles(noisy, noise), PCT).completed
    # what the clean path really contains (planted + accidental across connectors), lenient
    clean = identify_patterns(_candles(path, 0.0), HarmonicConfig(PCT.zigzag, 0.08)).completed
    found_keys, clean_keys = _keys(found), _keys(clean)
    recall: dict[str, list[bool]] = defaultdict(list)
    for name, direction, d_bar in truth:
        recall[name].append((name, direction, d_bar) in found_keys)
    precision: dict[str, list[bool]] = defaultdict(list)
    for p in found:
        precision[p.name].append((p.name, p.direction, p.bars[4]) in clean_keys)
    report = {n: (np.mean(recall[n]), np.mean(precision[n] or [1.0])) for n in SPECS}
    for name, (rec, prec) in report.items():
        assert rec >= 0.9, f"{name}: recall {rec:.2f} ({report})"
        assert prec >= 0.9, f"{name}: precision {prec:.2f} ({report})"


def test_planted_bullish_and_bearish_are_mirror_images() -> None:
    path, _ = _planted_series(seed=5, per_type=2)
    up = identify_patterns(_candles(path, 0.0), PCT).completed
    down = identify_patterns(_candles(300.0 - path, 0.0), PCT).completed
    flip = {"bullish": "bearish", "bearish": "bullish"}
    assert {(p.name, p.bars) for p in up} == {(p.name, p.bars) for p in down}
    assert sorted((p.name, flip[p.direction]) for p in up) == sorted(
        (p.name, p.direction) for p in down
    )


def test_forming_pattern_reports_the_prz_before_d_exists() -> None:
    spec = SPECS["bat"]
    rel = _plant(spec, np.random.default_rng(3), bullish=True)
    pts = [100 + 20 * p for p in rel]
    # X, A, B, C, then fall halfway toward D: D is not there yet
    legs = [np.linspace(pts[i], pts[i + 1], 20, endpoint=False) for i in range(3)]
    tail = np.linspace(pts[3], (pts[3] + pts[4]) / 2, 15)
    start = np.linspace(pts[0] + 8, pts[0], 20, endpoint=False)
    path = np.concatenate([start, *legs, tail])
    scan = identify_patterns(_candles(path, 0.0), PCT)
    bats = [p for p in scan.forming if p.name == "bat"]
    assert len(bats) == 1
    bat = bats[0]
    assert bat.status == "forming" and bat.direction == "bullish"
    assert bat.bars[4] == -1 and math.isnan(bat.prices[4])
    assert bat.prz[0] <= pts[4] <= bat.prz[1]
    assert bat.confirmed_index < path.size
    view = json.loads(json.dumps(bat.to_dict(), allow_nan=False))
    assert view["prices"]["D"] is None and view["bars"]["D"] == -1
    assert not any(p.name == "bat" for p in scan.completed)


def test_forming_pattern_completes_inside_its_prz() -> None:
    rel = _plant(SPECS["gartley"], np.random.default_rng(9), bullish=False)
    pts = [100 + 20 * p for p in rel]
    start = np.linspace(pts[0] - 8, pts[0], 20, endpoint=False)
    legs = [np.linspace(pts[i], pts[i + 1], 20, endpoint=False) for i in range(4)]
    after = np.linspace(pts[4], pts[4] - 10, 20)  # the reversal that confirms D
    path = np.concatenate([start, *legs, after])
    d_bar = 20 + 4 * 20
    before = identify_patterns(_candles(path[: d_bar - 5], 0.0), PCT)
    (forming,) = [p for p in before.forming if p.name == "gartley"]
    full = identify_patterns(_candles(path, 0.0), PCT)
    (done,) = [p for p in full.completed if p.name == "gartley"]
    assert done.direction == forming.direction == "bearish"
    assert done.bars[:4] == forming.bars[:4]
    assert done.bars[4] == d_bar
    assert forming.prz[0] <= done.prices[4] <= forming.prz[1]
    assert done.confirmed_index > d_bar


# ----------------------------------------------------------------------------- golden values
GOLDEN_ETH_BTC = [
    ("bat", "bearish", (49, 59, 63, 69, 91), 111),
    ("abcd", "bullish", (334, 345, 368, 371, 393), 396),
    ("abcd", "bearish", (681, 707, 710, 721, 747), 772),
    ("shark", "bullish", (1016, 1034, 1039, 1056, 1084), 1090),
    ("cypher", "bearish", (1056, 1084, 1088, 1123, 1170), 1178),
    ("abcd", "bullish", (1676, 1711, 1771, 1775, 1794), 1804),
    ("abcd", "bearish", (2055, 2144, 2172, 2189, 2225), 2235),
    ("abcd", "bearish", (5450, 5460, 5491, 5510, 5562), 5569),
]


def test_default_scan_of_real_candles_matches_golden_values(ohlcv_dir: Path) -> None:
    # pinned on ETH_BTC-5m with the defaults (3 x ATR(14) zig-zag, table tolerance 5 %)
    candles = np.loadtxt(ohlcv_dir / "ETH_BTC-5m.csv", delimiter=",", skiprows=1)
    scan = identify_patterns(candles)
    assert len(scan.pivots) == 210
    got = [(p.name, p.direction, p.bars, p.confirmed_index) for p in scan.completed]
    assert got == GOLDEN_ETH_BTC
    bat = scan.completed[0]
    x, a, b, c, d = bat.prices
    assert (a - b) / (a - x) == pytest.approx(bat.ratios["xb"])
    assert (a - d) / (a - x) == pytest.approx(bat.ratios["xd"])
    assert (c - d) / (c - b) == pytest.approx(bat.ratios["bd"])
    assert 0.382 * 0.95 <= bat.ratios["xb"] <= 0.5 * 1.05
    assert bat.ratios["xd"] == pytest.approx(0.886, rel=0.05)
    assert candles[bat.bars[1], 3] == a  # a bearish A is a low: its price is that bar's low


# ----------------------------------------------------------------------------- look-ahead
def test_truncating_the_future_never_changes_a_known_pattern(ohlcv_dir: Path) -> None:
    candles = np.loadtxt(ohlcv_dir / "XMR_BTC-5m.csv", delimiter=",", skiprows=1)
    cfg = HarmonicConfig(zigzag=ZigZagConfig("atr", 2.0))
    full = identify_patterns(candles, cfg).completed
    assert len(full) > 5
    for cut in (1_000, 2_500, 4_000, len(candles) - 1):
        part = identify_patterns(candles[:cut], cfg).completed
        known = [p for p in full if p.confirmed_index <= cut - 1]
        assert part == tuple(known)
        assert all(max(p.bars) < p.confirmed_index for p in part)
        forming = identify_patterns(candles[:cut], cfg).forming
        assert all(p.confirmed_index <= cut - 1 and max(p.bars) < cut for p in forming)


# ----------------------------------------------------------------------------- properties
_prices = st.lists(st.floats(1.0, 1e4), min_size=0, max_size=300)


@settings(max_examples=50, deadline=None)
@given(_prices, st.floats(0.01, 100.0))
def test_patterns_are_finite_and_invariant_under_price_scaling(
    prices: list[float], factor: float
) -> None:
    p = np.asarray(prices, dtype=float).reshape(-1)
    candles = _candles(p, 0.0) if p.size else np.empty((0, 6))
    scaled = candles.copy()
    scaled[:, 1:5] *= factor
    base = identify_patterns(candles, PCT)
    other = identify_patterns(scaled, PCT)
    assert [(q.name, q.bars) for q in base.completed] == [(q.name, q.bars) for q in other.completed]
    for q in (*base.completed, *base.forming):
        assert all(math.isfinite(v) for v in q.ratios.values())
        assert math.isfinite(q.score) and 0.0 <= q.score <= 1.0
        assert all(math.isfinite(v) for v in q.prz)


@pytest.mark.parametrize("n", [0, 1, 4, 200])
def test_flat_or_short_input_gives_an_empty_scan(n: int) -> None:
    candles = _candles(np.full(n, 50.0), 0.0) if n else np.empty((0, 6))
    scan = identify_patterns(candles)
    assert scan.completed == () and scan.forming == ()


def test_d_rules_are_the_ones_that_define_the_prz() -> None:
    for spec in TABLE.patterns:
        assert any(r.name in D_RATIOS for r in spec.rules), spec.name


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=5, max_size=40))
def test_plain_float_ratios_equal_the_vectorised_ones(prices: list[float]) -> None:
    p = np.asarray(prices)
    vec = measure_ratios(p[:-4], p[1:-3], p[2:-2], p[3:-1], p[4:])
    py = measure_ratios_py(prices)
    for name, arr in vec.items():
        for v, w in zip(arr.tolist(), py[name], strict=True):
            assert v == w or not (math.isfinite(v) or math.isfinite(w))
