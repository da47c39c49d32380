"""Verifying tutorial steps: quizzes, paper orders, Fibonacci levels and computed answers.

Each check has two halves: ``prepare`` tells the user what they need (e.g. the swing's start and
end prices, computed now from live candles) and ``verify`` judges the answer. Market-dependent
checks read the paper exchange through the ports in ``sources``; without one they fail with a
message that says what is missing, never with an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import numpy as np

from omegafarm.core.errors import ValidationError
from omegafarm.education import _market
from omegafarm.education.models import (
    Check,
    CheckResult,
    ComputeCheck,
    FibonacciCheck,
    PaperOrderCheck,
    QuizCheck,
)
from omegafarm.education.sources import CandleSource, OrderLike, PaperOrderSource

_LIVE_STATUSES = frozenset({"open", "closed", "filled", "partially_filled", "new"})


def parse_number(answer: str | float | int | None) -> float:
    """A user's numeric answer (``"1,234.5"`` allowed); ValidationError if it is not a number."""
    if isinstance(answer, int | float):
        return float(answer)
    text = (answer or "").strip().replace(",", "").replace("_", "")
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(f"expected a number, got {answer!r}") from None
    if not np.isfinite(value):
        raise ValidationError(f"expected a finite number, got {answer!r}")
    return value


def parse_choice(answer: str | float | int | None, choices: int) -> int:
    """A 1-based choice number typed by a user → 0-based index; ValidationError otherwise."""
    message = f"answer with a choice number from 1 to {choices}, not {answer!r}"
    try:
        value = parse_number(answer)
    except ValidationError:
        raise ValidationError(message) from None
    if value != int(value) or not 1 <= value <= choices:
        raise ValidationError(message)
    return int(value) - 1


class CheckRunner:
    """Prepares and verifies checks against optional market sources."""

    def __init__(
        self,
        orders: PaperOrderSource | None,
        candles: CandleSource | None,
        *,
        timeframe: str = "1h",
        limit: int = 300,
    ) -> None:
        self._orders = orders
        self._candles = candles
        self._timeframe = timeframe
        self._limit = limit

    async def _ohlc(self, symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._candles is None:
            raise ValidationError("this step needs market data; start the farm with `omega up`")
        rows = await self._candles.fetch_candles(symbol, self._timeframe, self._limit)
        data = np.asarray(rows, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] < 3 or data.shape[1] < 5:
            raise ValidationError(f"not enough candles for {symbol} to work with")
        return data[:, 2], data[:, 3], data[:, 4]

    async def expected(self, check: FibonacciCheck | ComputeCheck) -> tuple[float, str]:
        """The right number for a check, and the context the user needs to compute it."""
        if isinstance(check, FibonacciCheck):
            high, low, close = await self._ohlc(check.symbol)
            swing = _market.current_swing(high, low, close)
            word = "low to high" if swing.rising else "high to low"
            context = (
                f"The current swing of {check.symbol} ({self._timeframe}) runs {word}: "
                f"from {swing.start_price:,.2f} to {swing.end_price:,.2f}."
            )
            return swing.retracement(check.ratio), context
        return await self._compute(check)

    async def _compute(self, check: ComputeCheck) -> tuple[float, str]:
        if check.answer_from == "position_size":
            keys = ("equity", "risk_pct", "entry", "stop")
            args = {k: float(check.param(k, 0.0) or 0.0) for k in keys}
            context = (
                f"Equity {args['equity']:,.2f}, risk {args['risk_pct']:g} % per trade, "
                f"entry {args['entry']:,.2f}, stop {args['stop']:,.2f}."
            )
            return _market.position_size(**args), context
        symbol = str(check.param("symbol", "BTC/USDT"))
        period = int(float(check.param("period", 14) or 14))
        high, low, close = await self._ohlc(symbol)
        if check.answer_from == "sma":
            shown = ", ".join(f"{x:,.2f}" for x in close[-period:])
            return _market.sma(close, period), f"The last {period} closes of {symbol}: {shown}."
        rows = "; ".join(
            f"H {h:,.2f} L {lo:,.2f} C {c:,.2f}"
            for h, lo, c in zip(
                high[-period - 1 :], low[-period - 1 :], close[-period - 1 :], strict=True
            )
        )
        return _market.atr(high, low, close, period), f"Recent candles of {symbol}: {rows}."

    async def prepare(self, check: Check) -> tuple[str, float | None]:
        """Text the user needs before answering, and the answer it implies (if numeric)."""
        if isinstance(check, FibonacciCheck | ComputeCheck):
            expected, context = await self.expected(check)
            return context, expected
        return "", None

    async def verify(
        self, check: Check, answer: str | float | int | None, shown: float | None = None
    ) -> CheckResult:
        """Judge one answer; ValidationError when the answer is malformed or data is missing.

        ``shown`` is the expected number behind the context the user was shown: a market that
        moved on since (a new candle extending the swing) must not turn a right answer wrong.
        """
        if isinstance(check, QuizCheck):
            chosen = parse_choice(answer, len(check.choices))
            right = check.choices[check.answer]
            if chosen == check.answer:
                return CheckResult(True, f"Correct. {check.why}")
            return CheckResult(False, f"Not quite: the answer is {right!r}. {check.why}")
        if isinstance(check, PaperOrderCheck):
            return await self._verify_order(check)
        value = parse_number(answer)
        expected = shown if shown is not None else (await self.expected(check))[0]
        off_pct = abs(value - expected) / abs(expected) * 100.0 if expected else abs(value) * 100.0
        if off_pct <= check.tolerance_pct:
            return CheckResult(
                True, f"Correct: {expected:,.6g} (you were {off_pct:.2f} % off).", expected
            )
        return CheckResult(
            False,
            f"{value:,.6g} is {off_pct:.1f} % away from {expected:,.6g}; "
            f"within {check.tolerance_pct:g} % counts.",
            expected,
        )

    @staticmethod
    def _field(order: Mapping[str, object] | OrderLike, name: str) -> object:
        return order.get(name) if isinstance(order, Mapping) else getattr(order, name, None)

    def _matches(self, check: PaperOrderCheck, order: Mapping[str, object] | OrderLike) -> bool:
        return (
            str(self._field(order, "side") or "").lower() == check.side
            and str(self._field(order, "type") or "").lower() == check.order_type
            and str(self._field(order, "status") or "").lower() in _LIVE_STATUSES
        )

    async def _verify_order(self, check: PaperOrderCheck) -> CheckResult:
        if self._orders is None:
            raise ValidationError(
                "this step needs the paper exchange; start the farm with `omega up`"
            )
        orders = [
            o for o in await self._orders.fetch_orders(check.symbol) if self._matches(check, o)
        ]
        what = f"{check.order_type} {check.side} order on {check.symbol}"
        if not orders:
            return CheckResult(False, f"No {what} found yet. {check.instruction}")
        if check.max_distance_pct is None or check.order_type == "market":
            return CheckResult(True, f"Found your {what}.")
        _, _, close = await self._ohlc(check.symbol)
        last = float(close[-1])
        for order in orders:
            price = self._field(order, "price")
            if isinstance(price, int | float | str | Decimal) and price != "":
                distance = abs(parse_number(str(price)) - last) / last * 100.0
                if distance <= check.max_distance_pct:
                    return CheckResult(
                        True, f"Found your {what}, {distance:.2f} % from the last price."
                    )
        return CheckResult(
            False,
            f"Your {what} is more than {check.max_distance_pct:g} % from the last price "
            f"{last:,.2f}.",
        )
