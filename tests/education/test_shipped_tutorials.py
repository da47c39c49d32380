"""Every shipped tutorial can be completed with the right answers, through the service with
in-test market sources and, for one, through the CLI against the real in-process paper
exchange."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.education import (
    EducationService,
    EducationSettings,
    PaperOrderCheck,
    QuizCheck,
    load_content,
)

from .conftest import Candles, Clock, PaperOrders

TUTORIALS = sorted(load_content().tutorials)


@pytest.mark.parametrize("tutorial_id", TUTORIALS)
async def test_shipped_tutorial_passes_with_right_answers(
    tmp_path: Path, clock: Clock, tutorial_id: str
) -> None:
    orders, candles = PaperOrders(), Candles()
    settings = EducationSettings(db_path=tmp_path / "p.sqlite3")
    async with EducationService(
        settings, orders=orders, candles=candles, clock=clock, metrics_registry=CollectorRegistry()
    ) as svc:
        tutorial = svc.get_tutorial(tutorial_id)
        for index, step in enumerate(tutorial.steps):
            check = step.check
            if isinstance(check, QuizCheck):
                answer: str | None = str(check.answer + 1)
            elif isinstance(check, PaperOrderCheck):
                price = float(candles.rows[-1, 4]) * 0.999
                orders.place(
                    check.symbol, side=check.side, type=check.order_type, status="open", price=price
                )
                answer = None
            else:
                shown = await svc.prepare_step("learner", tutorial_id, index)
                assert shown  # the user sees the inputs
                probe = await svc.check_step("learner", tutorial_id, index, "1")
                assert probe.expected is not None
                answer = repr(probe.expected)
            result = await svc.check_step("learner", tutorial_id, index, answer)
            assert result.passed, f"{tutorial_id} step {index}: {result.message}"


def test_first_limit_order_on_the_real_paper_exchange(tmp_path: Path) -> None:
    from omegafarm.exchange.paper import PaperExchange

    async def last_price() -> float:
        exchange = PaperExchange()
        try:
            rows = await exchange.fetch_ohlcv("BTC/USDT", timeframe=exchange.timeframe, limit=1)
        finally:
            await exchange.close()
        return float(rows[-1][4])

    price = asyncio.run(last_price())
    tutorial = load_content().tutorials["first-limit-order"]
    answers = []
    for step in tutorial.steps:
        if isinstance(step.check, QuizCheck):
            answers.append(str(step.check.answer + 1))
        else:
            answers.append(f"buy limit {price * 0.995:.2f} 0.001")
    result = CliRunner().invoke(
        app,
        ["learn", "--db", str(tmp_path / "p.sqlite3"), "tutorial", "first-limit-order"],
        input="\n".join(answers) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert f"done: {len(answers)}/{len(answers)} steps right (100%)" in result.output
