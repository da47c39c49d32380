"""The paper engine's remembered conversions give what converting afresh gives.

``dec`` (float → Decimal of its shortest repr) remembers recent values and ``q`` (Decimal → the
float ccxt reports → Decimal) remembers recent objects; both must answer exactly as the plain
conversion, including the values a memo could confuse (0.0 and -0.0 are one dict key, NaN is
never equal to itself) and after the memo is cleared. The book is a named tuple whose zero
slippage must leave the depth book's prices as they were.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from omegafarm.exchange.paper import BookSettings, ReplaySource, _models, _state
from omegafarm.exchange.paper._book import Book, book_at
from omegafarm.exchange.paper._fill import book_at as fill_book_at
from omegafarm.exchange.paper._models import q
from omegafarm.exchange.paper._state import ceil_to, dec, floor_to

FILE = "ETH_BTC-5m.csv"


def _fresh_dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


@pytest.mark.parametrize(
    "values",
    [
        [0.1, 0.1, 0.2, 0.1],
        [0.0, -0.0, 0.0, -0.0],
        [-0.0, 0.0],
        [math.nan, math.nan, 1.5],
        [math.inf, -math.inf, math.inf],
        [1e-320, 5e-324, 1e308, 1.0, 1],
    ],
    ids=["repeats", "zero-then-minus-zero", "minus-zero-first", "nan", "infinities", "extremes"],
)
def test_dec_remembered_equals_dec_afresh_value_and_form(values: list[float]) -> None:
    for x in values:
        got, want = dec(x), _fresh_dec(x)
        assert str(got) == str(want)  # the same digits and exponent, not only the same value
        assert got.is_signed() == want.is_signed()


def test_dec_stays_right_across_memo_clears() -> None:
    xs = [i / 7 for i in range(3 * _state._DEC_MEMO_SIZE)]
    first = [dec(x) for x in xs]
    again = [dec(x) for x in reversed(xs)]
    assert [str(d) for d in first] == [str(_fresh_dec(x)) for x in xs]
    assert [str(d) for d in again] == [str(_fresh_dec(x)) for x in reversed(xs)]
    assert len(_state._DEC_MEMO) <= _state._DEC_MEMO_SIZE


def test_q_remembered_equals_q_afresh_for_every_price_and_amount_of_a_real_file(
    ohlcv_dir: Path,
) -> None:
    source = ReplaySource(ohlcv_dir / FILE, "5m")
    c = source.candles(next(iter(source.specs)), 0)
    values = [Decimal(repr(x)) * Decimal("1.001") for x in c.close[:2000].tolist()]
    values += [Decimal("-0"), Decimal("0E-8"), Decimal("-1.5"), Decimal("NaN")]
    for _ in range(2):  # the second pass reads what the first remembered
        for v in values:
            want = (
                Decimal(repr(float(v)))
                if v
                else (Decimal("-0.0") if v.is_signed() else Decimal("0.0"))
            )
            got = q(v)
            assert str(got) == str(want) or (got.is_nan() and want.is_nan())


def test_q_of_an_equal_but_new_object_is_converted_not_taken_from_another() -> None:
    a = Decimal("1.10")
    assert str(q(a)) == "1.1"
    b = Decimal("2.5")  # a new object (may even reuse a freed id): its own answer
    assert str(q(b)) == "2.5"
    for _ in range(_models._Q_SEEN_SIZE + 5):
        q(Decimal("3.25") + 0)
    assert len(_models._Q_SEEN) <= _models._Q_SEEN_SIZE
    assert str(q(a)) == "1.1"


def _old_ask(book: Book, level: int) -> Decimal:
    """The depth book's formula before the fill models shared the book type."""
    return ceil_to(book.mid * (1 + book.half_spread + level * book.gap), book.tick)


def _old_bid(book: Book, level: int) -> Decimal:
    return max(floor_to(book.mid * (1 - book.half_spread - level * book.gap), book.tick), book.tick)


def test_depth_book_prices_are_the_formulas_digit_for_digit_on_a_real_file(
    ohlcv_dir: Path,
) -> None:
    source = ReplaySource(ohlcv_dir / FILE, "5m")
    symbol = next(iter(source.specs))
    c, spec = source.candles(symbol, 0), source.specs[symbol]
    rng = np.random.default_rng(3)
    for stop in rng.integers(0, len(c), 200).tolist():
        mid = float(c.open[min(stop, len(c) - 1)])
        book = book_at(c, stop, mid, spec, BookSettings())
        for level in (0, 1, 7):
            assert str(book.ask(level)) == str(_old_ask(book, level))
            assert str(book.bid(level)) == str(_old_bid(book, level))
        filled, cost = book.walk("buy", book.level_qty * 3)
        assert filled == book.level_qty * 3
        assert cost == sum((book.level_qty * _old_ask(book, i) for i in range(3)), Decimal(0))


@pytest.mark.parametrize("fill", ["book", "spread", "none"])
def test_fill_models_keep_their_shape(fill: str, ohlcv_dir: Path) -> None:
    source = ReplaySource(ohlcv_dir / FILE, "5m")
    symbol = next(iter(source.specs))
    c, spec = source.candles(symbol, 0), source.specs[symbol]
    settings = BookSettings(fill=fill, slippage_bps=2.0)  # type: ignore[arg-type]
    book = fill_book_at(c, 500, float(c.open[500]), spec, settings)
    assert book.slip == Decimal("0.0002")
    if fill == "book":  # depth: deeper levels cost more
        assert book.ask(3) > book.ask(0) and not book.flat
    else:  # flat: every level is the best level, any size fills there
        assert book.flat and book.ask(3) == book.ask(0)
        assert book.walk("buy", Decimal(10**9)) == (Decimal(10**9), Decimal(10**9) * book.ask(0))
    if fill == "none":
        assert book.half_spread == 0 and book.mid == dec(float(c.open[500]))
