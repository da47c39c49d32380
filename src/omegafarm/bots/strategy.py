"""The Strategy interface: the only class a user writes, identical in backtest, paper and live.

A strategy reacts to events and says what it wants; it never talks to an exchange::

    class MyStrategy(Strategy):
        name = "my_sma"
        defaults = {"fast": 10, "slow": 30}

        def on_start(self) -> None:
            self.fast = self.indicator(sma, "close", int(self.params["fast"]))
            self.slow = self.indicator(sma, "close", int(self.params["slow"]))

        def on_candle(self, candle: Candle) -> None:
            if crossover(self.fast, self.slow) and self.position == 0:
                self.buy(self.size_by_fraction(0.95))
            elif crossover(self.slow, self.fast) and self.position > 0:
                self.close_position()

Hooks: ``on_start``, ``on_candle`` (each closed candle), ``on_ticker`` (live only: between
candles), ``on_order_update`` (every change of one of its orders, with the new fill if any),
``on_stop``. Helpers: ``buy``/``sell`` (market or limit, with ``stop_loss``/``take_profit``),
``cancel``, ``close_position``, ``size_by_risk``, ``size_by_fraction``, ``indicator`` and the
recent ``candles`` as numpy arrays. The Cosmic Factor functions are ``self.cosmic.*``.

Orders are decided at a candle's close and reach the exchange after the callback returns, so a
market order fills at the next candle's open at the earliest: no strategy can trade at a price
it could not have had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import Any, ClassVar, NamedTuple, Protocol

from omegafarm import cosmic as _cosmic
from omegafarm.bots.feed import CandleFeed, Indicator, IndicatorFn
from omegafarm.bots.ledger import Fill, OrderUpdate, Side
from omegafarm.core.errors import ValidationError


class Broker(Protocol):
    """What a strategy may ask of its host: candles, its own account, and order wishes.

    Narrow on purpose: the :class:`~omegafarm.bots.trader.Trader` is the one broker (in a
    backtest and live alike), and the strategy needs nothing of its ledger or brackets beyond
    this, so the two modules do not import each other.
    """

    @property
    def feed(self) -> CandleFeed: ...

    @property
    def position(self) -> Decimal: ...

    @property
    def cash(self) -> Decimal: ...

    def equity(self) -> Decimal: ...

    def open_orders(self) -> list[OrderUpdate]: ...

    def order(
        self,
        side: Side,
        amount: Decimal | float,
        limit: float | None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
    ) -> str | None: ...

    def cancel(self, client_order_id: str) -> None: ...

    def close_position(self) -> str | None: ...

    def set_stop_loss(self, price: float | None) -> None: ...

    def set_take_profit(self, price: float | None) -> None: ...

    def log(self, event: str, **fields: Any) -> None: ...


class Candle(NamedTuple):
    """One closed candle (ms timestamp of its open); immutable. A named tuple rather than a
    frozen dataclass: a backtest builds one per bar, and a tuple is built in C."""

    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Tick:
    """A live price update between candles."""

    ts_ms: int
    last: float
    bid: float | None = None
    ask: float | None = None


ParamValue = int | float


class Strategy:
    """Base class of every strategy: override the hooks, call the helpers."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, ParamValue]] = {}
    cosmic: ClassVar[ModuleType] = _cosmic

    def __init__(self, params: Mapping[str, ParamValue] | None = None) -> None:
        unknown = sorted(set(params or {}) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ValidationError(f"{self.name}: unknown parameter(s) {unknown}; known: {known}")
        self.params: dict[str, ParamValue] = {**self.defaults, **(params or {})}
        self.state: dict[str, Any] = {}  # what the strategy wants persisted (JSON-able)
        self._broker: Broker | None = None

    def bind(self, broker: Broker) -> None:
        """Attach the broker (the trader) that executes this strategy's wishes (the host's job)."""
        self._broker = broker

    @property
    def broker(self) -> Broker:
        if self._broker is None:
            raise ValidationError(f"strategy {self.name} is not bound to a trader yet")
        return self._broker

    # ----------------------------------------------------------------- hooks
    def on_start(self) -> None:
        """Called once before the first candle: create indicators here."""

    def on_candle(self, candle: Candle) -> None:
        """Called at the close of every candle."""

    def on_ticker(self, tick: Tick) -> None:
        """Called on live price updates between candles (not in backtests)."""

    def on_order_update(self, update: OrderUpdate, fill: Fill | None) -> None:
        """Called when one of this strategy's orders changes (``fill`` is the new part)."""

    def on_stop(self) -> None:
        """Called once when the bot stops."""

    # ----------------------------------------------------------------- data
    @property
    def candles(self) -> CandleFeed:
        """Closed candles up to now (numpy columns ``.close``, ``.high``...)."""
        return self.broker.feed

    def indicator(self, fn: IndicatorFn, *args: Any, **kwargs: Any) -> Indicator:
        """A causal indicator; string args name candle columns (``"close"``)."""
        return Indicator(self.broker.feed, fn, args, kwargs)

    # ----------------------------------------------------------------- account
    @property
    def position(self) -> Decimal:
        """Signed position of this bot in its symbol (base units)."""
        return self.broker.position

    @property
    def cash(self) -> Decimal:
        """This bot's cash (quote units)."""
        return self.broker.cash

    @property
    def equity(self) -> Decimal:
        """Cash plus position marked at the last close."""
        return self.broker.equity()

    @property
    def open_orders(self) -> list[OrderUpdate]:
        """This bot's orders that are still working."""
        return self.broker.open_orders()

    # ----------------------------------------------------------------- orders
    def buy(
        self,
        amount: Decimal | float,
        *,
        limit: float | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
    ) -> str | None:
        """Buy ``amount`` (market, or limit at ``limit``); returns the client order id."""
        return self.broker.order("buy", amount, limit, stop_loss, take_profit)

    def sell(
        self,
        amount: Decimal | float,
        *,
        limit: float | None = None,
        stop_loss: float | None = None,
        take_profit: float | None = None,
    ) -> str | None:
        """Sell ``amount`` (market, or limit at ``limit``); returns the client order id."""
        return self.broker.order("sell", amount, limit, stop_loss, take_profit)

    def cancel(self, client_order_id: str) -> None:
        """Cancel one of this bot's open orders."""
        self.broker.cancel(client_order_id)

    def cancel_all(self) -> None:
        """Cancel every open order of this bot."""
        for order in self.broker.open_orders():
            self.broker.cancel(order.client_order_id)

    def close_position(self) -> str | None:
        """Market order that brings the position back to zero (None when already flat)."""
        return self.broker.close_position()

    def set_stop_loss(self, price: float | None) -> None:
        """Exit the whole position at market once a candle trades through ``price``."""
        self.broker.set_stop_loss(price)

    def set_take_profit(self, price: float | None) -> None:
        """Exit the whole position with a resting limit order at ``price``."""
        self.broker.set_take_profit(price)

    # ----------------------------------------------------------------- sizing
    def size_by_fraction(self, fraction: float, price: float | None = None) -> Decimal:
        """Amount worth ``fraction`` of equity at ``price`` (default: last close)."""
        ref = price if price is not None else self.candles.last_close()
        if not ref > 0:
            return Decimal(0)
        return _units(float(self.equity) * fraction / ref)

    def size_by_risk(self, entry: float, stop: float, risk: float = 0.01) -> Decimal:
        """Amount that loses ``risk`` of equity if price moves from ``entry`` to ``stop``."""
        distance = abs(entry - stop)
        if distance <= 0 or entry <= 0:
            return Decimal(0)
        amount = float(self.equity) * risk / distance
        cap = float(self.equity) / entry  # never more than the bot can pay for
        return _units(min(amount, cap * 0.98))

    def log(self, event: str, **fields: Any) -> None:
        """Log one event with the bot's id and symbol bound."""
        self.broker.log(event, **fields)


def _units(amount: float) -> Decimal:
    """An amount with 8 decimals, rounded down (the exchange truncates to its own step)."""
    if amount <= 0:
        return Decimal(0)
    return Decimal(int(amount * 1e8)) / Decimal(100_000_000)
