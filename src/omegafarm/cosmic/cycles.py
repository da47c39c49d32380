"""Dominant market cycles: a detrended, Hann-windowed sliding periodogram tested against red noise.

Why this estimator: a cycle of period P inside a window of W bars is a narrow peak in that
window's spectrum once the trend is removed (linear detrend) and leakage is suppressed (Hann
taper). Evaluating the spectrum on a 2x oversampled frequency grid and interpolating the peak
on log power gives sub-bin accuracy (about 2 % on a period-40 sine in unit noise, where TA-Lib's
Hilbert-transform ``HT_DCPERIOD`` is off by more than half, pulled toward short periods by the
noise). Ehlers' autocorrelation periodogram is the same idea with an extra roofing filter; we
keep the plain periodogram because its null distribution is easy to simulate honestly.

Detrending, tapering and the DFT are one linear map, so the spectra of all sliding windows are
one matrix product ``windows @ G`` (``numpy.lib.stride_tricks.sliding_window_view``), done in
chunks. With many bars the spectrum is refreshed every ``step`` bars and held in between (still
no look-ahead: bar ``t`` only ever sees windows ending at or before ``t``).

Significance: prices are red noise, whose detrended spectrum always has *a* highest point. The
Welch-averaged spectrum of the recent bars is divided by the mean spectrum of red-noise
surrogates fitted to the same bars (AR(1) levels; for integrated series like prices a random
walk with the series' own AR(1) steps and sign-flipped innovations, which keeps bid-ask bounce,
fat tails and volatility clustering in the null) and the largest ratio is compared
with the largest ratios of the surrogates (a max-statistic, so the search over periods is paid
for). On a random walk the answer is "no significant cycle" about 95 % of the time at alpha 5 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import FLAT_TOLERANCE, FloatArray, as_price_array, is_straight_line

_CHUNK_WINDOWS = 4096
_MAX_SPECTRA = 65_536
_FLOAT32_FROM = 16_384
_OVERSAMPLE = 2


@dataclass(frozen=True)
class SpectralBasis:
    """The linear map window -> detrended, Hann-tapered DFT on a frequency grid (cycles/bar)."""

    window: int
    freqs: FloatArray
    matrix: FloatArray  # (window, 2 * len(freqs)): real parts then imaginary parts
    coherent_gain: float

    @property
    def periods(self) -> FloatArray:
        """The grid as periods in bars."""
        return 1.0 / self.freqs


def spectral_basis(window: int, min_period: float, max_period: float) -> SpectralBasis:
    """Build the window -> spectrum map; the DFT phase is referenced to the window centre."""
    if window < 8 or not (2.0 <= min_period < max_period <= window):
        raise ValidationError(
            f"need window >= 8 and 2 <= min_period < max_period <= window, got "
            f"window={window}, min_period={min_period}, max_period={max_period}"
        )
    df = 1.0 / (_OVERSAMPLE * window)
    f_lo, f_hi = 1.0 / max_period, 1.0 / min_period
    n_f = max(3, math.ceil((f_hi - f_lo) / df) + 1)
    freqs = np.linspace(f_lo, f_hi, n_f)
    t = np.arange(window, dtype=np.float64)
    tc = t - (window - 1) / 2.0
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * (t + 0.5) / window)
    # (I - P) with P the projection on {1, t}; symmetric, so x^T (I-P) diag(h) F = x^T G.
    design = np.column_stack([np.ones(window), tc])
    proj = design @ np.linalg.pinv(design)
    detrend = np.eye(window) - proj
    arg = 2.0 * np.pi * np.outer(tc, freqs)
    dft = np.concatenate([np.cos(arg), -np.sin(arg)], axis=1) * hann[:, None]
    matrix = np.ascontiguousarray(detrend @ dft)
    return SpectralBasis(window, freqs, matrix, float(hann.sum()))


def window_spectra(
    x: FloatArray, basis: SpectralBasis, step: int = 1
) -> tuple[FloatArray, FloatArray]:
    """Real and imaginary spectra of the windows ending at bars ``W-1, W-1+step, ...`` (rows).

    Each window is taken minus its first value (in float64): the detrend removes that constant
    anyway, and the values left are the window's local moves, so rounding is relative to the
    window (as the incremental tracker does it) rather than to a far-away value of the series.
    From ``_FLOAT32_FROM`` windows on, the product runs in float32 on those local moves:
    float32 halves the time of the one expensive step. Relative periods differ from float64
    by under 1e-5 relative (see the tests).
    """
    views = sliding_window_view(x, basis.window)[::step]
    k = basis.freqs.shape[0]
    single = views.shape[0] >= _FLOAT32_FROM
    dtype = np.float32 if single else np.float64
    matrix = basis.matrix.astype(dtype)
    out = np.empty((views.shape[0], 2 * k), dtype=dtype)
    for s in range(0, views.shape[0], _CHUNK_WINDOWS):
        chunk = views[s : s + _CHUNK_WINDOWS]
        local = chunk - chunk[:, :1]  # exact for nearby values (Sterbenz); see the docstring
        np.matmul(local.astype(dtype, copy=False), matrix, out=out[s : s + _CHUNK_WINDOWS])
    return out[:, :k].astype(np.float64), out[:, k:].astype(np.float64)


def _interpolated_peak(
    power: FloatArray, freqs: FloatArray
) -> tuple[FloatArray, npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Peak frequency per row (log-parabolic interpolation), its grid index, interior flag."""
    idx = np.argmax(power, axis=1)
    rows = np.arange(power.shape[0])
    interior = (idx > 0) & (idx < power.shape[1] - 1)
    i = np.clip(idx, 1, power.shape[1] - 2)
    tiny = np.finfo(np.float64).tiny
    a = np.log(power[rows, i - 1] + tiny)
    b = np.log(power[rows, i] + tiny)
    c = np.log(power[rows, i + 1] + tiny)
    denom = a - 2.0 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (a - c) / denom, 0.0)
    delta = np.clip(np.where(interior, delta, 0.0), -0.5, 0.5)
    df = freqs[1] - freqs[0]
    return freqs[idx] + delta * df, idx, interior


@dataclass(frozen=True)
class CycleTrack:
    """Per-bar dominant cycle (NaN where no window has ended yet or no interior peak exists)."""

    period: FloatArray  # bars
    strength: FloatArray  # peak power / total band power, 0..1
    phase: FloatArray  # radians at the bar: 0 = crest, pi = trough, cycle value = A cos(phase)
    amplitude: FloatArray  # in units of the analysed series (log price if prices are positive)
    step: int


def _is_log(close: FloatArray) -> bool:
    """Prices are analysed in log (scale-free) when all are positive."""
    return bool(close.size) and bool((close > 0).all())


def _analysed(close: FloatArray) -> FloatArray:
    """Log prices when all positive (scale-free), else the raw series."""
    return np.log(close) if _is_log(close) else close


def _flat_power(basis: SpectralBasis) -> float:
    """Spectral power of a cosine of amplitude ``FLAT_TOLERANCE``: a window with less total
    power, times its level squared, is flat. The level is 1 for log prices (log units are
    already relative), else the largest absolute value in the window (rounding is relative
    to it)."""
    return (0.5 * FLAT_TOLERANCE * basis.coherent_gain) ** 2


def _resolve_step(n: int, window: int, step: int | None) -> int:
    if step is not None:
        if step < 1:
            raise ValidationError(f"step must be >= 1, got {step}")
        return step
    return max(1, math.ceil(max(n - window + 1, 0) / _MAX_SPECTRA))


def cycle_track(
    close: npt.ArrayLike,
    *,
    window: int = 128,
    min_period: float = 8.0,
    max_period: float | None = None,
    step: int | None = None,
) -> CycleTrack:
    """Dominant period, strength, phase and amplitude at every bar, from past bars only."""
    raw = as_price_array(close, "close")
    x = _analysed(raw)
    n = x.shape[0]
    basis = spectral_basis(window, min_period, max_period or window / 2.0)
    st = _resolve_step(n, window, step)
    if n < window:
        nan = np.full(n, np.nan)
        return CycleTrack(nan, nan.copy(), nan.copy(), nan.copy(), st)
    re, im = window_spectra(x, basis, st)
    power = re * re + im * im
    total = power.sum(axis=1)
    f_hat, idx, interior = _interpolated_peak(power, basis.freqs)
    rows = np.arange(re.shape[0])
    peak = power[rows, idx]
    # A window that is flat up to rounding has only rounding noise for a spectrum: its peak
    # would depend on the price scale. The floor is relative to the price level, not to the
    # series' own moves (a series of 1-ulp blips would clear a floor set by its own reach).
    level = 1.0 if _is_log(raw) else sliding_window_view(np.abs(raw), window)[::st].max(axis=1)
    valid = interior & (total > _flat_power(basis) * level**2)
    nan_or_0 = np.where(valid, 0.0, np.nan)  # NaN marks "no interior peak" in every output
    with np.errstate(divide="ignore", invalid="ignore"):
        compact = {
            "period": 1.0 / f_hat + nan_or_0,
            "strength": peak / total + nan_or_0,
            "amplitude": 2.0 * np.sqrt(peak) / basis.coherent_gain + nan_or_0,
        }
    centre_phase = np.arctan2(im[rows, idx], re[rows, idx]) + nan_or_0
    # hold each estimate for `st` bars (advancing the phase); bar t sees windows ending <= t
    m = n - window + 1
    out = {name: _held(vals, st, n, window) for name, vals in compact.items()}
    lag = np.pi * f_hat * (window - 1) + centre_phase
    phase = np.empty(n)
    phase[: window - 1] = np.nan
    held = lag[:, None] + (2.0 * np.pi * f_hat)[:, None] * np.arange(st, dtype=np.float64)
    np.mod(held.ravel()[:m], 2.0 * np.pi, out=phase[window - 1 :])
    return CycleTrack(out["period"], out["strength"], phase, out["amplitude"], st)


def _held(vals: FloatArray, step: int, n: int, window: int) -> FloatArray:
    """Per-bar array: NaN before the first window, then each value repeated ``step`` times."""
    out = np.empty(n)
    out[: window - 1] = np.nan
    out[window - 1 :] = np.repeat(vals, step)[: n - window + 1]
    return out


@dataclass(frozen=True)
class CyclePeak:
    """One period that stands out of the red-noise background, with its max-statistic p-value."""

    period: float
    power_ratio: float  # observed / red-noise spectrum at this period
    p_value: float


@dataclass(frozen=True)
class TurningPoint:
    """A projected crest (``kind='peak'``) or trough, in bars after the last bar, with a band."""

    kind: str
    bars_ahead: float
    bar_index: float
    low: float  # 95 % band, bars ahead
    high: float


@dataclass(frozen=True)
class CycleAnalysis:
    """The answer of :func:`predict_cycles`: a per-bar track plus a tested summary of the end."""

    track: CycleTrack
    n_bars: int
    significant: bool
    p_value: float
    dominant_period: float  # NaN when nothing was tested
    peaks: tuple[CyclePeak, ...] = ()
    phase: float = math.nan
    amplitude: float = math.nan
    turning_points: tuple[TurningPoint, ...] = ()
    message: str = ""
    alpha: float = 0.05

    @property
    def is_empty(self) -> bool:
        """True when the input was too short or flat to analyse."""
        return math.isnan(self.dominant_period)


def _empty_analysis(track: CycleTrack, n: int, alpha: float, why: str) -> CycleAnalysis:
    return CycleAnalysis(track, n, False, 1.0, math.nan, message=why, alpha=alpha)


def _welch_shape(x: FloatArray, basis: SpectralBasis) -> FloatArray:
    """Mean spectrum over half-overlapping windows of each row of ``x``, normalised to sum 1."""
    w = basis.window
    hop = max(1, w // 2)
    rows = np.atleast_2d(x)
    starts = np.arange(rows.shape[1] - w, -1, -hop)[::-1]  # aligned to the last bar
    segs = rows[:, starts[:, None] + np.arange(w)]  # (r, s, w)
    flat = segs.reshape(-1, w)
    flat = flat - flat[:, :1]
    proj = flat @ basis.matrix
    k = basis.freqs.shape[0]
    power = (proj[:, :k] ** 2 + proj[:, k:] ** 2).reshape(rows.shape[0], len(starts), k)
    mean = power.mean(axis=1)
    tot = mean.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, mean / tot, 0.0)


def _lag1(v: FloatArray) -> float:
    den = float(v[:-1] @ v[:-1])
    return float((v[1:] @ v[:-1]) / den) if den > 0 else 0.0


def _ar1_surrogates(x: FloatArray, n_sur: int, rng: np.random.Generator) -> FloatArray:
    """Red-noise surrogates fitted to ``x``.

    Stationary series (lag-1 autocorrelation of the detrended levels up to 0.9): Gaussian
    AR(1). Integrated series such as prices: a random walk whose steps keep the series' own
    AR(1) step dependence (bid-ask bounce) and its own innovations with random signs (a wild
    bootstrap), so volatility clustering and fat tails are in the null too. With Gaussian
    steps instead, a random walk with stochastic volatility showed "cycles" in 16 of 40 runs.
    """
    from scipy.signal import lfilter  # here: scipy.signal costs ~1 s at import

    t = np.arange(x.shape[0], dtype=np.float64)
    phi = _lag1(x - np.polyval(np.polyfit(t, x, 1), t))
    if phi <= 0.9 or x.shape[0] < 4:
        noise = rng.standard_normal((n_sur, x.shape[0] + 200))
        series: FloatArray = lfilter([1.0], [1.0, -max(phi, 0.0)], noise, axis=1)[:, 200:]
        return series
    steps = np.diff(x)
    steps = steps - steps.mean()
    phi_d = float(np.clip(_lag1(steps), -0.9, 0.9))
    innov = np.concatenate([steps[:1], steps[1:] - phi_d * steps[:-1]])
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_sur, innov.size))
    new_steps = lfilter([1.0], [1.0, -phi_d], signs * innov, axis=1)
    walk: FloatArray = np.concatenate([np.zeros((n_sur, 1)), np.cumsum(new_steps, axis=1)], axis=1)
    return walk


def _red_noise_test(
    x: FloatArray, basis: SpectralBasis, n_sur: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Observed spectrum, ratio observed/null and the surrogates' max ratios (null of the max)."""
    obs = _welch_shape(x, basis)[0]
    sur = _welch_shape(_ar1_surrogates(x, n_sur, rng), basis)
    null = sur.mean(axis=0)
    ratio = obs / null
    return obs, ratio, (sur / null).max(axis=1)


def _amplitude_text(raw: FloatArray, amp: float) -> str:
    """Amplitude as a percentage of price (log scale) or in the series' units."""
    return f"{100.0 * amp:.2g} % of price" if bool((raw > 0).all()) else f"{amp:.3g}"


def _period_sd(recent: FloatArray, period: float, window: int) -> float:
    """Spread of the recent per-bar estimates near ``period`` (within 20 %), or, with fewer
    than 10 of them, the spectral resolution ``period^2 / (2 window)``."""
    near = recent[np.isfinite(recent) & (np.abs(recent - period) <= 0.2 * period)]
    resolution = period**2 / (2.0 * window)
    return float(np.std(near)) if near.size >= 10 else resolution


def _turning_points(
    period: float, phase: float, period_sd: float, phase_sd: float, n: int, count: int = 2
) -> tuple[TurningPoint, ...]:
    """Next ``count`` crests and troughs of ``A cos(phase + 2 pi k / period)``."""
    out: list[TurningPoint] = []
    for kind, target in (("peak", 0.0), ("trough", math.pi)):
        first = ((target - phase) % (2.0 * math.pi)) / (2.0 * math.pi) * period
        for j in range(count):
            ahead = first + j * period
            cycles = ahead / period
            sd = math.hypot(cycles * period_sd, phase_sd / (2.0 * math.pi) * period)
            low = max(0.0, ahead - 1.96 * sd)  # a band reaching into the past: "any time now"
            out.append(TurningPoint(kind, ahead, n - 1 + ahead, low, ahead + 1.96 * sd))
    return tuple(sorted(out, key=lambda tp: tp.bars_ahead))


def _fit_last_window(x: FloatArray, period: float, window: int) -> tuple[float, float, float]:
    """Least-squares cosine at ``period`` on the last window (with a linear trend).

    Returns amplitude, phase at the last bar and the phase standard error.
    """
    seg = x[-window:]
    t = np.arange(window, dtype=np.float64) - (window - 1)
    w = 2.0 * np.pi / period
    design = np.column_stack([np.cos(w * t), np.sin(w * t), np.ones(window), t])
    coef, *_ = np.linalg.lstsq(design, seg, rcond=None)
    a, b = float(coef[0]), float(coef[1])
    amp = math.hypot(a, b)
    resid = seg - design @ coef
    sigma = float(np.sqrt(resid @ resid / max(window - 4, 1)))
    phase = math.atan2(-b, a) % (2.0 * math.pi)  # a cos + b sin = amp cos(wt + phase)
    phase_sd = min(math.pi, sigma / (amp * math.sqrt(window / 2.0))) if amp > 0 else math.pi
    return amp, phase, phase_sd


def _nearest_local_max(spec: FloatArray, i: int, reach: int = 3) -> int:
    """The interior index of the largest value of ``spec`` within ``reach`` bins of ``i``."""
    lo, hi = max(1, i - reach), min(spec.shape[0] - 2, i + reach)
    return lo + int(np.argmax(spec[lo : hi + 1]))


def _significant_peaks(
    obs: FloatArray, ratio: FloatArray, max_null: FloatArray, basis: SpectralBasis, top: int = 3
) -> tuple[CyclePeak, ...]:
    """Largest local maxima of the ratio; located on the observed spectrum (unbiased by the
    division by the red-noise shape), tested with the max-statistic."""
    interior = np.flatnonzero((ratio[1:-1] > ratio[:-2]) & (ratio[1:-1] >= ratio[2:])) + 1
    order = interior[np.argsort(-ratio[interior])][:top]
    m = max_null.shape[0]
    peaks = []
    for i in order:
        j = _nearest_local_max(obs, i)
        f_hat, _, _ = _interpolated_peak(obs[j - 1 : j + 2][None, :], basis.freqs[j - 1 : j + 2])
        p = (1.0 + float((max_null >= ratio[i]).sum())) / (m + 1.0)
        peaks.append(CyclePeak(float(1.0 / f_hat[0]), float(ratio[i]), p))
    return tuple(peaks)


def predict_cycles(
    close: npt.ArrayLike,
    *,
    window: int = 128,
    min_period: float = 8.0,
    max_period: float | None = None,
    test_bars: int = 1024,
    n_surrogates: int = 199,
    alpha: float = 0.05,
    seed: int = 0,
) -> CycleAnalysis:
    """Dominant cycle track, red-noise p-value, current phase and projected turning points."""
    x_raw = as_price_array(close, "close")
    track = cycle_track(x_raw, window=window, min_period=min_period, max_period=max_period)
    n = x_raw.shape[0]
    if n < window + window // 2:
        return _empty_analysis(track, n, alpha, f"too short: need {window + window // 2} bars")
    x = _analysed(x_raw)
    seg = x[-max(test_bars, window + window // 2) :]
    level = 1.0 if _is_log(x_raw) else float(np.abs(seg).max())
    if float(np.ptp(seg)) <= FLAT_TOLERANCE * level:
        return _empty_analysis(track, n, alpha, "flat series: no cycle to measure")
    if is_straight_line(seg, level):
        return _empty_analysis(track, n, alpha, "a straight line: no cycle to measure")
    basis = spectral_basis(window, min_period, max_period or window / 2.0)
    obs, ratio, max_null = _red_noise_test(seg, basis, n_surrogates, np.random.default_rng(seed))
    peaks = _significant_peaks(obs, ratio, max_null, basis)
    if not peaks:
        return _empty_analysis(track, n, alpha, "no interior spectral peak")
    best = peaks[0]
    if best.p_value >= alpha:
        return CycleAnalysis(
            track, n, False, best.p_value, best.period, peaks,
            message=f"no significant cycle (p={best.p_value:.3f} against red noise)", alpha=alpha,
        )  # fmt: skip
    amp, phase, phase_sd = _fit_last_window(x, best.period, window)
    period_sd = _period_sd(track.period[-len(seg) :], best.period, window)
    turns = _turning_points(best.period, phase, period_sd, phase_sd, n)
    return CycleAnalysis(
        track, n, True, best.p_value, best.period, peaks, phase, amp, turns,
        f"cycle of {best.period:.1f} bars, amplitude {_amplitude_text(x_raw, amp)} "
        f"(p={best.p_value:.3f} against red noise)", alpha,
    )  # fmt: skip


@dataclass
class CycleState:
    """The dominant cycle of the latest window (what :class:`CycleTracker` returns)."""

    period: float
    strength: float
    phase: float
    amplitude: float


@dataclass
class CycleTracker:
    """Incremental dominant-cycle estimate: append one value, get the latest window's cycle.

    Each update is one ``window x 2K`` matrix-vector product (microseconds), the same map the
    batch :func:`cycle_track` applies, so both agree at every bar.
    """

    window: int = 128
    min_period: float = 8.0
    max_period: float | None = None
    _basis: SpectralBasis | None = field(default=None, repr=False)
    _buf: FloatArray = field(default_factory=lambda: np.empty(0), repr=False)
    _n: int = 0
    _log: bool | None = None

    def __post_init__(self) -> None:
        self._basis = spectral_basis(
            self.window, self.min_period, self.max_period or self.window / 2.0
        )
        self._buf = np.zeros(2 * self.window)

    def update(self, value: float) -> CycleState:
        """Append one close and return the cycle of the window ending at it (NaN until full)."""
        v = float(value)
        if not math.isfinite(v):
            raise ValidationError(f"cycle tracker values must be finite, got {value!r}")
        if self._log is None:
            self._log = v > 0
        elif self._log and v <= 0:
            raise ValidationError("tracker started on positive prices (log scale); got <= 0")
        w = self.window
        pos = self._n % w
        y = math.log(v) if self._log else v
        self._buf[pos] = y
        self._buf[pos + w] = y
        self._n += 1
        if self._n < w:
            return CycleState(math.nan, math.nan, math.nan, math.nan)
        start = self._n % w
        return self._state(self._buf[start : start + w])

    def _state(self, seg: FloatArray) -> CycleState:
        """The batch peak rule on one window, in plain floats (numpy call overhead dominates)."""
        basis = self._basis
        if basis is None:  # pragma: no cover - set in __post_init__
            raise ValidationError("tracker not initialised")
        proj = ((seg - seg[0]) @ basis.matrix).tolist()
        k = basis.freqs.shape[0]
        re, im = proj[:k], proj[k:]
        power = [a * a + b * b for a, b in zip(re, im, strict=True)]
        total = sum(power)
        i = max(range(k), key=power.__getitem__)
        level = 1.0 if self._log else max(abs(float(v)) for v in seg)
        if total <= _flat_power(basis) * level * level or not 0 < i < k - 1:
            return CycleState(math.nan, math.nan, math.nan, math.nan)
        tiny = np.finfo(np.float64).tiny
        la, lb, lc = (math.log(power[j] + tiny) for j in (i - 1, i, i + 1))
        denom = la - 2.0 * lb + lc
        delta = min(0.5, max(-0.5, 0.5 * (la - lc) / denom)) if denom < 0 else 0.0
        f0, f1 = float(basis.freqs[0]), float(basis.freqs[1])
        f = f0 + (i + delta) * (f1 - f0)
        phase = (math.atan2(im[i], re[i]) + math.pi * f * (self.window - 1)) % (2.0 * math.pi)
        amp = 2.0 * math.sqrt(power[i]) / basis.coherent_gain
        return CycleState(1.0 / f, power[i] / total, phase, amp)
