"""End to end in headless Chromium (Selenium) against a whole farm (tests/api/_dashboard_farm):
log in, then every page of the dashboard — farm overview (KPI cards, bots with equity
sparklines), a bot's page (equity curve, candles with its trades, trades table), the market
(chart with axes, labelled Fibonacci levels, harmonic patterns, the cycle panel), orders (the
default price comes from the ticker; place and cancel), the live feed (tickers aggregated,
orders and bot events as rows, a filter) and a lesson rendered from Markdown with clickable
glossary links. No page may show a raw JSON object. Screenshots of every page go to
``$OMEGA_TEST_ARTIFACTS/dashboard`` (default: the test's temporary folder).

Skips when Chromium, chromedriver or selenium is not installed (``apt install chromium
chromium-driver``; ``pip install selenium``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.api._dashboard_farm import start_dashboard_farm
from tests.api.conftest import PASSWORD, Farm

webdriver = pytest.importorskip("selenium.webdriver", reason="test dependency: selenium>=4")
if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402  # after the skip checks
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
RAW_JSON = re.compile(r"[{\[]\s*\"[^\"\n]{1,40}\"\s*:")  # {"key": … or [{"key": … on screen


def _driver() -> Any:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "chromium"
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def _shots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("OMEGA_TEST_ARTIFACTS", tmp_path)) / "dashboard"
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dash(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> AsyncIterator[Farm]:
    running = await start_dashboard_farm(tmp_path_factory.mktemp("dashboard"), redis_url)
    yield running
    await running.registry.stop_all()


class Pages:
    """The browser and what every page check needs (one login for the whole journey)."""

    def __init__(self, url: str, shots: Path, user: str) -> None:
        self.url, self.shots = url, shots
        self.driver = _driver()
        self.wait = WebDriverWait(self.driver, 45)
        self.raw_json: dict[str, str] = {}
        self.driver.get(f"{url}/")
        self.wait.until(ec.visibility_of_element_located((By.ID, "login-form")))
        self.driver.find_element(By.NAME, "user").send_keys(user)
        self.driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        self.driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
        self.wait.until(ec.text_to_be_present_in_element((By.ID, "who"), f"{user} ("))

    def text(self, css: str) -> str:
        """The element's text; live updates may replace it while it is read, so read again."""
        for _ in range(5):
            try:
                return str(self.driver.find_element(By.CSS_SELECTOR, css).text)
            except StaleElementReferenceException:
                continue
        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def go(self, hash_: str) -> None:
        self.driver.get(f"{self.url}/dashboard/{hash_}")

    def snap(self, name: str) -> None:
        """Screenshot the page and remember any raw JSON object it shows."""
        body = self.text("body")
        found = RAW_JSON.search(body)
        if found:
            self.raw_json[name] = body[max(0, found.start() - 40) : found.end() + 80]
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def quit(self) -> None:
        self.driver.quit()


def _journey(url: str, shots: Path) -> tuple[dict[str, Any], dict[str, str]]:
    p = Pages(url, shots, "trader")
    seen: dict[str, Any] = {}
    try:
        # farm overview: KPI cards, bots with sparklines (equity samples arrive once a second)
        p.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#kpis .card")) == 5)
        p.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bots tbody tr")) == 2)
        seen["kpis"] = p.text("#kpis").lower()  # labels are upper case on screen (CSS)
        seen["farm_status"] = p.text("#farm-status")
        seen["bot_row"] = p.text('#bots tr[data-bot="sma_btc"]')
        seen["sparklines"] = len(p.driver.find_elements(By.CSS_SELECTOR, "#bots canvas.spark"))
        seen["balance"] = p.text("#balance")
        p.snap("1-farm")

        # a bot's page
        p.driver.find_element(By.LINK_TEXT, "sma_btc").click()
        p.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bot-kpis .card")) >= 5)
        p.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#bot-candles canvas"))
        seen["bot_info"] = p.text("#bot-info")
        seen["bot_charts"] = len(p.driver.find_elements(By.CSS_SELECTOR, "#bot-equity canvas"))
        seen["bot_trades"] = p.text("#bot-trades tbody")
        seen["bot_action"] = p.text("#bot-actions")
        p.snap("2-bot")

        # the market page: candles with axes, Fibonacci lines labelled, patterns, cycles
        p.go("#/market")
        p.wait.until(lambda d: d.find_element(By.ID, "cycle-verdict").text != "")
        p.wait.until(lambda d: d.find_element(By.ID, "fib-summary").text != "")
        seen["ticker"] = p.text("#ticker")
        seen["fib"] = p.text("#fib-levels")
        seen["cycle"] = p.text("#cycle-verdict")
        seen["patterns"] = p.text("#patterns")
        seen["chart_canvases"] = len(p.driver.find_elements(By.CSS_SELECTOR, "#chart canvas"))
        p.snap("3-market")

        # orders: the default price comes from the ticker; place a limit order, then cancel it
        p.go("#/orders")
        p.wait.until(ec.text_to_be_present_in_element((By.ID, "order-hint"), "last"))
        seen["default_price"] = p.driver.find_element(By.NAME, "price").get_attribute("value")
        seen["order_hint"] = p.text("#order-hint")
        Select(p.driver.find_element(By.NAME, "type")).select_by_visible_text("limit")
        p.driver.find_element(By.CSS_SELECTOR, "#order-form button").click()
        cancel = p.wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, "#order-list tbody button"))
        )
        seen["placed"] = p.text("#order-list tbody tr")
        p.snap("4-orders")
        cancel.click()
        p.wait.until(
            ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#order-list tbody"), "canceled")
        )

        # the live feed: tickers as cards, orders and bot events as rows, filterable
        p.go("#/feed")
        p.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tickers .card"))
        p.wait.until(ec.text_to_be_present_in_element((By.ID, "events"), "Why: sma_cross buys"))
        seen["tickers"] = p.text("#tickers")
        seen["events"] = p.text("#events tbody")
        p.snap("5-feed")
        Select(p.driver.find_element(By.NAME, "kind")).select_by_value("bots")
        p.wait.until(ec.text_to_be_present_in_element((By.ID, "feed-count"), "events"))
        p.wait.until(lambda d: "orders" not in d.find_element(By.ID, "events").text)
        seen["bots_only"] = p.text("#events tbody").splitlines()

        # a lesson rendered from Markdown; its glossary link opens the term
        p.go("#/learn")
        p.driver.find_element(By.NAME, "q").send_keys("order book")
        p.driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
        p.wait.until(ec.element_to_be_clickable((By.LINK_TEXT, "How an order book works"))).click()
        p.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#lesson table"))
        seen["lesson_headings"] = [
            h.text for h in p.driver.find_elements(By.CSS_SELECTOR, "#lesson h2")
        ]
        seen["lesson_text"] = p.text("#lesson")
        p.snap("6-lesson")
        p.driver.find_element(
            By.CSS_SELECTOR, '#lesson a[href="#/learn/glossary/order-book"]'
        ).click()
        p.wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#lesson h2"), "rder book"))
        seen["glossary"] = p.text("#lesson")
        p.snap("7-glossary")
        seen["console"] = [e["message"] for e in p.driver.get_log("browser")]
    except Exception:  # keep what the browser showed for whoever reads the failure
        p.driver.save_screenshot(str(shots / "failed.png"))
        (shots / "failed.txt").write_text(p.text("body") + "\n" + repr(p.driver.get_log("browser")))
        raise
    finally:
        p.quit()
    return seen, p.raw_json


async def test_every_dashboard_page_reads_as_numbers_and_words(dash: Farm, tmp_path: Path) -> None:
    shots = _shots(tmp_path)
    seen, raw_json = await asyncio.to_thread(_journey, dash.url, shots)

    assert raw_json == {}, f"pages showing raw JSON: {raw_json}"
    assert "farm equity" in seen["kpis"] and "bots running\n2" in seen["kpis"]
    assert re.search(r"farm equity\n\d,\d{3}\.\d{2}\n", seen["kpis"])  # two SMA bots, 8,000 capital
    assert seen["farm_status"].startswith("2 bots (")
    assert seen["sparklines"] == 2
    assert "sma_cross" in seen["bot_row"] and "BTC/USDT" in seen["bot_row"]
    assert re.search(r"\b\d{1,3}(,\d{3})*\.\d{2} USDT", seen["bot_row"])  # money: 2 decimals
    assert re.search(r"USDT \d{3},\d{3}\.\d{2} |USDT 1,\d{3},\d{3}\.\d{2} ", seen["balance"])
    assert "sma_cross on BTC/USDT" in seen["bot_info"] and seen["bot_charts"] >= 1
    assert seen["bot_trades"]
    assert seen["bot_action"] == "Stop this bot"  # a trader may stop it (a viewer sees no button)
    assert re.search(r"BTC/USDT LAST\n\d{1,3}(,\d{3})*\.\d{2}\n", seen["ticker"])  # price step 0.01
    assert "Fib 61.8 %" in seen["fib"] or seen["fib"].strip() == "Level Price"
    assert "cycle" in seen["cycle"].lower() and "{" not in seen["cycle"]
    assert seen["chart_canvases"] >= 3  # panes plus the price and time axes
    default = Decimal(seen["default_price"])
    assert Decimal(10_000) < default < Decimal(100_000)  # the synthetic BTC market, not 1000
    assert default == default.quantize(Decimal("0.01"))  # at the market's price precision
    assert "Suggested" in seen["order_hint"]
    assert "BTC/USDT" in seen["placed"] and "open" in seen["placed"]
    assert "BTC/USDT" in seen["tickers"] and "ETH/USDT" in seen["tickers"]
    assert "sma_btc" in seen["events"] or "sma_eth" in seen["events"]
    assert "Why: sma_cross buys when its fast moving average crosses above" in seen["events"]
    assert seen["bots_only"] and all(" bots " in r or "no events" in r for r in seen["bots_only"])
    assert "Bids and asks" in seen["lesson_headings"]
    assert "##" not in seen["lesson_text"] and "](glossary:" not in seen["lesson_text"]
    assert "|---" not in seen["lesson_text"]
    assert seen["glossary"]
    blocked = [m for m in seen["console"] if "Content Security Policy" in m]
    assert blocked == []  # no inline style or script anywhere, the library's included
    assert {p.name for p in shots.iterdir()} >= {
        f"{n}.png" for n in ("1-farm", "2-bot", "3-market", "4-orders", "5-feed", "6-lesson")
    }


def test_the_raw_json_check_catches_a_json_object_on_screen() -> None:
    assert RAW_JSON.search('farm {"state":"running","bots":2}')
    assert RAW_JSON.search('[{"id": "sma_btc"}]')
    assert not RAW_JSON.search("2 bots (2 running) on 1 worker")
    assert not RAW_JSON.search("equity 5,000.00 USDT")


def _watch_equity(url: str, shots: Path) -> tuple[str, str]:
    p = Pages(url, shots, "viewer")
    cell = '#bots tr[data-bot="sma_btc"] td[data-field="equity"]'
    try:
        p.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, cell))
        first = p.text(cell)
        p.wait = WebDriverWait(p.driver, 90)
        p.wait.until(lambda d: p.text(cell) not in ("", first))  # only /ws events change it
        p.snap("8-farm-live")
        return first, p.text(cell)
    finally:
        p.quit()


async def test_a_bots_equity_updates_live_on_the_farm_page(dash: Farm, tmp_path: Path) -> None:
    first, later = await asyncio.to_thread(_watch_equity, dash.url, _shots(tmp_path))
    assert first != later
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2} USDT", later)
