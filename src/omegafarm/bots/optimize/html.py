"""The report as one self-contained HTML page: verdict, tables, OOS equity and the heat map.

matplotlib (already a dependency, used for the backtest's HTML) draws inline SVG: the file
needs no internet and no JavaScript.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

from omegafarm.core.errors import ValidationError


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _equity_svg(report: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    curve = np.array(report["walk_forward"]["equity"], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(curve[:, 0].astype("datetime64[ms]"), curve[:, 1], lw=1.0)
    for fold in report["walk_forward"]["folds"][1:]:
        ax.axvline(
            np.datetime64(fold["test_from_ms"], "ms"),  # type: ignore[arg-type]  # matplotlib takes dates
            color="#999",
            lw=0.6,
            ls="--",
        )
    ax.set_title("walk-forward: out-of-sample equity (dashed lines: a new training)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _svg(fig)


def _heat_svg(heat: dict[str, Any], objective: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    z = np.array([[np.nan if v is None else v for v in row] for row in heat["z"]])
    fig, ax = plt.subplots(figsize=(6.5, 5))
    mesh = ax.pcolormesh(heat["x_edges"], heat["y_edges"], z, cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"best {objective} in cell")
    ax.set_xlabel(heat["x"])
    ax.set_ylabel(heat["y"])
    ax.set_title(f"{objective} over {heat['x']} and {heat['y']} (blank: not tried)")
    fig.tight_layout()
    return _svg(fig)


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{cells}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def render_html(report: dict[str, Any]) -> str:
    """The page as a string."""
    e = html.escape
    verdict = report["verdict"]
    color = "#1a7f37" if verdict["edge"] else "#b35900"
    parts = [
        f"<h1>omega optimize: {e(report['strategy'])} on {e(report['symbol'])} "
        f"{e(report['timeframe'])} (study {e(report['study'])})</h1>",
        f'<p class="verdict" style="border-color:{color}">{e(verdict["text"])}</p>',
        "<h2>Trials</h2>",
        _table(
            [
                ("bars", report["bars"]),
                ("objective", report["objective"]),
                *report["trials"].items(),
            ]
        ),
    ]
    if "best" in report:
        best = report["best"]
        rows_best = [("trial", best["trial"]), ("params", best["params"])]
        rows_best += [(report["objective"], best["value"]), *best["metrics"].items()]
        parts += ["<h2>Best in-sample trial</h2>", _table(rows_best)]
        wf = report["walk_forward"]
        parts += [f"<h2>Walk-forward ({e(wf['mode'])})</h2>", _table(list(wf["oos"].items()))]
        head = ("test from", "test to", "params", "train score", "test score", "test Sharpe")
        rows = "".join(
            "<tr>" + "".join(f"<td>{e(_fmt(v))}</td>" for v in (
                _day(f["test_from_ms"]), _day(f["test_to_ms"]), f["params"], f["train_score"],
                f["test_score"], f["test_sharpe"])) + "</tr>"
            for f in wf["folds"]
        )  # fmt: skip
        parts.append(
            "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{rows}</table>"
        )
        parts.append(_equity_svg(report))
        parts += ["<h2>Probability of backtest overfitting (CSCV)</h2>",
                  _table(list(report["pbo"].items())),
                  "<h2>Deflated Sharpe ratio</h2>",
                  _table(list(report["deflated_sharpe"].items())),
                  "<h2>Parameter importance</h2>",
                  _table(list(report["importance"].items()))]  # fmt: skip
        if report.get("heatmap"):
            parts.append(_heat_svg(report["heatmap"], report["objective"]))
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
        "padding:2px 8px;text-align:right}.verdict{border-left:6px solid;padding:.5em 1em;"
        "font-weight:bold}"
    )
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>omega optimize "
        f"{e(report['study'])}</title><style>{style}</style></head><body>{body}</body></html>"
    )


def _day(ts_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def write_html(report: dict[str, Any], path: Path) -> Path:
    """Write the page to ``path`` (must end in .html)."""
    if path.suffix.lower() != ".html":
        raise ValidationError(f"--html {path}: the report file must end in .html")
    path.write_text(render_html(report), encoding="utf-8")
    return path
