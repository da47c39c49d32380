"""End to end in headless Chromium (Selenium): log in, see the farm page, place and cancel a
paper order, watch a live event arrive over the WebSocket, search a lesson; and, with a running
bot farm, watch a bot's equity change on the farm page from live ``bots`` events (the page
loads the bot list once; only the WebSocket can change it). Screenshots go to
``$OMEGA_TEST_ARTIFACTS`` (default: the test's temporary folder).

Skips when Chromium, chromedriver or selenium is not installed (``apt install chromium
chromium-driver``; ``pip install selenium``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from tests.api.conftest import PASSWORD, Farm
from tests.api.test_bot_routes import start_bot_farm

webdriver = pytest.importorskip("selenium.webdriver", reason="test dependency: selenium>=4")
if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402  # after the skip checks
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


def _driver() -> object:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "chromium"
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def _journey(url: str, shots: Path, publish: Callable[[], None]) -> dict[str, str]:
    driver = _driver()
    wait = WebDriverWait(driver, 30)
    seen: dict[str, str] = {}
    try:
        driver.get(f"{url}/")
        wait.until(ec.visibility_of_element_located((By.ID, "login-form")))
        driver.find_element(By.NAME, "user").send_keys("trader")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "who"), "trader (trader)"))
        wait.until(lambda d: d.find_element(By.ID, "farm-status").text != "…")
        seen["farm"] = driver.find_element(By.ID, "farm-status").text
        cookie = driver.get_cookie("omega_session")
        seen["cookie_flags"] = f"{cookie['httpOnly']} {cookie['secure']} {cookie['sameSite']}"
        driver.save_screenshot(str(shots / "1-farm.png"))

        publish()  # a ticker on Redis reaches the page over /ws
        wait.until(ec.text_to_be_present_in_element((By.ID, "events"), "browser-test-tick"))

        driver.find_element(By.CSS_SELECTOR, "[data-tab=market]").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "ticker"), "last"))
        wait.until(lambda d: d.find_element(By.ID, "analysis").text != "")
        seen["ticker"] = driver.find_element(By.ID, "ticker").text
        driver.save_screenshot(str(shots / "1b-market.png"))

        driver.find_element(By.CSS_SELECTOR, "[data-tab=orders]").click()
        Select(
            driver.find_element(By.CSS_SELECTOR, "#order-form [name=type]")
        ).select_by_visible_text("limit")
        driver.find_element(By.CSS_SELECTOR, "#order-form button").click()
        cancel = wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, "#order-list tbody button"))
        )
        seen["placed"] = driver.find_element(By.CSS_SELECTOR, "#order-list tbody tr").text
        driver.save_screenshot(str(shots / "2-order.png"))
        cancel.click()
        wait.until(
            ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#order-list tbody"), "canceled")
        )
        seen["cancelled"] = driver.find_element(By.CSS_SELECTOR, "#order-list tbody tr").text

        driver.find_element(By.CSS_SELECTOR, "[data-tab=learn]").click()
        driver.find_element(By.NAME, "q").send_keys("order book")
        driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#hits a"))).click()
        wait.until(lambda d: len(d.find_element(By.ID, "lesson").text) > 100)
        seen["lesson"] = driver.find_element(By.ID, "lesson").text[:80]
        driver.save_screenshot(str(shots / "3-lesson.png"))
    finally:
        driver.quit()
    return seen


async def test_a_trader_uses_the_dashboard_end_to_end(farm: Farm, tmp_path: Path) -> None:
    shots = Path(os.environ.get("OMEGA_TEST_ARTIFACTS", tmp_path)) / "dashboard"
    shots.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()

    def publish() -> None:
        async def until_delivered() -> None:
            tick = {"symbol": "BTC/USDT", "last": "1", "note": "browser-test-tick"}
            while await farm.redis.publish("tickers", tick) == 0:  # noqa: ASYNC110  # the subscriber count is the event
                await asyncio.sleep(0.05)  # wait-ok: polling the subscriber count

        asyncio.run_coroutine_threadsafe(until_delivered(), loop).result(timeout=30)

    seen = await asyncio.to_thread(_journey, farm.url, shots, publish)
    assert seen["farm"] == "bot farm not running"
    assert seen["ticker"].startswith("BTC/USDT last")
    assert seen["cookie_flags"] == "True True Strict"
    assert "BTC/USDT" in seen["placed"] and "open" in seen["placed"]
    assert "canceled" in seen["cancelled"]
    assert seen["lesson"]
    assert {p.name for p in shots.iterdir()} >= {"1-farm.png", "2-order.png", "3-lesson.png"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bot_farm(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> AsyncIterator[Farm]:
    running = await start_bot_farm(tmp_path_factory.mktemp("browser-bots"), redis_url)
    yield running
    await running.registry.stop_all()


def _watch_equity(url: str, shots: Path) -> tuple[str, str, str]:
    driver = _driver()
    wait = WebDriverWait(driver, 60)
    cell = (By.CSS_SELECTOR, '#bots tr[data-bot="sma_btc"] td[data-field="equity"]')
    try:
        driver.get(f"{url}/")
        wait.until(ec.visibility_of_element_located((By.ID, "login-form")))
        driver.find_element(By.NAME, "user").send_keys("viewer")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
        wait.until(lambda d: d.find_element(*cell).text != "")
        first = driver.find_element(*cell).text
        wait.until(lambda d: d.find_element(*cell).text not in ("", first))
        driver.save_screenshot(str(shots / "4-bot-equity.png"))
        farm = driver.find_element(By.ID, "farm-status").text
        return first, driver.find_element(*cell).text, farm
    finally:
        driver.quit()


async def test_a_bots_equity_updates_live_on_the_farm_page(bot_farm: Farm, tmp_path: Path) -> None:
    shots = Path(os.environ.get("OMEGA_TEST_ARTIFACTS", tmp_path)) / "dashboard"
    shots.mkdir(parents=True, exist_ok=True)
    first, later, farm = await asyncio.to_thread(_watch_equity, bot_farm.url, shots)
    assert float(first) > 0 and float(later) > 0 and first != later
    assert '"bots":2' in farm
