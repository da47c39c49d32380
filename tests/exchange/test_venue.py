"""Venues, not the string "paper": one factory picks the adapter, traits are attributes, the
paper adapter hands typed models straight from the engine (the backtest's path)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

import omegafarm
from omegafarm.exchange import ExchangeSettings, InsufficientFundsError, Order
from omegafarm.exchange import normalize as nz
from omegafarm.exchange.ccxt_adapter import CcxtVenue
from omegafarm.exchange.factory import build_venue, rate_interval_ms, uses_credentials
from omegafarm.exchange.paper import PaperSettings, PaperVenue
from omegafarm.exchange.paper import _structures as st

SRC = Path(omegafarm.__file__).parent
PAPER_TEST = re.compile(r"""[!=]=\s*["']paper["']|["']paper["']\s*[!=]=""")


async def test_the_factory_picks_the_paper_adapter_with_its_traits() -> None:
    settings = ExchangeSettings()
    venue = build_venue(settings)
    assert isinstance(venue, PaperVenue)
    assert (venue.shares_market_data, venue.uses_credentials, venue.limits_orders) == (
        False,
        False,
        False,
    )
    assert venue.rate_interval_ms == rate_interval_ms(settings)
    assert not uses_credentials(settings)
    await venue.close()


async def test_the_factory_picks_the_ccxt_adapter_with_ccxts_published_rate() -> None:
    settings = ExchangeSettings(exchange_id="binance")
    venue = build_venue(settings)
    try:
        assert isinstance(venue, CcxtVenue)
        assert (venue.shares_market_data, venue.uses_credentials, venue.limits_orders) == (
            True,
            True,
            True,
        )
        assert venue.rate_interval_ms == rate_interval_ms(settings) == 50.0  # binance: 20/s
        assert uses_credentials(settings)
    finally:
        await venue.close()


def test_nothing_outside_the_venue_factory_and_the_paper_package_asks_for_paper() -> None:
    allowed = {SRC / "exchange" / "factory.py"}
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in SRC.rglob("*.py")
        if path not in allowed and "paper" not in path.relative_to(SRC).parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PAPER_TEST.search(line)
    ]
    assert offenders == []


def _venue() -> PaperVenue:
    settings = PaperSettings(
        clock="manual",
        symbols=["BTC/USDT"],
        perpetuals=False,
        initial_balances={"USDT": Decimal(1000)},
    )
    return PaperVenue.from_settings(settings)


def test_the_paper_venue_places_and_fills_as_typed_models_without_an_event_loop() -> None:
    venue = _venue()
    placed = venue.place("BTC/USDT", "market", "buy", Decimal("0.01"), None, "c1")
    assert isinstance(placed, Order)
    assert (placed.status, placed.client_order_id, placed.filled) == ("open", "c1", Decimal(0))
    venue.exchange.advance()
    filled = venue.order(placed.id)
    assert filled.status == "closed"
    assert filled.filled == Decimal("0.01")
    assert filled.fee is not None and filled.fee.currency == "USDT"
    assert len(filled.trades) == 1 and filled.trades[0].order_id == placed.id


def test_the_paper_venue_says_the_same_as_its_ccxt_face() -> None:
    venue = _venue()
    placed = venue.place("BTC/USDT", "market", "buy", Decimal("0.01"), None, "c1")
    venue.exchange.advance()
    typed = venue.order(placed.id)
    raw = venue.exchange.order_now(placed.id)
    assert typed == nz.order(st.order_dict(raw), nz.Ctx("paper", "fetch_order"))


def test_the_paper_venue_refuses_in_our_error_tree() -> None:
    venue = _venue()
    with pytest.raises(InsufficientFundsError, match=r"^paper\.create_order\(BTC/USDT\)"):
        venue.place("BTC/USDT", "limit", "buy", Decimal(1), Decimal(40_000), "c2")
