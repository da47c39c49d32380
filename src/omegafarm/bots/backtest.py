"""The backtest runner: the same Strategy and Trader as a live bot, on the paper matching engine.

Bar by bar, in this order, for each bar ``i`` of the chosen range::

    1. the paper exchange processes bar i (orders sent at the close of bar i-1 arrive at its
       open: market orders walk the simulated book around that open — the slippage model —
       resting limit orders fill when the bar trades through them);
    2. the Trader receives the new state of each of its open orders (ledger, brackets);
    3. bar i becomes visible in the feed and the strategy's ``on_candle`` runs;
    4. the orders it asked for are sent to the exchange at the bar's close time.

So no order can fill at a price from before it was sent. No Redis and no event loop: the
backtest calls the paper venue's synchronous methods, which hand back our order models. The
per-bar path is a clock step and a strategy call; indicators are precomputed (causal
functions), and the equity curve and the metrics are computed with numpy after the loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from omegafarm.bots._convert import dec, rejected, update_from_order
from omegafarm.bots.feed import CandleFeed
from omegafarm.bots.ledger import Ledger
from omegafarm.bots.performance import F64, Performance, bars_per_year, measure
from omegafarm.bots.strategy import Candle, ParamValue, Strategy
from omegafarm.bots.trader import CancelOrder, PlaceOrder, RiskLimits, Trader
from omegafarm.core.errors import ConfigError, ValidationError
from omegafarm.exchange.errors import ExchangeCallError
from omegafarm.exchange.paper import (
    BookSettings,
    PaperExchange,
    PaperSettings,
    PaperVenue,
    ReplaySource,
)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class BacktestConfig:
    """What to run, on which candles, with which money, fees and slippage."""

    strategy: type[Strategy]
    data: Path
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    symbol: str | None = None
    timeframe: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    capital: Decimal = Decimal(10_000)
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    book: BookSettings = field(default_factory=BookSettings)
    limits: RiskLimits = field(default_factory=RiskLimits)


@dataclass
class BacktestResult:
    """Everything a backtest produced."""

    strategy: str
    params: dict[str, ParamValue]
    symbol: str
    timeframe: str
    start_ms: int
    end_ms: int
    bars: int
    performance: Performance
    ledger: Ledger
    ts_ms: F64
    equity: F64
    position: F64
    halted: str | None

    def as_dict(self, *, curve: bool = True) -> dict[str, Any]:
        """JSON-friendly report: metrics, every trade and (optionally) the equity curve."""
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "params": self.params,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "from_ms": self.start_ms,
            "to_ms": self.end_ms,
            "bars": self.bars,
            "halted": self.halted,
            "metrics": self.performance.as_dict(),
            "trades": [t.as_dict() for t in self.ledger.trades],
        }
        if curve:
            out["equity_curve"] = [
                [int(t), float(e)] for t, e in zip(self.ts_ms, self.equity, strict=True)
            ]
        return out


def load_source(path: Path, symbol: str | None, timeframe: str | None) -> ReplaySource:
    """The replay source of one symbol from a candle file or a folder of them."""
    if not path.exists():
        raise ConfigError(f"backtest data {path} does not exist")
    if path.is_file():
        return ReplaySource(path, timeframe or "1m", [symbol] if symbol else None)
    files = [f for f in sorted(path.glob("*")) if f.suffix in (".csv", ".parquet")]
    stems = [f.stem.rpartition("-") for f in files]
    found = [
        (name.replace("_", "/", 1), tf)
        for name, _, tf in stems
        if (symbol is None or name.replace("_", "/", 1) == symbol)
        and (timeframe is None or tf == timeframe)
    ]
    if len({s for s, _ in found}) != 1 or len(found) != 1:
        names = ", ".join(f"{s} {tf}" for s, tf in found) or "none"
        raise ConfigError(
            f"{path}: choose exactly one data file with --symbol/--timeframe (matching: {names})"
        )
    sym, tf = found[0]
    return ReplaySource(path, tf, [sym])


class Backtest:
    """One run of one strategy over one symbol's candles."""

    def __init__(
        self, config: BacktestConfig, source: ReplaySource | None = None, *, fast_path: bool = True
    ) -> None:
        """``fast_path=False`` plays every bar event of the paper engine (same report)."""
        self.config = config
        self.source = source or load_source(config.data, config.symbol, config.timeframe)
        self.symbol = next(iter(self.source.specs))
        spec = self.source.specs[self.symbol]
        self.candles = self.source.candles(self.symbol, 0)
        self.tf_ms = _tf_ms(self.source.timeframe)
        ts = self.candles.ts
        self.i0 = int(np.searchsorted(ts, config.from_ms)) if config.from_ms is not None else 0
        self.i1 = int(np.searchsorted(ts, config.to_ms)) if config.to_ms is not None else len(ts)
        if self.i1 - self.i0 < 2:
            raise ValidationError("the --from/--to range holds fewer than 2 candles")
        settings = PaperSettings(
            symbols=[self.symbol],
            timeframe=self.source.timeframe,
            warmup_bars=0,
            clock="manual",
            maker_fee=config.maker_fee,
            taker_fee=config.taker_fee,
            initial_balances={spec.quote: config.capital},
            perpetuals=False,
            book=config.book,
            fast_path=fast_path,
        )
        self.venue = PaperVenue(PaperExchange(settings, source=self.source))
        self.exchange = self.venue.exchange  # the clock, and exact balances for reports
        self.feed = CandleFeed(self.candles.as_matrix(0, len(ts)), full=True)
        self.strategy = config.strategy(dict(config.params))
        ledger = Ledger("bt", self.symbol, spec.base, spec.quote, config.capital)
        self.trader = Trader(
            "bt", self.strategy, ledger, self.feed, config.limits, now_ms=lambda: self._now_ms
        )
        self._now_ms = int(ts[self.i0])

    def run(self, progress: ProgressFn | None = None) -> BacktestResult:
        """Replay every bar of the range; returns the report."""
        trader, feed, ledger = self.trader, self.feed, self.trader.ledger
        c, tf_ms = self.candles, self.tf_ms
        ts = c.ts.tolist()
        o, h, lo, cl, v = (x.tolist() for x in (c.open, c.high, c.low, c.close, c.volume))
        feed.reveal(self.i0)
        trader.start()
        every = max(1, (self.i1 - self.i0) // 100)
        for i in range(self.i0, self.i1):
            self._now_ms = ts[i] + tf_ms
            if ledger.has_open_orders:  # the engine has work only while an order is working
                self._poll()
            feed.reveal(i + 1)
            trader.candle(Candle(ts[i], o[i], h[i], lo[i], cl[i], v[i]))
            if trader.outbox:
                self._execute()
            if progress is not None and (i - self.i0) % every == 0:
                progress(i - self.i0, self.i1 - self.i0)
        trader.stop()
        if progress is not None:
            progress(self.i1 - self.i0, self.i1 - self.i0)
        return self._result()

    # ----------------------------------------------------------------- orders
    def _catch_up(self) -> None:
        """Bring the exchange's clock to the close of the current bar (one jump)."""
        if self.exchange.milliseconds() < self._now_ms:
            self.exchange.step_to(self._now_ms)

    def _execute(self) -> None:
        """Send queued commands in order (ones the strategy adds meanwhile go to the back)."""
        self._catch_up()
        outbox = self.trader.outbox
        while outbox:
            cmd = outbox.pop(0)
            if isinstance(cmd, PlaceOrder):
                self._place(cmd)
            elif isinstance(cmd, CancelOrder):
                self._cancel(cmd)

    def _place(self, cmd: PlaceOrder) -> None:
        try:
            placed = self.venue.place(
                cmd.symbol, cmd.type, cmd.side, cmd.amount, cmd.price, cmd.client_order_id
            )
        except ExchangeCallError as error:
            pending = self.trader.ledger.orders[cmd.client_order_id]
            self.trader.order_update(rejected(pending, str(error)))
            return
        self.trader.order_update(update_from_order(placed))

    def _cancel(self, cmd: CancelOrder) -> None:
        order = self.venue.cancel(cmd.order_id or "", cmd.symbol, cmd.client_order_id)
        self.trader.order_update(update_from_order(order))

    def _poll(self) -> None:
        self._catch_up()
        for order in [o for o in self.trader.ledger.open_orders() if o.order_id]:
            self.trader.order_update(update_from_order(self.venue.order(order.order_id or "")))
        if self.trader.outbox:
            self._execute()

    # ----------------------------------------------------------------- report
    def _result(self) -> BacktestResult:
        ledger = self.trader.ledger
        c = self.candles
        ts = c.ts[self.i0 : self.i1]
        close = c.close[self.i0 : self.i1]
        n = ts.shape[0]
        d_pos = np.zeros(n)
        d_cash = np.zeros(n)
        if ledger.fills:
            f_ts = np.array([f.ts_ms for f in ledger.fills], dtype=np.int64)
            idx = np.clip(np.searchsorted(ts, f_ts, side="right") - 1, 0, n - 1)
            sign = np.array([1.0 if f.side == "buy" else -1.0 for f in ledger.fills])
            qty = np.array([float(f.amount) for f in ledger.fills])
            cash = np.array(
                [-s * float(f.cost) - float(f.fee) for s, f in zip(sign, ledger.fills, strict=True)]
            )
            np.add.at(d_pos, idx, sign * qty)
            np.add.at(d_cash, idx, cash)
        position = np.cumsum(d_pos)
        capital = float(self.config.capital)
        equity = capital + np.cumsum(d_cash) + position * close
        last = dec(float(close[-1]))
        perf = measure(
            equity,
            position,
            ledger.trades,
            bars_per_year=bars_per_year(self.tf_ms),
            fees=ledger.fees,
            realized_pnl=ledger.realized_pnl,
            unrealized_pnl=ledger.unrealized_pnl(last),
            start_equity=capital,
        )
        return BacktestResult(
            strategy=self.strategy.name,
            params=dict(self.strategy.params),
            symbol=self.symbol,
            timeframe=self.source.timeframe,
            start_ms=int(ts[0]),
            end_ms=int(ts[-1]) + self.tf_ms,
            bars=n,
            performance=perf,
            ledger=ledger,
            ts_ms=ts.astype(np.float64),
            equity=equity,
            position=position,
            halted=self.trader.halted,
        )


def _tf_ms(timeframe: str) -> int:
    unit = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
    if timeframe[-1:] not in unit or not timeframe[:-1].isdigit():
        raise ConfigError(f"timeframe {timeframe!r} is not N s/m/h/d/w")
    return int(timeframe[:-1]) * unit[timeframe[-1]]


def run_backtest(config: BacktestConfig, progress: ProgressFn | None = None) -> BacktestResult:
    """Build and run one backtest."""
    return Backtest(config).run(progress)


def finite_or_none(x: float | None) -> float | None:
    """``x`` when finite, else None (for JSON)."""
    return x if x is not None and math.isfinite(x) else None
