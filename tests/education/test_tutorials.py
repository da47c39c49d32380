"""Tutorial checks: quiz, paper order, Fibonacci level and computed answers; glossary quizzes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import ValidationError
from omegafarm.cosmic import find_pivots
from omegafarm.education import EducationService, EducationSettings

from .conftest import Candles, Clock, PaperOrders

TUTORIAL = "first-order"


@pytest.fixture
async def market_service(settings: EducationSettings, clock: Clock):  # type: ignore[no-untyped-def]
    orders = PaperOrders()
    async with EducationService(
        settings,
        orders=orders,
        candles=Candles(),
        clock=clock,
        metrics_registry=CollectorRegistry(),
    ) as svc:
        yield svc, orders


@pytest.mark.parametrize(("answer", "passed"), [("2", True), (1, False), ("3", False)])
async def test_quiz_step_takes_a_one_based_choice(
    service: EducationService, answer: str | int, passed: bool
) -> None:
    result = await service.check_step("alice", TUTORIAL, 0, answer)
    assert result.passed is passed
    assert "limit price or lower" in result.message


@pytest.mark.parametrize("answer", ["0", "4", "two", "", None, "1.5"])
async def test_quiz_step_rejects_answers_that_are_not_choices(
    service: EducationService, answer: str | None
) -> None:
    with pytest.raises(ValidationError):
        await service.check_step("alice", TUTORIAL, 0, answer)


async def test_checking_a_step_marks_the_tutorial_started(service: EducationService) -> None:
    await service.check_step("alice", TUTORIAL, 0, "2")
    summary = await service.progress_summary("alice")
    assert [(r.topic, r.kind, str(r.status)) for r in summary.records] == [
        (TUTORIAL, "tutorial", "started")
    ]


async def test_paper_order_step_passes_once_a_near_limit_buy_exists(market_service) -> None:  # type: ignore[no-untyped-def]
    svc, orders = market_service
    assert not (await svc.check_step("alice", TUTORIAL, 1, None)).passed
    orders.place("BTC/USDT", side="sell", type="limit", status="open", price=1.0)
    assert not (await svc.check_step("alice", TUTORIAL, 1, None)).passed
    last = Candles().rows[-1, 4]
    orders.place("BTC/USDT", side="buy", type="limit", status="open", price=last * 0.5)
    far = await svc.check_step("alice", TUTORIAL, 1, None)
    assert not far.passed
    assert "more than 5 %" in far.message
    orders.place("BTC/USDT", side="buy", type="limit", status="open", price=last * 0.99)
    near = await svc.check_step("alice", TUTORIAL, 1, None)
    assert near.passed
    assert "1.00 %" in near.message


@dataclass(frozen=True)
class OrderObject:
    """An order as ExchangeService returns it (attributes, Decimal price), not a dict."""

    side: str
    type: str
    status: str
    price: Decimal | None


async def test_paper_order_step_accepts_order_objects(
    settings: EducationSettings, clock: Clock
) -> None:
    last = Decimal(str(Candles().rows[-1, 4]))

    class Orders:
        async def fetch_orders(self, symbol: str) -> list[OrderObject]:
            return [OrderObject("buy", "limit", "open", last * Decimal("0.99"))]

    async with EducationService(
        settings,
        orders=Orders(),
        candles=Candles(),
        clock=clock,
        metrics_registry=CollectorRegistry(),
    ) as svc:
        result = await svc.check_step("alice", TUTORIAL, 1, None)
    assert result.passed, result.message


async def test_fibonacci_step_uses_the_current_swing(market_service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = market_service
    rows = Candles().rows[-300:]
    pivots = find_pivots(rows[:, 2], rows[:, 3], rows[:, 4])
    start = float(pivots.price[-1])
    tail = rows[int(pivots.index[-1]) + 1 :]
    end = float(tail[:, 3].min() if pivots.kind[-1] == 1 else tail[:, 2].max())
    level = end - 0.618 * (end - start)

    context = await svc.prepare_step("alice", TUTORIAL, 2)
    assert f"{start:,.2f}" in context
    assert f"{end:,.2f}" in context
    good = await svc.check_step("alice", TUTORIAL, 2, f"{level * 1.002:.2f}")
    assert good.passed
    assert good.expected == pytest.approx(level)
    bad = await svc.check_step("alice", TUTORIAL, 2, str(level * 1.05))
    assert not bad.passed


async def test_compute_step_checks_position_size(service: EducationService) -> None:
    assert (await service.check_step("alice", TUTORIAL, 3, "20")).passed
    assert not (await service.check_step("alice", TUTORIAL, 3, "200")).passed
    with pytest.raises(ValidationError, match="expected a number"):
        await service.check_step("alice", TUTORIAL, 3, "twenty")


async def test_market_steps_without_a_market_say_what_is_missing(service: EducationService) -> None:
    with pytest.raises(ValidationError, match="paper exchange"):
        await service.check_step("alice", TUTORIAL, 1, None)
    with pytest.raises(ValidationError, match="market data"):
        await service.prepare_step("alice", TUTORIAL, 2)


async def test_unknown_tutorial_and_step_are_clear_errors(service: EducationService) -> None:
    with pytest.raises(ValidationError, match="no tutorial 'nope'"):
        await service.check_step("alice", "nope", 0, "1")
    with pytest.raises(ValidationError, match="steps 0-3"):
        await service.check_step("alice", TUTORIAL, 9, "1")
    with pytest.raises(ValidationError, match="is a lesson"):
        service.get_tutorial("limit-orders")


async def test_glossary_quiz_round_trip_updates_the_review_card(
    service: EducationService, clock: Clock
) -> None:
    question = await service.next_quiz("discord:42", "spread")
    assert question.quiz_id == "glossary:spread"
    assert "Spread" in question.choices
    assert "spread" not in question.question.lower().split("?", 1)[1]  # the term is masked
    right = question.choices.index("Spread") + 1
    outcome = await service.answer_quiz("discord:42", str(right))
    assert outcome.correct
    recs = [r.id for r in await service.recommend_content("discord:42") if r.kind == "glossary"]
    assert "spread" not in recs  # reviewed just now, due later


async def test_pending_quiz_survives_a_restart(settings: EducationSettings, clock: Clock) -> None:
    async with EducationService(settings, clock=clock, metrics_registry=CollectorRegistry()) as one:
        question = await one.next_quiz("bob", TUTORIAL)
    async with EducationService(settings, clock=clock, metrics_registry=CollectorRegistry()) as two:
        outcome = await two.answer_quiz("bob", 1)
    assert question.quiz_id == f"tutorial:{TUTORIAL}:0"
    assert not outcome.correct
    assert outcome.right_choice == "99"


async def test_answer_without_a_question_is_a_clear_error(service: EducationService) -> None:
    with pytest.raises(ValidationError, match="no question is waiting"):
        await service.answer_quiz("alice", 1)


async def test_bad_answer_keeps_the_question_pending(service: EducationService) -> None:
    await service.next_quiz("alice", "spread")
    with pytest.raises(ValidationError, match="choice number"):
        await service.answer_quiz("alice", "banana")
    outcome = await service.answer_quiz("alice", 1)
    assert outcome.quiz_id == "glossary:spread"


async def test_quiz_without_topic_picks_a_due_term(service: EducationService) -> None:
    await service.track_progress("alice", "limit-orders", status="completed")
    question = await service.next_quiz("alice")
    assert question.quiz_id in {"glossary:limit-order", "glossary:order-book"}


def test_swing_helper_agrees_on_a_simple_rise() -> None:
    from omegafarm.education._market import current_swing

    close = np.concatenate([np.linspace(100, 80, 30), np.linspace(80, 120, 40)])
    swing = current_swing(close * 1.001, close * 0.999, close)
    assert swing.rising
    assert swing.start_price == pytest.approx(80 * 0.999)
    assert swing.retracement(0.5) == pytest.approx((swing.start_price + swing.end_price) / 2)


async def test_answer_is_judged_against_the_swing_the_user_was_shown(
    settings: EducationSettings, clock: Clock
) -> None:
    candles = Candles()
    async with EducationService(
        settings, candles=candles, clock=clock, metrics_registry=CollectorRegistry()
    ) as svc:
        await svc.prepare_step("alice", TUTORIAL, 2)
        shown = (await svc.check_step("alice", TUTORIAL, 2, "1")).expected
        assert shown is not None
        last = candles.rows[-1].copy()
        last[2:5] = last[4] * 1.2  # a new candle far above: the current swing changes
        candles.rows = np.vstack([candles.rows, last])
        clock.advance(minutes=1)
        assert (await svc.check_step("alice", TUTORIAL, 2, str(shown))).passed
        clock.advance(minutes=30)  # too late: the live swing counts again
        late = await svc.check_step("alice", TUTORIAL, 2, str(shown))
        assert not late.passed
        assert late.expected != pytest.approx(shown)


async def test_two_users_in_one_step_are_each_judged_against_what_they_were_shown(
    settings: EducationSettings, clock: Clock
) -> None:
    candles = Candles()
    async with EducationService(
        settings, candles=candles, clock=clock, metrics_registry=CollectorRegistry()
    ) as svc:
        await svc.prepare_step("alice", TUTORIAL, 2)
        alice_saw = (await svc.check_step("alice", TUTORIAL, 2, "1")).expected
        assert alice_saw is not None
        last = candles.rows[-1].copy()
        last[2:5] = last[4] * 1.2  # a new candle far above: the current swing changes
        candles.rows = np.vstack([candles.rows, last])
        clock.advance(minutes=1)
        await svc.prepare_step("bob", TUTORIAL, 2)  # bob is shown the new swing
        bob_saw = (await svc.check_step("bob", TUTORIAL, 2, "1")).expected
        assert bob_saw is not None
        assert bob_saw != pytest.approx(alice_saw)

        assert (await svc.check_step("alice", TUTORIAL, 2, str(alice_saw))).passed
        assert not (await svc.check_step("alice", TUTORIAL, 2, str(bob_saw))).passed
        assert (await svc.check_step("bob", TUTORIAL, 2, str(bob_saw))).passed
        assert not (await svc.check_step("bob", TUTORIAL, 2, str(alice_saw))).passed
