"""The backtest chart and ``omega analyze chart`` in headless Chromium: Bokeh renders three linked panels, the candles and
the trade markers are painted, and a screenshot is kept in ``$OMEGA_TEST_ARTIFACTS`` (default:
the test's temporary folder). Skips without Chromium, chromedriver or selenium."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from omegafarm.bots.backtest import Backtest, BacktestConfig
from omegafarm.bots.chart import write_chart
from omegafarm.bots.strategies import SmaCross

webdriver = pytest.importorskip("selenium.webdriver", reason="test dependency: selenium>=4")
if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402  # after the skip checks

pytestmark = pytest.mark.slow
START = 1_515_560_100_000


def _driver() -> object:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "chromium"
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def _rgb(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _has_colour(img: np.ndarray, hex_colour: str, tolerance: int = 40) -> int:
    target = np.array([int(hex_colour[k : k + 2], 16) for k in (1, 3, 5)])
    return int((np.abs(img.astype(int) - target).sum(axis=2) < tolerance).sum())


def test_backtest_chart_renders_candles_trades_equity_and_drawdown(
    ohlcv_dir: Path, tmp_path: Path
) -> None:
    config = BacktestConfig(
        strategy=SmaCross, data=ohlcv_dir / "ETH_BTC-5m.csv", capital=Decimal(1),
        to_ms=START + 2 * 288 * 300_000,
    )  # fmt: skip
    runner = Backtest(config)
    result = runner.run()
    assert result.ledger.trades
    page = write_chart(result, tmp_path / "chart.html", runner.candles)
    shots = Path(os.environ.get("OMEGA_TEST_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    driver = _driver()
    try:
        driver.get(page.as_uri())
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.execute_script(
            "return !!(window.Bokeh && Bokeh.documents.length"
            " && Bokeh.documents[0].roots().length)"))  # fmt: skip
        plots = driver.execute_script("return Bokeh.documents[0].roots()[0].children.length")
        # is_idle: every view of the document has finished painting
        wait.until(lambda d: d.execute_script("return Bokeh.documents[0].is_idle"))
        png = driver.get_screenshot_as_png()
        (shots / "backtest-chart.png").write_bytes(png)
    finally:
        driver.quit()
    assert plots == 3  # price with trades, equity, drawdown
    img = _rgb(png)
    assert _has_colour(img, "#26a69a") > 50  # rising candles painted
    assert _has_colour(img, "#ef5350") > 50  # falling candles / drawdown painted
    assert _has_colour(img, "#1e88e5") > 20  # entry markers painted


def test_analysis_chart_renders_candles_and_the_cycle_panel(
    ohlcv_dir: Path, tmp_path: Path
) -> None:
    from omegafarm.cosmic.chart import save_chart

    candles = np.loadtxt(ohlcv_dir / "ETH_BTC-5m.csv", delimiter=",", skiprows=1)
    page = save_chart(candles, tmp_path / "analysis.html", bars=300, title="ETH/BTC 5m")
    shots = Path(os.environ.get("OMEGA_TEST_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    driver = _driver()
    try:
        driver.get(page.as_uri())
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.execute_script(
            "return !!(window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].is_idle)"))  # fmt: skip
        panels = driver.execute_script("return Bokeh.documents[0].roots()[0].children.length")
        png = driver.get_screenshot_as_png()
        (shots / "analysis-chart.png").write_bytes(png)
    finally:
        driver.quit()
    assert panels == 3  # candles, cycle, notes
    img = _rgb(png)
    assert _has_colour(img, "#26a69a") > 50 and _has_colour(img, "#ef5350") > 50
