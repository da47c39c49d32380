"""Charts of the cosmic analysis: candles, pivots, Fibonacci levels, XABCD patterns, cycle.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global state, no display).
The top panel shows the last ``bars`` candles with zig-zag pivots (a dotted tick joins each
extreme to the bar where it became known), the retracements of the last confirmed swing, and
the completed and forming harmonic patterns; the lower panel shows the dominant cycle period
track and the fitted cycle wave with its projected turning points and their 95 % bands, titled
with the red-noise p-value. This is the only cosmic module that writes a file (:func:`save_chart`).

A ``.png`` is this static picture; a ``.html`` is the same analysis drawn with Bokeh
(``_chart_html``: zoom, pan and hover on a linked time axis, self-contained).
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic._ohlcv import Ohlcv, OhlcvInput, as_ohlcv
from omegafarm.cosmic.cycles import CycleAnalysis, predict_cycles
from omegafarm.cosmic.fibonacci import fibonacci_levels
from omegafarm.cosmic.harmonics import HarmonicConfig, Pattern, identify_patterns
from omegafarm.cosmic.pivots import Pivots, ZigZagConfig

_UP, _DOWN = "#26a69a", "#ef5350"
_PATTERN_COLOURS = ("#7e57c2", "#ff9800", "#1e88e5", "#8d6e63", "#00acc1", "#d81b60")


def _candles(ax: Axes, bars: Ohlcv, lo: int) -> None:
    x = np.arange(lo, len(bars))
    o, h, low, c = (a[lo:] for a in (bars.open, bars.high, bars.low, bars.close))
    colour = [_UP if up else _DOWN for up in (c >= o).tolist()]
    ax.vlines(x, low, h, colors=colour, linewidth=0.6)
    body = np.maximum(np.abs(c - o), (h - low).max(initial=0.0) * 1e-3)
    ax.bar(x, body, bottom=np.minimum(o, c), width=0.7, color=colour, linewidth=0)


def _pivots(ax: Axes, piv: Pivots, lo: int) -> None:
    keep = piv.index >= lo
    for i, ci, p, k in zip(
        piv.index[keep], piv.confirmed_index[keep], piv.price[keep], piv.kind[keep], strict=True
    ):
        ax.plot([i, ci], [p, p], ":", color="#555555", linewidth=0.8)
        ax.plot(i, p, "v" if k > 0 else "^", color=_DOWN if k > 0 else _UP, markersize=6)
    ax.plot([], [], "^", color=_UP, label="pivot (dotted: until known)")


def _fib(ax: Axes, piv: Pivots, lo: int, hi: int) -> None:
    if len(piv) < 2:
        return
    levels = fibonacci_levels(float(piv.price[-2]), float(piv.price[-1]))
    start = max(lo, int(piv.index[-2]))
    for lv in levels.retracements:
        ax.hlines(lv.price, start, hi, colors="#9e9e9e", linewidth=0.7, linestyles="--")
        ax.text(hi, lv.price, f" {lv.ratio:g}", fontsize=7, va="center", color="#616161")


def _patterns(ax: Axes, patterns: list[Pattern], lo: int) -> None:
    for j, pat in enumerate(patterns):
        colour = _PATTERN_COLOURS[j % len(_PATTERN_COLOURS)]
        pts = [
            (b, p)
            for b, p in zip(pat.bars, pat.prices, strict=True)
            if b >= 0 and not math.isnan(p)
        ]
        if not pts or pts[0][0] < lo:
            continue
        xs, ys = zip(*pts, strict=True)
        style = "-" if pat.status == "completed" else "--"
        label = f"{pat.label} {pat.direction} ({pat.status}, score {pat.score:.2f})"
        ax.plot(xs, ys, style, color=colour, linewidth=1.4, label=label)
        for name, x, y in zip("XABCD", xs, ys, strict=False):
            ax.annotate(
                name, (x, y), fontsize=7, color=colour, xytext=(2, 2), textcoords="offset points"
            )
        if pat.status == "forming":
            ax.axhspan(min(pat.prz), max(pat.prz), xmin=0.9, color=colour, alpha=0.15)


def _cycle(ax: Axes, result: CycleAnalysis, lo: int, n: int) -> None:
    track = result.track
    x = np.arange(lo, n)
    period = track.period[lo:]
    ax.plot(x, period, ".", color="#1e88e5", markersize=2, label="raw spectral peak (bars)")
    share = float(np.isfinite(period).mean()) if period.size else 0.0
    ax.text(
        0.99, 0.9, f"interior spectral peak in {share:.0%} of bars (else: red noise, no period)",
        transform=ax.transAxes, ha="right", fontsize=7, color="#555555",
    )  # fmt: skip
    ax.set_ylabel("period, bars", fontsize=8)
    wave_ax = ax.twinx()
    wave = track.amplitude[lo:] * np.cos(track.phase[lo:])
    wave_ax.plot(x, wave, color="#fb8c00", linewidth=0.9, label="cycle wave (log price)")
    wave_ax.set_ylabel("cycle", fontsize=8)
    if result.significant:  # the tested cycle: fitted on the last window, projected forward
        p = result.dominant_period
        xs = np.arange(max(lo, n - 128), n + int(2 * p) + 1)
        fit = result.amplitude * np.cos(result.phase + 2 * np.pi * (xs - (n - 1)) / p)
        wave_ax.plot(xs, fit, color="#6a1b9a", linewidth=1.3, label=f"tested {p:.1f}-bar cycle")
        wave_ax.legend(loc="lower left", fontsize=7)
    for tp in result.turning_points[:2]:  # the next crest and trough; later ones blur
        colour = _DOWN if tp.kind == "peak" else _UP
        wave_ax.axvspan(n - 1 + tp.low, n - 1 + tp.high, color=colour, alpha=0.15)
        wave_ax.axvline(tp.bar_index, color=colour, linewidth=0.8)
    ax.set_title(result.message or "cycle", fontsize=9, loc="left")
    ax.legend(loc="upper left", fontsize=7)


def chart_figure(
    ohlcv: OhlcvInput,
    *,
    bars: int = 300,
    zigzag: ZigZagConfig | None = None,
    title: str = "",
    max_patterns: int = 6,
) -> Figure:
    """The two-panel figure for the last ``bars`` candles (analysis uses all of them)."""
    data = as_ohlcv(ohlcv)
    n = len(data)
    if n < 2:
        raise ValidationError(f"need at least 2 candles to draw a chart, got {n}")
    lo = max(0, n - bars)
    scan = identify_patterns(data, HarmonicConfig(zigzag=zigzag) if zigzag else None)
    cyc = predict_cycles(data.close)
    fig = Figure(figsize=(12, 7.5), dpi=110)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    _candles(top, data, lo)
    _pivots(top, scan.pivots, lo)
    _fib(top, scan.pivots, lo, n + max(5, (n - lo) // 12))
    shown = [p for p in (*scan.completed, *scan.forming) if p.bars[0] >= lo or p.bars[1] >= lo]
    _patterns(top, shown[-max_patterns:], lo)
    top.legend(loc="upper left", fontsize=7)
    top.set_title(
        title or "candles, pivots, Fibonacci retracements, harmonic patterns", fontsize=10
    )
    _cycle(bottom, cyc, lo, n)
    ts = data.ts_ms

    def fmt(x: float, _pos: object) -> str:
        i = round(x)
        if 0 <= i < n:
            return datetime.fromtimestamp(ts[i] / 1000, tz=UTC).strftime("%m-%d %H:%M")
        return f"+{i - n + 1}" if i >= n else ""

    bottom.xaxis.set_major_formatter(FuncFormatter(fmt))
    bottom.set_xlim(lo - 1, n + max(5, (n - lo) // 10))
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def save_chart(ohlcv: OhlcvInput, out: Path, *, bars: int = 300, title: str = "") -> Path:
    """Write the chart to ``out``: ``.png`` or a self-contained ``.html``."""
    suffix = out.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise ValidationError(f"chart output must end in .png or .html, got {out.name!r}")
    if suffix == ".png":
        out.write_bytes(png_bytes(chart_figure(ohlcv, bars=bars, title=title)))
    else:
        out.write_text(html_chart(ohlcv, bars=bars, title=title or out.stem), encoding="utf-8")
    return out


def html_chart(
    ohlcv: OhlcvInput, *, bars: int = 300, title: str = "", max_patterns: int = 6
) -> str:
    """The interactive page (Bokeh: zoom, pan, hover) of the same analysis as the PNG."""
    from omegafarm.cosmic._chart_html import html_chart as draw

    data = as_ohlcv(ohlcv)
    n = len(data)
    if n < 2:
        raise ValidationError(f"need at least 2 candles to draw a chart, got {n}")
    lo = max(0, n - bars)
    scan = identify_patterns(data)
    shown = [p for p in (*scan.completed, *scan.forming) if p.bars[0] >= lo or p.bars[1] >= lo]
    cyc = predict_cycles(data.close)
    return draw(data, scan.pivots, shown[-max_patterns:], cyc, lo=lo, title=title)
