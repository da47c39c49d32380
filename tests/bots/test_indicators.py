"""Exact moving averages: equal averages are equal floats, so no crossover appears from noise."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from omegafarm.bots.feed import CandleFeed, cross, sma


def crossings(fast: np.ndarray, slow: np.ndarray) -> list[int]:
    """Bars where ``cross`` fires, read through a real feed as a strategy reads it."""
    n = fast.shape[0]
    matrix = np.column_stack([np.arange(n, dtype=float), *(np.ones(n),) * 3, fast, np.ones(n)])
    feed = CandleFeed(matrix, full=True)
    a = feed_indicator(feed, fast)
    b = feed_indicator(feed, slow)
    found = []
    for stop in range(2, n + 1):
        feed.reveal(stop)
        if cross(a, b) != 0:
            found.append(stop - 1)
    return found


def feed_indicator(feed: CandleFeed, values: np.ndarray):  # type: ignore[no-untyped-def]
    from omegafarm.bots.feed import Indicator

    return Indicator(feed, lambda: values, (), {})


def test_exactly_equal_averages_find_no_crossover() -> None:
    # 99,000 noisy bars, then a flat stretch: there SMA(7) and SMA(23) are both exactly the
    # flat price, so they never cross (a difference of cumulative sums makes them flip sign)
    rng = np.random.default_rng(7)
    noise = 0.05 + rng.random(99_000) * 0.01
    flat = np.full(400, 0.07123)
    close = np.concatenate((noise, flat))
    fast, slow = sma(close, 7), sma(close, 23)
    tail = slice(99_000 + 23, None)
    assert np.array_equal(fast[tail], slow[tail])
    assert [i for i in crossings(fast, slow) if i >= 99_000 + 23] == []


@pytest.mark.parametrize(
    ("sigma", "scale"),
    [(2.0, 1.0), (0.2, 100.0), (2.0, 2.0**80), (0.2, 1e-300), (0.2, 1e-309)],
    # narrow: window sums in int64; wide: Python ints; huge: k >= 0; tiny: int64 sums scaled
    # down by a power of two; subnormal: means below the normal floats (the exact division)
    ids=["wide", "narrow", "huge", "tiny", "subnormal"],
)
def test_each_value_is_the_correctly_rounded_mean_of_its_window(sigma: float, scale: float) -> None:
    rng = np.random.default_rng(3)
    close = rng.lognormal(0, sigma, 5_000) * scale
    out = sma(close, 13)
    for i in (12, 100, 2_500, 4_999):
        exact = sum(Fraction(v) for v in close[i - 12 : i + 1]) / 13
        assert out[i] == float(exact)
    assert np.isnan(out[:12]).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_windows_holding_a_non_finite_value_are_nan_and_the_rest_unchanged(bad: float) -> None:
    close = np.linspace(1.0, 2.0, 100)
    dirty = close.copy()
    dirty[50] = bad
    out, ref = sma(dirty, 5), sma(close, 5)
    assert np.isnan(out[50:55]).all()
    assert np.array_equal(out[55:], ref[55:])
    assert np.array_equal(out[4:50], ref[4:50])


@pytest.mark.parametrize("extreme", [False, True])
@pytest.mark.parametrize("n", [1, 5, 30])
def test_a_live_average_extended_bar_by_bar_equals_a_recompute_over_the_buffer(
    n: int, extreme: bool
) -> None:
    # a live feed (a small buffer that fills and drops its oldest rows, prices over many
    # binades or extreme ones: subnormal, huge, both signs; a NaN close, a repeated candle):
    # the windowed average computed over the new bars only is, at every bar and every index,
    # the recompute over the whole buffer
    from omegafarm.bots.feed import Indicator

    rng = np.random.default_rng(n)
    closes = np.exp(rng.normal(0, 3, 400))
    if extreme:
        closes = rng.choice([5e-324, -1e-310, 1e-300, 0.0, -0.0, 1e300, -3.5, 100.25], 400)
    closes[150] = np.nan
    start = np.column_stack([np.arange(40.0), *(np.ones(40),) * 3, closes[:40], np.ones(40)])
    feed = CandleFeed(start, capacity=60)
    live = Indicator(feed, sma, ("close", n), {})
    assert live._window == n and live._step is not None  # extended, not recomputed
    for i in range(40, 400):
        row = [float(i), 1.0, 1.0, 1.0, float(closes[i]), 1.0]
        assert feed.append(row)
        assert not feed.append(row)  # a repeat changes nothing
        if i % 7 == 0:
            continue  # some bars are not read at once: two or more new ones next time
        expected = sma(feed.close, n)
        np.testing.assert_array_equal(live.values, expected)
        assert live[-1] == expected[-1] or (np.isnan(live[-1]) and np.isnan(expected[-1]))
        a2, a1 = live.last2()
        np.testing.assert_array_equal([a2, a1], expected[-2:])
    assert feed.dropped > 0  # the buffer was regrown (rows dropped) along the way


def test_an_average_of_a_given_array_is_recomputed_not_extended() -> None:
    from omegafarm.bots.feed import Indicator

    feed = CandleFeed(np.ones((10, 6)))
    assert Indicator(feed, sma, (np.arange(10.0), 3), {})._window is None
    assert Indicator(feed, sma, ("close",), {"n": 4})._window == 4


def test_a_short_series_takes_the_python_path_with_the_same_values() -> None:
    # every kind of float the two paths could disagree on: many binades, signs, subnormals,
    # zeros of both signs, huge values, non-finite ones; each compared with the numpy path
    from omegafarm.bots import feed as feed_module

    rng = np.random.default_rng(11)
    for trial in range(600):
        m = int(rng.integers(1, feed_module._SHORT + 1))
        n = int(rng.integers(1, m + 1))
        kind = trial % 5
        if kind == 0:
            v = rng.normal(0, 1, m) * 10.0 ** int(rng.integers(-300, 300))
        elif kind == 1:
            v = np.exp(rng.normal(0, 50, m)) * rng.choice([-1, 1], m)
        elif kind == 2:
            v = rng.choice([5e-324, 1e-310, -2e-320, 0.0, -0.0, 1e308, 3.0, 2.0**60], m)
        elif kind == 3:
            v = rng.choice([np.nan, np.inf, -np.inf, 1.5], m)
        else:
            v = rng.normal(100, 1, m)
            v[rng.integers(0, m)] = rng.choice([np.nan, np.inf, -np.inf])
        short = sma(v, n)
        numpy_path = sma(np.concatenate((np.ones(feed_module._SHORT), v)), n)[-m:]
        numpy_path[: n - 1] = np.nan  # those windows reach into the padding
        assert np.array_equal(short, numpy_path, equal_nan=True), (trial, n)
        assert np.array_equal(np.signbit(short), np.signbit(numpy_path)), (trial, n)
