"""The backtest chart: candles with entries and exits, equity and drawdown, in one HTML page.

Drawn with Bokeh (the plotting library backtesting.py uses): three panels share the time axis,
so zooming or panning the candles moves the equity and drawdown with them; hovering a candle,
a trade marker or the equity line shows its values. The page is self-contained (Bokeh's
JavaScript inline, no internet). Bokeh is imported only when a chart is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from omegafarm.bots.backtest import BacktestResult
from omegafarm.core.errors import ValidationError

_UP, _DOWN = "#26a69a", "#ef5350"


def write_chart(result: BacktestResult, path: Path, candles: Any = None) -> Path:
    """Write the interactive chart of ``result`` to ``path`` (``.html``); ``candles`` is the
    backtest's ``Candles`` (ts, open, high, low, close arrays) for the price panel."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValidationError(f"chart {path}: use an .html file name (an interactive page)")
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.resources import INLINE

    price = _price_panel(result, candles)
    equity = _equity_panel(result, price)
    drawdown = _drawdown_panel(result, price)
    page = column(price, equity, drawdown, sizing_mode="stretch_width")
    title = f"{result.strategy} {result.params} on {result.symbol} {result.timeframe}"
    path.write_text(file_html(page, INLINE, title), encoding="utf-8")
    return path


def _times(ts_ms: Any) -> Any:
    return np.asarray(ts_ms, dtype="int64").astype("datetime64[ms]")


def _price_panel(result: BacktestResult, candles: Any) -> Any:
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    fig = figure(
        title=f"{result.strategy} {result.params} on {result.symbol} {result.timeframe}",
        x_axis_type="datetime", height=420, sizing_mode="stretch_width",
        tools="xpan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
        output_backend="webgl",
    )  # fmt: skip
    fig.yaxis.axis_label = result.symbol
    if candles is not None:
        lo = int(np.searchsorted(candles.ts, result.start_ms))
        hi = int(np.searchsorted(candles.ts, result.end_ms))
        o, h, low, c = (np.asarray(a[lo:hi]) for a in (candles.open, candles.high,
                                                      candles.low, candles.close))  # fmt: skip
        ts = _times(candles.ts[lo:hi])
        up = c >= o
        src = ColumnDataSource(
            {
                "t": ts, "open": o, "high": h, "low": low, "close": c,
                "top": np.maximum(o, c), "bottom": np.minimum(o, c),
                "colour": np.where(up, _UP, _DOWN),
            }
        )  # fmt: skip
        width_ms = 0.7 * (result.end_ms - result.start_ms) / max(1, result.bars)
        fig.segment("t", "high", "t", "low", source=src, color="colour")
        bars = fig.vbar("t", width_ms, "top", "bottom", source=src, fill_color="colour",
                        line_color="colour")  # fmt: skip
        fig.add_tools(
            HoverTool(
                renderers=[bars],
                tooltips=[("time", "@t{%F %T}"), ("open", "@open"), ("high", "@high"),
                          ("low", "@low"), ("close", "@close")],
                formatters={"@t": "datetime"},
            )
        )  # fmt: skip
    trades = result.ledger.trades
    entries = ColumnDataSource(
        {
            "t": _times([t.entry_ts_ms for t in trades]),
            "price": [float(t.entry_price) for t in trades],
            "amount": [str(t.amount) for t in trades],
            "side": [t.side for t in trades],
        }
    )
    closed = [t for t in trades if t.exit_ts_ms is not None and t.exit_price is not None]
    exits = ColumnDataSource(
        {
            "t": _times([t.exit_ts_ms for t in closed]),
            "price": [float(t.exit_price or 0) for t in closed],
            "pnl": [str(t.pnl) for t in closed],
            "colour": [_UP if t.pnl > 0 else _DOWN for t in closed],
        }
    )
    ins = fig.scatter("t", "price", source=entries, marker="triangle", size=10,
                      color="#1e88e5", legend_label="entry")  # fmt: skip
    outs = fig.scatter("t", "price", source=exits, marker="inverted_triangle", size=10,
                       color="colour", legend_label="exit")  # fmt: skip
    fig.add_tools(
        HoverTool(renderers=[ins], tooltips=[("entry", "@t{%F %T}"), ("price", "@price"),
                                             ("amount", "@amount"), ("side", "@side")],
                  formatters={"@t": "datetime"}),
        HoverTool(renderers=[outs], tooltips=[("exit", "@t{%F %T}"), ("price", "@price"),
                                              ("pnl", "@pnl")],
                  formatters={"@t": "datetime"}),
    )  # fmt: skip
    fig.legend.location = "top_left"
    fig.legend.click_policy = "hide"
    return fig


def _equity_panel(result: BacktestResult, price: Any) -> Any:
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    fig = figure(x_axis_type="datetime", x_range=price.x_range, height=200,
                 sizing_mode="stretch_width", tools="xpan,xwheel_zoom,box_zoom,reset",
                 title="equity")  # fmt: skip
    src = ColumnDataSource({"t": _times(result.ts_ms), "equity": result.equity})
    line = fig.line("t", "equity", source=src, color="#1f77b4", line_width=1.2)
    fig.add_tools(HoverTool(renderers=[line], tooltips=[("time", "@t{%F %T}"),
                                                        ("equity", "@equity")],
                            formatters={"@t": "datetime"}, mode="vline"))  # fmt: skip
    return fig


def _drawdown_panel(result: BacktestResult, price: Any) -> Any:
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure

    fig = figure(x_axis_type="datetime", x_range=price.x_range, height=150,
                 sizing_mode="stretch_width", tools="xpan,xwheel_zoom,box_zoom,reset",
                 title="drawdown %")  # fmt: skip
    peak = np.maximum.accumulate(result.equity)
    dd = (result.equity / peak - 1.0) * 100
    src = ColumnDataSource({"t": _times(result.ts_ms), "dd": dd, "zero": np.zeros_like(dd)})
    area = fig.varea("t", "dd", "zero", source=src, fill_color=_DOWN, fill_alpha=0.6)
    fig.add_tools(HoverTool(renderers=[area], tooltips=[("time", "@t{%F %T}"),
                                                        ("drawdown %", "@dd{0.00}")],
                            formatters={"@t": "datetime"}, mode="vline"))  # fmt: skip
    return fig


__all__ = ["write_chart"]
