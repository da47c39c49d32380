"""``omega learn tutorial first-limit-order`` beside a running farm trades on the farm's paper
exchange through its API: it prints the farm's prices, suggests an order from them, lets the
user retry a refused step, and the order it places is the farm's (the dashboard lists it)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.education.loader import load_content
from omegafarm.education.models import QuizCheck
from tests.api.conftest import Farm, farm

__all__ = ["farm"]  # the module-scoped API fixture, used here too
pytestmark = pytest.mark.slow


async def test_the_first_limit_order_tutorial_uses_the_farms_market_and_allows_a_retry(
    farm: Farm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = farm.url.rsplit(":", 1)[1]
    monkeypatch.setenv("OMEGA_API__PORT", port)
    monkeypatch.setenv("OMEGA_TOKEN", farm.tokens["trader"])
    async with farm.client("trader") as http:
        last = float((await http.get("/api/v1/exchange/ticker?symbol=BTC/USDT")).json()["last"])
    tutorial = load_content().tutorials["first-limit-order"]
    answers = []
    for step in tutorial.steps:
        if isinstance(step.check, QuizCheck):
            answers.append(str(step.check.answer + 1))
        else:  # too far from the price first (refused by the check), then a good one
            answers += [f"buy limit {last * 0.5:.2f} 0.001", f"buy limit {last * 0.995:.2f} 0.001"]
    argv = ["learn", "--db", str(tmp_path / "p.sqlite3"), "tutorial", "first-limit-order"]

    result = await asyncio.to_thread(CliRunner().invoke, app, argv, input="\n".join(answers) + "\n")

    out = result.output
    assert result.exit_code == 0, out
    assert "BTC/USDT on the farm's paper exchange" in out
    shown = re.search(r"last ([\d,]+\.\d{2}) · bid ([\d,]+\.\d{2}) · ask ([\d,]+\.\d{2})", out)
    assert shown and abs(float(shown.group(1).replace(",", "")) / last - 1) < 0.05
    suggested = re.search(r"Suggested: buy limit ([\d.]+) ([\d.]+)", out)
    assert suggested and float(suggested.group(1)) < float(shown.group(2).replace(",", ""))
    assert "more than 2 % from the last price" in out and "try again" in out
    assert "done: 4/4 steps right (100%)" in out
    async with farm.client("viewer") as http:
        orders = (await http.get("/api/v1/exchange/orders?symbol=BTC/USDT")).json()
    prices = {round(float(o["price"]), 2) for o in orders if o["type"] == "limit"}
    assert round(last * 0.995, 2) in prices  # placed on the farm's exchange, not a private one
