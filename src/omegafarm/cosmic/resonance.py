"""Resonance: is there more spectral power at a reference frequency than the background allows?

"Resonance with natural frequencies" is tested, not assumed. For each reference (a frequency in
Hz or a period in seconds, e.g. the 7.83 Hz Schumann resonance or a 24-hour day) we ask:

1. Can it be measured at all? A series sampled every ``sample_period_s`` seconds carries no
   information above its Nyquist frequency ``1 / (2 * sample_period_s)``: 7.83 Hz on 5-minute bars
   is about 4,700 times above it, so any "power" there would be aliasing. Such references (and ones
   with fewer than two full cycles in the series) are reported as *not measurable*, with the
   reason, never as a signal.
2. If measurable: the power of the detrended, Hann-tapered series at exactly that frequency,
   divided by a smooth background spectrum (a power law fitted to the periodogram in log-log,
   which is what prices look like: red noise). The p-value compares this ratio with the same
   ratio on phase-randomized surrogates of the smooth background (random phases and Gaussian
   amplitudes, i.e. Gaussian noise with the series' own background spectrum, put through the
   same detrend, taper, and refit). Plain phase randomization of the raw spectrum would keep
   any peak and make the test blind, so the amplitudes come from the smoothed spectrum.
3. p-values are Holm-adjusted over the measurable references of one call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import FLAT_TOLERANCE, FloatArray, as_price_array, is_straight_line

SCHUMANN_HZ = 7.83
_MIN_BARS = 32


@dataclass(frozen=True)
class ResonanceResult:
    """One reference frequency: measurable or not (and why), power ratio and p-values."""

    label: str
    frequency_hz: float
    period_s: float
    period_bars: float
    measurable: bool
    reason: str
    power_ratio: float = math.nan  # observed power / background power at the frequency
    p_value: float = math.nan
    p_adjusted: float = math.nan  # Holm over the measurable references of the call
    significant: bool = False


References = Sequence[float] | Mapping[str, float]


def _named(values: References | None, unit: str, to_hz: bool) -> list[tuple[str, float]]:
    if values is None:
        return []
    items = (
        list(values.items())
        if isinstance(values, Mapping)
        else [(f"{v:g} {unit}", v) for v in values]
    )
    out = []
    for label, v in items:
        if not (math.isfinite(v) and v > 0):
            raise ValidationError(f"reference {label!r} must be a positive number, got {v!r}")
        out.append((str(label), 1.0 / v if to_hz else float(v)))
    return out


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error control), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _prepare(y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Detrend each row linearly and apply a Hann taper; returns (tapered rows, taper)."""
    n = y.shape[-1]
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    centred = y - y.mean(axis=-1, keepdims=True)
    slope = (centred @ t) / float(t @ t)
    detrended = centred - np.multiply.outer(slope, t)
    taper = 0.5 - 0.5 * np.cos(2.0 * np.pi * (np.arange(n) + 0.5) / n)
    return detrended * taper, taper


def _background_ratio(tapered: FloatArray, f_bars: FloatArray) -> FloatArray:
    """Power at ``f_bars`` (cycles/bar) over a log-log power-law fit of each row's periodogram."""
    rows = np.atleast_2d(tapered)
    n = rows.shape[-1]
    spec = np.fft.rfft(rows, axis=-1)
    freqs = np.fft.rfftfreq(n)
    use = freqs >= 2.0 / n
    logf = np.log(freqs[use])
    logp = np.log(np.abs(spec[:, use]) ** 2 + np.finfo(np.float64).tiny)
    design = np.column_stack([np.ones_like(logf), logf])
    coef, *_ = np.linalg.lstsq(design, logp.T, rcond=None)  # (2, rows)
    t = np.arange(n, dtype=np.float64)
    basis = np.exp(-2j * np.pi * np.outer(t, f_bars))  # (n, k)
    power = np.abs(rows @ basis) ** 2  # (rows, k)
    background = np.exp(coef[0][:, None] + coef[1][:, None] * np.log(f_bars)[None, :])
    ratio: FloatArray = power / background
    return ratio


def _surrogates(tapered: FloatArray, n_sur: int, rng: np.random.Generator) -> FloatArray:
    """Gaussian series with the power-law background spectrum of ``tapered`` (random phases)."""
    n = tapered.shape[0]
    freqs = np.fft.rfftfreq(n)
    spec = np.fft.rfft(tapered)
    use = freqs >= 2.0 / n
    slope, intercept = np.polyfit(np.log(freqs[use]), np.log(np.abs(spec[use]) ** 2 + 1e-300), 1)
    safe = np.maximum(freqs, 1.0 / n)
    amp = np.sqrt(np.exp(intercept + slope * np.log(safe)) / 2.0)
    coeffs = amp * (
        rng.standard_normal((n_sur, freqs.size)) + 1j * rng.standard_normal((n_sur, freqs.size))
    )
    coeffs[:, 0] = 0.0
    series: FloatArray = np.fft.irfft(coeffs, n=n, axis=-1)
    return series


def _measurability(f_hz: float, dt_s: float, n: int) -> str:
    nyquist = 0.5 / dt_s
    if f_hz > nyquist:
        return (
            f"not measurable: above the Nyquist frequency {nyquist:.3g} Hz of {dt_s:g} s bars "
            f"(by {f_hz / nyquist:,.0f}x); any power there would be aliasing"
        )
    if f_hz * dt_s * n < 2.0:
        return f"not measurable: fewer than 2 full cycles in {n} bars"
    if n < _MIN_BARS:
        return f"not measurable: need at least {_MIN_BARS} bars, got {n}"
    return ""


def calculate_resonance(
    close: npt.ArrayLike,
    sample_period_s: float,
    reference_periods_s: References | None = None,
    reference_frequencies_hz: References | None = None,
    *,
    n_surrogates: int = 199,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[ResonanceResult, ...]:
    """Power at each reference period/frequency vs background, with surrogate p-values."""
    if not (math.isfinite(sample_period_s) and sample_period_s > 0):
        raise ValidationError(f"sample_period_s must be > 0, got {sample_period_s!r}")
    x = as_price_array(close, "close")
    refs = _named(reference_frequencies_hz, "Hz", to_hz=False)
    refs += _named(reference_periods_s, "s period", to_hz=True)
    n = x.shape[0]
    results = [
        ResonanceResult(label, f, 1.0 / f, 1.0 / (f * sample_period_s), False, why)
        for label, f in refs
        if (why := _measurability(f, sample_period_s, n))
    ]
    todo = [(label, f) for label, f in refs if not _measurability(f, sample_period_s, n)]
    positive = bool((x > 0).all())
    y = np.log(x) if positive else x
    # flat relative to the price level (log units are relative already): scale-free
    level = 1.0 if positive else float(np.abs(x).max(initial=0.0))
    why = ""
    if todo and float(np.ptp(y)) <= FLAT_TOLERANCE * level:
        why = "flat series"
    elif todo and is_straight_line(y, level):
        why = "not measurable: a straight line, nothing is left after the linear detrend"
    if why:
        results += [
            ResonanceResult(lb, f, 1.0 / f, 1.0 / (f * sample_period_s), False, why)
            for lb, f in todo
        ]
        todo = []
    if todo:
        results += _test_references(y, sample_period_s, todo, n_surrogates, alpha, seed)
    by_label = {r.label: r for r in results}
    return tuple(by_label[label] for label, _ in refs if label in by_label)


def _test_references(
    y: FloatArray,
    dt_s: float,
    refs: list[tuple[str, float]],
    n_sur: int,
    alpha: float,
    seed: int,
) -> list[ResonanceResult]:
    f_bars = np.array([f * dt_s for _, f in refs])
    tapered, _ = _prepare(y)
    observed = _background_ratio(tapered, f_bars)[0]
    sur = _surrogates(tapered, n_sur, np.random.default_rng(seed))
    null = _background_ratio(_prepare(sur)[0], f_bars)  # (n_sur, k)
    p = [(1.0 + float((null[:, j] >= observed[j]).sum())) / (n_sur + 1.0) for j in range(len(refs))]
    p_adj = holm(p)
    out = []
    for j, (label, f) in enumerate(refs):
        ratio, pv, pa = float(observed[j]), p[j], p_adj[j]
        out.append(
            ResonanceResult(label, f, 1 / f, 1 / (f * dt_s), True, "", ratio, pv, pa, pa < alpha)
        )
    return out
