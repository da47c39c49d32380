"""Charts: two panels, patterns drawn, PNG and self-contained HTML; the ``omega analyze`` CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from omegafarm.cli.analyze import app
from omegafarm.core.errors import ValidationError
from omegafarm.cosmic.chart import chart_figure, png_bytes, save_chart
from omegafarm.cosmic.harmonics import HarmonicConfig, identify_patterns
from omegafarm.cosmic.pivots import ZigZagConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cyclic_candles(n: int = 3000, seed: int = 3) -> np.ndarray:
    """A 60-bar cycle on a slow random walk, as (n, 6) candles."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    close = 100 * np.exp(
        0.02 * np.sin(2 * np.pi * t / 60) + np.cumsum(0.001 * rng.standard_normal(n))
    )
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + 0.001 * np.abs(rng.standard_normal(n)))
    low = np.minimum(open_, close) * (1 - 0.001 * np.abs(rng.standard_normal(n)))
    return np.column_stack([1.7e12 + t * 300_000.0, open_, high, low, close, np.ones(n)])


def test_chart_has_a_price_panel_and_a_cycle_panel() -> None:
    fig = chart_figure(cyclic_candles(), bars=400, title="demo")
    price, cycle = fig.axes[0], fig.axes[1]
    assert price.get_title() == "demo"
    assert "red noise" in cycle.get_title(loc="left")
    assert len(price.collections) >= 2  # wicks and pivot ticks at least
    assert png_bytes(fig).startswith(PNG_MAGIC)


def test_detected_patterns_are_drawn_with_their_names() -> None:
    candles = cyclic_candles()
    zz = ZigZagConfig(threshold=2.0)
    scan = identify_patterns(candles, HarmonicConfig(zigzag=zz))
    shown = [p for p in (*scan.completed, *scan.forming) if p.bars[1] >= len(candles) - 400]
    assert shown, "the planted cycle should produce at least one harmonic pattern"
    fig = chart_figure(candles, bars=400, zigzag=zz)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert any(p.label in lab for p in shown for lab in labels)


def test_html_chart_is_interactive_and_self_contained(tmp_path: Path) -> None:
    out = save_chart(cyclic_candles(), tmp_path / "chart.html", bars=200)
    text = out.read_text(encoding="utf-8")
    assert "Bokeh" in text and "HoverTool" in text  # zoom, pan and hover
    assert "red noise" in text
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", text)  # no CDN


def test_png_chart_is_written(tmp_path: Path) -> None:
    out = save_chart(cyclic_candles(800), tmp_path / "c.png")
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_unknown_chart_format_and_tiny_input_are_validation_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        save_chart(cyclic_candles(100), tmp_path / "c.svg")
    with pytest.raises(ValidationError):
        chart_figure(cyclic_candles(100)[:1])


# ---------------------------------------------------------------------- CLI

runner = CliRunner()


def _csv(tmp_path: Path, candles: np.ndarray, name: str = "SYN-5m.csv") -> Path:
    path = tmp_path / name
    np.savetxt(
        path, candles, delimiter=",", header="timestamp,open,high,low,close,volume", comments=""
    )
    return path


def test_cli_evaluate_writes_the_csv_table(tmp_path: Path) -> None:
    data = _csv(tmp_path, cyclic_candles(2000))
    out = tmp_path / "table.csv"
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("family,kind,n_signals,hit_rate")
    assert any(line.startswith("cycle,cycle_direction_24bars") for line in lines)
    assert "Holm" in result.output


def test_cli_evaluate_on_real_candles_folder(ohlcv_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    for src in sorted(ohlcv_dir.glob("*_BTC-5m.csv"))[:2]:
        (folder / src.name).write_bytes(src.read_bytes())
    result = runner.invoke(app, ["evaluate", "--data", str(folder), "--horizon", "12"])
    assert result.exit_code == 0, result.output
    assert "2 market(s)" in result.output
    assert "fib_0.618" in result.output


def test_cli_chart_writes_png(tmp_path: Path) -> None:
    data = _csv(tmp_path, cyclic_candles(1000))
    out = tmp_path / "chart.png"
    result = runner.invoke(app, ["chart", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chart", "--data", "/no/such.csv", "--out", "x.png"], "no such file"),
        (["evaluate", "--data", "/no/such/folder"], "no such file or folder"),
    ],
    ids=["missing-chart-input", "missing-evaluate-input"],
)
def test_cli_user_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_rejects_unreadable_candles_and_bad_format(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open\nx,y\n")
    result = runner.invoke(app, ["evaluate", "--data", str(bad)])
    assert result.exit_code == 2
    assert "cannot read candles" in result.output
    data = _csv(tmp_path, cyclic_candles(300))
    result = runner.invoke(app, ["chart", "--data", str(data), "--out", str(tmp_path / "c.svg")])
    assert result.exit_code == 2
    assert ".png or .html" in result.output
