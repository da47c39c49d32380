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

Nothing is silent: every order the exchange refuses (or ends unfilled without being asked to)
is kept with its time, side, size and reason; when most orders were refused the report ends
with a warning naming the reason and the fix. A candle file is loaded (and checked) once per
process and indicators over it are shared, so a grid pays for neither per point.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np

from omegafarm.bots._backtest_input import (
    Coverage,
    FileCheck,
    check_file,
    coverage,
    duration_text,
    resolve_capital,
)
from omegafarm.bots._convert import dec, rejected, update_from_paper
from omegafarm.bots.feed import CandleFeed
from omegafarm.bots.ledger import Ledger, OrderUpdate, Trade
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
from omegafarm.exchange.paper._fill import describe as describe_fill
from omegafarm.exchange.paper._source import Candles

# the fill model of a backtest: half the volatility spread per taker fill, no depth; it needs
# no meaningful volume, so crypto and FX (tick-count volume) candles are treated alike
BACKTEST_BOOK = BookSettings(fill="spread")

ProgressFn = Callable[[int, int], None]
_new_tuple: Callable[[type[Candle], tuple[Any, ...]], Candle] = tuple.__new__
_BLOCK_BARS = 2048  # bars whose candles are made at a time (see Backtest.run)


def _candle_block(c: Candles, start: int, stop: int) -> Iterator[Candle]:
    """The Candles of bars ``[start, stop)``, built in C from that block's columns."""
    cols = [c.ts_list()[start:stop]]  # the open times: the engine's list, made at its set-up
    cols += [x[start:stop].tolist() for x in (c.open, c.high, c.low, c.close, c.volume)]
    return map(_new_tuple, repeat(Candle), zip(*cols, strict=True))


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
    capital: Decimal | str | None = None  # quote units, "20 ETH" (base), None: by the quote
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    book: BookSettings = BACKTEST_BOOK
    limits: RiskLimits = field(default_factory=RiskLimits)


@dataclass(frozen=True)
class Rejection:
    """An order the exchange refused or ended unfilled without the strategy asking."""

    ts_ms: int
    side: str
    type: str
    amount: Decimal
    price: Decimal | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": iso(self.ts_ms),
            "ts_ms": self.ts_ms,
            "side": self.side,
            "type": self.type,
            "amount": str(self.amount),
            "price": None if self.price is None else str(self.price),
            "reason": self.reason,
        }


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
    capital: Decimal = Decimal(0)
    setup: dict[str, str] = field(default_factory=dict)
    orders: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    coverage: Coverage | None = None  # bar intervals of the range without a candle

    def as_dict(self, *, curve: bool = True) -> dict[str, Any]:
        """JSON-friendly report: set-up, metrics, every trade, every refused order and
        (optionally) the equity curve; times as ISO 8601 UTC next to the ms values."""
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "params": self.params,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "from": iso(self.start_ms),
            "to": iso(self.end_ms),
            "from_ms": self.start_ms,
            "to_ms": self.end_ms,
            "bars": self.bars,
            "missing_intervals": self._coverage_dict(),
            "setup": self.setup,
            "halted": self.halted,
            "metrics": self.performance.as_dict(),
            "orders": self.orders,
            "rejected": len(self.rejections),
            "rejected_orders": [r.as_dict() for r in self.rejections],
            "warnings": self.warnings,
            "trades": [self._trade_dict(t) for t in self.ledger.trades],
        }
        if curve:
            out["equity_curve"] = [
                [int(t), float(e)] for t, e in zip(self.ts_ms, self.equity, strict=True)
            ]
        return out

    precision: tuple[Decimal, Decimal] = (Decimal("1e-8"), Decimal("1e-8"))  # (tick, step)

    def _coverage_dict(self) -> dict[str, Any] | None:
        if self.coverage is None:
            return None
        out = self.coverage.as_dict()
        at = self.coverage.largest_gap_at_ms
        out["largest_gap_at"] = None if at is None else iso(at)
        out["text"] = coverage_text(self.coverage)
        return out

    def _trade_dict(self, trade: Trade) -> dict[str, Any]:
        """A trade at market precision: prices to the tick, amounts to the step, ISO times."""
        tick, step = self.precision
        money = tick  # quote amounts: as many decimals as a price
        return {
            "side": trade.side,
            "entry_time": iso(trade.entry_ts_ms),
            "entry_price": str(_q(trade.entry_price, tick)),
            "exit_time": None if trade.exit_ts_ms is None else iso(trade.exit_ts_ms),
            "exit_price": None if trade.exit_price is None else str(_q(trade.exit_price, tick)),
            "amount": str(_q(trade.amount, step)),
            "fee": str(_q(trade.fee, money)),
            "pnl": str(_q(trade.pnl, money)),
            "entry_ts_ms": trade.entry_ts_ms,
            "exit_ts_ms": trade.exit_ts_ms,
        }


def iso(ts_ms: int) -> str:
    """``1515560100000`` → ``"2018-01-10T05:55:00Z"`` (UTC, milliseconds only when present)."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    text = moment.isoformat(timespec="milliseconds" if ts_ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def coverage_text(cov: Coverage) -> str:
    """``"1,091 of 3,560 (30.6 %), largest gap 8 min at 2019-10-11T19:21:00Z"``, or ``"none"``."""
    if cov.missing == 0:
        return f"none ({cov.intervals:,} of {cov.intervals:,} bar intervals hold a candle)"
    text = f"{cov.missing:,} of {cov.intervals:,} ({cov.share:.1%})".replace("%", " %")
    if cov.largest_gap_at_ms is not None:
        text += f", largest gap {duration_text(cov.largest_gap_ms)} at {iso(cov.largest_gap_at_ms)}"
    return text


def _q(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step.normalize(), rounding=ROUND_HALF_EVEN).normalize() + 0


# one process, one copy of each candle file: a grid's points (and the benches) reuse it
_SOURCES: dict[tuple[Any, ...], tuple[ReplaySource, FileCheck]] = {}


def load_source(
    path: Path, symbol: str | None, timeframe: str | None
) -> tuple[ReplaySource, FileCheck]:
    """The replay source of one symbol from a candle file or a folder of them, and what the
    file check found (loaded once per process while the file is unchanged)."""
    if not path.exists():
        raise ConfigError(f"backtest data {path} does not exist")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, symbol, timeframe)
    found = _SOURCES.get(key)
    if found is None:
        if len(_SOURCES) >= 8:
            _SOURCES.clear()
        found = _SOURCES[key] = _load_source(path, symbol, timeframe)
    return found


def _load_source(
    path: Path, symbol: str | None, timeframe: str | None
) -> tuple[ReplaySource, FileCheck]:
    if path.is_file():
        named = path.stem.rpartition("-")[2] if "-" in path.stem else None
        named = named if named and named[:-1].isdigit() else None
        check = check_file(path, named, timeframe)
        tf = timeframe or named or check.inferred_timeframe or "1m"
        return ReplaySource(path, tf, [symbol] if symbol else None), check
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
    file = next(f for f in files if f.stem.rpartition("-")[2] == tf and f.stem.startswith(
        sym.replace("/", "_", 1)))  # fmt: skip
    return ReplaySource(path, tf, [sym]), check_file(file, tf, timeframe)


class Backtest:
    """One run of one strategy over one symbol's candles."""

    def __init__(
        self, config: BacktestConfig, source: ReplaySource | None = None, *, fast_path: bool = True
    ) -> None:
        """``fast_path=False`` plays every bar event of the paper engine (same report)."""
        self.config = config
        if source is None:
            source, check = load_source(config.data, config.symbol, config.timeframe)
            self.warnings = list(check.warnings)
        else:
            self.warnings = []
        self.source = source
        self.symbol = next(iter(self.source.specs))
        spec = self.source.specs[self.symbol]
        self.spec = spec
        self.candles = self.source.candles(self.symbol, 0)
        self.tf_ms = _tf_ms(self.source.timeframe)
        ts = self.candles.ts
        self.i0 = int(np.searchsorted(ts, config.from_ms)) if config.from_ms is not None else 0
        self.i1 = int(np.searchsorted(ts, config.to_ms)) if config.to_ms is not None else len(ts)
        if self.i1 - self.i0 < 2:
            given = config.from_ms is not None or config.to_ms is not None
            where = "the --from/--to range" if given else f"{config.data}"
            raise ValidationError(f"{where} holds {max(0, self.i1 - self.i0)} candles; need 2")
        text = None if config.capital is None else str(config.capital)
        capital = resolve_capital(text, spec.base, spec.quote, float(self.candles.open[self.i0]))
        self.capital = capital.amount
        book = config.book
        self.coverage = coverage(ts[self.i0 : self.i1], self.tf_ms)
        self.setup = {
            "capital": capital.note,
            "fill": describe_fill(book),
            "fees": f"{config.taker_fee} taker, {config.maker_fee} maker, per side",
            "missing intervals": coverage_text(self.coverage),
        }
        settings = PaperSettings(
            symbols=[self.symbol],
            timeframe=self.source.timeframe,
            warmup_bars=0,
            clock="manual",
            maker_fee=config.maker_fee,
            taker_fee=config.taker_fee,
            initial_balances={spec.quote: self.capital},
            perpetuals=False,
            book=config.book,
            fast_path=fast_path,
        )
        self.venue = PaperVenue(PaperExchange(settings, source=self.source))
        self.exchange = self.venue.exchange  # the clock, and exact balances for reports
        self.feed = CandleFeed(
            self.candles.as_matrix(0, len(ts)), full=True, key=(self.source, self.symbol)
        )
        self.strategy = config.strategy(dict(config.params))
        ledger = Ledger("bt", self.symbol, spec.base, spec.quote, self.capital)
        self.rejections: list[Rejection] = []
        self.orders = 0
        self._cancels: set[str] = set()
        self.trader = Trader(
            "bt", self.strategy, ledger, self.feed, config.limits, now_ms=lambda: self._now_ms
        )
        # the open time of the bar being played (its close is now): a bar's own int, stored
        # each bar without making a new one (see _now_ms)
        self._bar_ts = int(ts[self.i0]) - self.tf_ms

    @property
    def _now_ms(self) -> int:
        """The simulated now: the close of the bar being played (the first bar's open before
        the first bar)."""
        return self._bar_ts + self.tf_ms

    def run(self, progress: ProgressFn | None = None) -> BacktestResult:
        """Replay every bar of the range; returns the report."""
        trader, c, i0, i1 = self.trader, self.candles, self.i0, self.i1
        # every bar's Candle, built in C as it is needed (a named tuple from a row of floats),
        # from columns made a block of bars at a time: the floats are made, read and freed
        # while they are still in the CPU's cache (whole columns of a long range are not)
        candles: Iterator[Candle] = chain.from_iterable(
            _candle_block(c, a, min(a + _BLOCK_BARS, i1)) for a in range(i0, i1, _BLOCK_BARS)
        )
        self.feed.reveal(i0)
        trader.start()
        every = max(1, (i1 - i0) // 100)
        # What exists now (the candle columns and the indicators' values: lists of a hundred
        # thousand floats, the imported libraries) outlives the loop: out of the collector's
        # sight, its collections walk only the orders and fills the run makes (as the API
        # server does after start-up). Not when someone else froze: their freeze stays theirs.
        freeze = gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        try:
            self._loop(candles, i0, progress, every)
        finally:
            if freeze:
                gc.unfreeze()
        trader.stop()
        if progress is not None:
            progress(self.i1 - self.i0, self.i1 - self.i0)
        return self._result()

    def _loop(
        self, candles: Iterator[Candle], i0: int, progress: ProgressFn | None, every: int
    ) -> None:
        """The bar loop of ``run``."""
        trader, feed, ledger = self.trader, self.feed, self.trader.ledger
        on_candle, n = trader.candle, self.i1 - self.i0
        # what Trader.candle checks (below): the trader keeps these objects for its life
        strategy, brackets, limits = trader.strategy, trader.brackets, trader.limits
        for i, candle in enumerate(candles, i0):
            self._bar_ts = candle.ts_ms
            # the engine has work only while an order is working (ledger.has_open_orders,
            # read without a call: this runs every bar)
            if ledger._open:
                self._poll()
            feed.stop = i + 1  # feed.reveal(i + 1), inlined
            feed.version += 1
            # Trader.candle checks a halt, the daily loss limit and the stop-loss before it
            # calls the strategy; with none of them set (most bars of most runs) that call is
            # all it does, so it is made here without Trader.candle's own frame
            if trader.halted or brackets.stop_loss is not None or limits.max_daily_loss is not None:
                on_candle(candle)
            else:
                strategy.on_candle(candle)
            if trader.outbox:
                self._execute()
            if progress is not None and (i - i0) % every == 0:
                progress(i - i0, n)

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
        self.orders += 1
        try:
            placed = self.venue.place_record(
                cmd.symbol, cmd.type, cmd.side, cmd.amount, cmd.price, cmd.client_order_id
            )
        except ExchangeCallError as error:
            pending = self.trader.ledger.orders[cmd.client_order_id]
            self._update(rejected(pending, str(error)))
            return
        self._update(update_from_paper(placed))

    def _update(self, update: OrderUpdate) -> None:
        """Hand an order's state to the trader; keep it when it was refused or ended unfilled
        without the strategy asking (e.g. a market order the book could not fill)."""
        refused = update.status == "rejected" or (
            update.status == "canceled"
            and update.filled == 0
            and update.client_order_id not in self._cancels
        )
        if refused:
            reason = update.reason or update.status
            self.rejections.append(
                Rejection(
                    self._now_ms, update.side, update.type, update.amount, update.price, reason
                )
            )
        self.trader.order_update(update)

    def _cancel(self, cmd: CancelOrder) -> None:
        self._cancels.add(cmd.client_order_id)
        known = self.trader.ledger.orders.get(cmd.client_order_id)
        if known is not None and known.order_id is None and known.status == "rejected":
            # asked for while the order was still pending, and the exchange then refused it:
            # there is nothing to cancel (the exchange never knew it; asking it raised)
            return
        order = self.venue.cancel_record(cmd.order_id or "", cmd.symbol, cmd.client_order_id)
        self._update(update_from_paper(order))

    def _poll(self) -> None:
        self._catch_up()
        for order in [o for o in self.trader.ledger.open_orders() if o.order_id]:
            update = update_from_paper(self.venue.order_record(order.order_id or ""))
            if update.status != "open":
                self._update(update)
            else:
                self.trader.order_update(update)
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
        capital = float(self.capital)
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
            capital=self.capital,
            setup=self.setup,
            orders=self.orders,
            rejections=self.rejections,
            warnings=[*self.warnings, *self._rejection_warning()],
            precision=(self.spec.price_tick, self.spec.amount_step),
            coverage=self.coverage,
        )

    def _rejection_warning(self) -> list[str]:
        """One warning when at least half the orders were refused: the reason and the fix."""
        n = len(self.rejections)
        if n == 0 or n * 2 < self.orders:
            return []
        reasons: dict[str, list[str]] = {}  # by the reason with its numbers taken out
        for r in self.rejections:
            reasons.setdefault(re.sub(r"[0-9.]+", "#", r.reason), []).append(r.reason)
        top = max(reasons.values(), key=len)[0]
        low = top.lower()
        if "insufficient" in low or "funds" in low or "cannot be paid" in low:
            buffer = PaperSettings().market_buffer
            fix = (
                f"the account holds {self.setup['capital']}: give more --capital, or trade "
                f"smaller (market orders reserve {buffer:.0%} above the price, so "
                "--param fraction must stay below 1)"
            )
        elif "book" in low:
            fix = "orders are larger than the simulated book: use --fill spread or trade smaller"
        elif "minimum" in low or "min" in low:
            fix = "orders are below the market's minimum: give more --capital or trade larger"
        else:
            fix = "see rejected_orders for each order"
        return [f"{n} of {self.orders} orders were rejected (e.g. {top!r}); {fix}"]


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
