"""Equity charts of a backtest: PNG, or a self-contained HTML page (inline SVG, no internet).

matplotlib draws both (already a dependency); the HTML adds the headline metrics and the trade
list as tables so one file tells the whole story.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

from omegafarm.bots.backtest import BacktestResult
from omegafarm.core.errors import ValidationError


def _figure(result: BacktestResult) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    times = result.ts_ms.astype("datetime64[ms]")
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(times, result.equity, lw=1.0, color="#1f77b4")
    top.set_title(f"{result.strategy} on {result.symbol} {result.timeframe}: equity")
    top.grid(alpha=0.3)
    peak = np.maximum.accumulate(result.equity)
    bottom.fill_between(times, (result.equity / peak - 1.0) * 100, 0, color="#d62728", lw=0)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def write_chart(result: BacktestResult, path: Path) -> Path:
    """Write the equity/drawdown chart as ``.png`` or ``.html`` (by the file's suffix)."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise ValidationError(f"chart {path}: use a .png or .html file name")
    import matplotlib.pyplot as plt

    fig = _figure(result)
    try:
        if suffix == ".png":
            fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
            return path
        buf = io.StringIO()
        fig.savefig(buf, format="svg")  # type: ignore[attr-defined]
    finally:
        plt.close(fig)  # type: ignore[arg-type]
    path.write_text(_page(result, buf.getvalue()), encoding="utf-8")
    return path


def _page(result: BacktestResult, svg: str) -> str:
    metrics = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in result.performance.as_dict().items()
    )
    head = [
        "side",
        "entry_ts_ms",
        "entry_price",
        "exit_ts_ms",
        "exit_price",
        "amount",
        "fee",
        "pnl",
    ]
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(t.as_dict()[h]))}</td>" for h in head) + "</tr>"
        for t in result.ledger.trades
    )
    title = html.escape(f"{result.strategy} {result.params} on {result.symbol}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}"
        "table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}</style>"
        f"</head><body><h1>{title}</h1>{svg}<h2>Metrics</h2><table>{metrics}</table>"
        f"<h2>Trades ({len(result.ledger.trades)})</h2><table><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr>{rows}</table></body></html>"
    )
