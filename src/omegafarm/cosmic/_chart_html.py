"""The interactive HTML chart of the cosmic analysis (Bokeh): what the PNG shows, with zoom,
pan and hover.

Top panel: the last ``bars`` candles, zig-zag pivots (hover: price and the bar it became
known), the retracements of the last confirmed swing, the harmonic patterns (hover: name,
status, score). Bottom panel, on the same time axis: the dominant-cycle period track, the cycle
wave, and the tested cycle projected forward with its next turning points. Pure: it returns the
page as a string; :func:`omegafarm.cosmic.chart.save_chart` writes the file it is given. Bokeh
is imported only here, when a chart is drawn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from omegafarm.cosmic._ohlcv import Ohlcv
from omegafarm.cosmic.cycles import CycleAnalysis
from omegafarm.cosmic.fibonacci import fibonacci_levels
from omegafarm.cosmic.harmonics import Pattern
from omegafarm.cosmic.pivots import Pivots

_UP, _DOWN = "#26a69a", "#ef5350"
_COLOURS = ("#7e57c2", "#ff9800", "#1e88e5", "#8d6e63", "#00acc1", "#d81b60")


def html_chart(
    data: Ohlcv,
    pivots: Pivots,
    patterns: list[Pattern],
    cycle: CycleAnalysis,
    *,
    lo: int,
    title: str,
) -> str:
    """The whole page (Bokeh's JavaScript inline: it opens without internet)."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models.widgets.markups import Div
    from bokeh.resources import INLINE

    n = len(data)
    tf_ms = float(np.median(np.diff(data.ts_ms))) if n > 1 else 60_000.0

    def when(i: Any) -> Any:  # bar index (may lie beyond the data) → datetime64
        ms = data.ts_ms[0] + np.asarray(i, dtype=float) * tf_ms
        inside = np.asarray(i) < n
        exact = data.ts_ms[np.clip(np.asarray(i, dtype=int), 0, n - 1)]
        return np.where(inside, exact, ms).astype("int64").astype("datetime64[ms]")

    price = _price(data, pivots, patterns, lo, n, when, tf_ms, title)
    cyc = _cycle(cycle, lo, n, when, price)
    notes = [cycle.message] + [
        f"next {tp.kind} in {tp.bars_ahead:.1f} bars (95 %: {tp.low:.1f}-{tp.high:.1f})"
        for tp in cycle.turning_points[:4]
    ]
    note = Div(text="<ul>" + "".join(f"<li>{_escape(t)}</li>" for t in notes if t) + "</ul>")
    page = column(price, cyc, note, sizing_mode="stretch_width")
    return str(file_html(page, INLINE, title))


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _price(
    data: Ohlcv, piv: Pivots, patterns: list[Pattern], lo: int, n: int, when: Any,
    tf_ms: float, title: str,
) -> Any:  # fmt: skip
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    fig = figure(
        title=title or "candles, pivots, Fibonacci retracements, harmonic patterns",
        x_axis_type="datetime", height=460, sizing_mode="stretch_width",
        tools="xpan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
    )  # fmt: skip
    idx = np.arange(lo, n)
    o, h, low, c = (a[lo:] for a in (data.open, data.high, data.low, data.close))
    src = ColumnDataSource(
        {"t": when(idx), "open": o, "high": h, "low": low, "close": c,
         "top": np.maximum(o, c), "bottom": np.minimum(o, c),
         "colour": np.where(c >= o, _UP, _DOWN)}
    )  # fmt: skip
    fig.segment("t", "high", "t", "low", source=src, color="colour")
    bars = fig.vbar("t", 0.7 * tf_ms, "top", "bottom", source=src, fill_color="colour",
                    line_color="colour")  # fmt: skip
    fig.add_tools(HoverTool(renderers=[bars], formatters={"@t": "datetime"},
                            tooltips=[("time", "@t{%F %T}"), ("open", "@open"), ("high", "@high"),
                                      ("low", "@low"), ("close", "@close")]))  # fmt: skip
    keep = piv.index >= lo
    if keep.any():
        psrc = ColumnDataSource(
            {"t": when(piv.index[keep]), "price": piv.price[keep],
             "known": when(piv.confirmed_index[keep]),
             "kind": np.where(piv.kind[keep] > 0, "high", "low"),
             "colour": np.where(piv.kind[keep] > 0, _DOWN, _UP)}
        )  # fmt: skip
        fig.segment("t", "price", "known", "price", source=psrc, color="#555555",
                    line_dash="dotted")  # fmt: skip
        marks = fig.scatter("t", "price", source=psrc, marker="diamond", size=9, color="colour",
                            legend_label="pivot (dotted: until known)")  # fmt: skip
        fig.add_tools(HoverTool(renderers=[marks], formatters={"@t": "datetime", "@known":
                                "datetime"}, tooltips=[("pivot", "@kind @price"),
                                ("at", "@t{%F %T}"), ("known", "@known{%F %T}")]))  # fmt: skip
    if len(piv) >= 2:
        levels = fibonacci_levels(float(piv.price[-2]), float(piv.price[-1]))
        start = max(lo, int(piv.index[-2]))
        end = n + max(5, (n - lo) // 12)
        for lv in levels.retracements:
            fig.line(when([start, end]), [lv.price, lv.price], color="#9e9e9e",
                     line_dash="dashed", legend_label="Fibonacci retracements")  # fmt: skip
    for j, pat in enumerate(patterns):
        pts = [(b, p) for b, p in zip(pat.bars, pat.prices, strict=True)
               if b >= 0 and not math.isnan(p)]  # fmt: skip
        if not pts or pts[0][0] < lo:
            continue
        xs, ys = zip(*pts, strict=True)
        label = f"{pat.label} {pat.direction} ({pat.status}, score {pat.score:.2f})"
        psrc = ColumnDataSource(
            {
                "t": when(list(xs)),
                "price": list(ys),
                "point": list("XABCD"[: len(xs)]),
                "name": [label] * len(xs),
            }
        )
        line = fig.line("t", "price", source=psrc, color=_COLOURS[j % len(_COLOURS)],
                        line_width=2, line_dash="solid" if pat.status == "completed" else "dashed",
                        legend_label=label)  # fmt: skip
        fig.add_tools(
            HoverTool(renderers=[line], tooltips=[("pattern", "@name"), ("point", "@point @price")])
        )
    fig.legend.location = "top_left"
    fig.legend.click_policy = "hide"
    return fig


def _cycle(result: CycleAnalysis, lo: int, n: int, when: Any, price: Any) -> Any:
    from bokeh.models import ColumnDataSource, HoverTool, LinearAxis, Range1d
    from bokeh.plotting import figure

    fig = figure(
        title=result.message or "cycle", x_axis_type="datetime", x_range=price.x_range,
        height=220, sizing_mode="stretch_width", tools="xpan,xwheel_zoom,box_zoom,reset",
    )  # fmt: skip
    track = result.track
    idx = np.arange(lo, n)
    period = track.period[lo:]
    src = ColumnDataSource({"t": when(idx), "period": period})
    dots = fig.scatter("t", "period", source=src, size=3, color="#1e88e5",
                       legend_label="raw spectral peak (bars)")  # fmt: skip
    fig.yaxis.axis_label = "period, bars"
    fig.add_tools(
        HoverTool(
            renderers=[dots],
            formatters={"@t": "datetime"},
            tooltips=[("time", "@t{%F %T}"), ("period", "@period{0.0}")],
        )
    )
    wave = track.amplitude[lo:] * np.cos(track.phase[lo:])
    finite = wave[np.isfinite(wave)]
    span = float(np.abs(finite).max()) if finite.size else 1.0
    fig.extra_y_ranges = {"wave": Range1d(start=-1.2 * span - 1e-12, end=1.2 * span + 1e-12)}
    fig.add_layout(LinearAxis(y_range_name="wave", axis_label="cycle"), "right")
    fig.line(when(idx), wave, y_range_name="wave", color="#fb8c00",
             legend_label="cycle wave (log price)")  # fmt: skip
    if result.significant:
        p = result.dominant_period
        xs = np.arange(max(lo, n - 128), n + int(2 * p) + 1)
        fit = result.amplitude * np.cos(result.phase + 2 * np.pi * (xs - (n - 1)) / p)
        fig.line(when(xs), fit, y_range_name="wave", color="#6a1b9a", line_width=2,
                 legend_label=f"tested {p:.1f}-bar cycle")  # fmt: skip
    for tp in result.turning_points[:2]:
        colour = _DOWN if tp.kind == "peak" else _UP
        left, right = when([n - 1 + tp.low, n - 1 + tp.high])
        fig.harea([left, right], [left, right], [-span, span], fill_color=colour,
                  fill_alpha=0.15, y_range_name="wave")  # fmt: skip
    fig.legend.location = "top_left"
    fig.legend.click_policy = "hide"
    return fig
