"""``PaperExchange``: a simulated exchange with the face of a ccxt async exchange object.

ExchangeService drives it through the same code path as ``ccxt.async_support.<id>``: the same
attribute names (``id``, ``markets``, ``has``, ``timeframes``), the same async methods with
ccxt's Python names and signatures, ccxt's unified dicts out and ccxt's own exception classes
for errors. So the paper exchange is one more adapter behind the service, not an ``if`` in it.

Time is simulated; ``milliseconds()`` is the simulated now, as on a ccxt exchange. The clock
starts after ``warmup_bars`` closed bars. With ``clock="wall"`` (the default, for ``omega up``)
it follows the wall clock times ``speed``: every call first catches up with the bars that have
closed since, so no background task is needed. With ``clock="manual"`` (backtests, tests) it
moves only when told: ``advance()`` (one bar), ``step_to(ts_ms)`` (as fast as the CPU allows)
or ``run()`` (real time, accelerated, or flat out with speed 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from omegafarm.core.errors import ConfigError
from omegafarm.exchange.paper import _ccxt as ccxt
from omegafarm.exchange.paper import _structures as st
from omegafarm.exchange.paper._clock import PaperClock
from omegafarm.exchange.paper._engine import Engine
from omegafarm.exchange.paper._ohlcv import ohlcv_rows
from omegafarm.exchange.paper._orders import PaperOrders
from omegafarm.exchange.paper._source import MarketSource, ReplaySource, timeframe_ms
from omegafarm.exchange.paper._state import (
    TimeInForce,
    Wallet,
    dec,
    floor_to,
    round_to,
)
from omegafarm.exchange.paper._synthetic import SyntheticSource
from omegafarm.exchange.paper.config import DEFAULT_SYMBOLS, PaperSettings

_HAS_TRUE = [
    "publicAPI",
    "privateAPI",
    "spot",
    "swap",
    "fetchMarkets",
    "fetchCurrencies",
    "fetchTicker",
    "fetchTickers",
    "fetchOHLCV",
    "fetchOrderBook",
    "fetchBalance",
    "fetchPositions",
    "createOrder",
    "createMarketOrder",
    "createLimitOrder",
    "cancelOrder",
    "cancelAllOrders",
    "fetchOrder",
    "fetchOrders",
    "fetchOpenOrders",
    "fetchClosedOrders",
    "fetchMyTrades",
    "setLeverage",
    "fetchTime",
]
_HAS_FALSE = [
    "sandbox",
    "margin",
    "future",
    "option",
    "fetchTrades",
    "createStopOrder",
    "createTriggerOrder",
    "editOrder",
    "setMarginMode",
    "fetchFundingRate",
    "watchTicker",
    "watchOHLCV",
    "watchOrders",
]
_TIMEFRAME_MULTIPLES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w")
_TIF: dict[str, TimeInForce] = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PO": "PO"}
Params = Mapping[str, Any]


MANUAL_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def build_source(settings: PaperSettings, wall_now_ms: int | None = None) -> MarketSource:
    """The market source ``settings`` ask for (``wall_now_ms`` places a wall-clock synthetic)."""
    if settings.source == "replay":
        assert settings.replay_path is not None  # enforced by PaperSettings' validator
        return ReplaySource(settings.replay_path, settings.timeframe, settings.symbols or None)
    symbols = settings.symbols or list(DEFAULT_SYMBOLS)
    start = settings.start_ts_ms
    if start is None:
        warmup_ms = settings.warmup_bars * timeframe_ms(settings.timeframe or "1m")
        live = settings.clock == "wall" and wall_now_ms is not None
        start = wall_now_ms - warmup_ms if live and wall_now_ms is not None else MANUAL_START_MS
    return SyntheticSource(symbols, settings.seed, settings.timeframe or "1m", start)


class PaperExchange(PaperOrders, PaperClock):
    """A deterministic simulated exchange that speaks ccxt's async unified API.

    ``create_order`` answers ``status="open"``: an order fills on later bars (a market order at
    the next bar's open plus slippage), so callers poll ``fetch_order`` as with any exchange.
    """

    id = "paper"
    name = "Paper"
    precisionMode = ccxt.TICK_SIZE

    def __init__(
        self,
        settings: PaperSettings | None = None,
        *,
        source: MarketSource | None = None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or PaperSettings()
        self._clock_s = clock_s
        wall_s = clock_s()
        wall_ms = int(wall_s * 1000)
        self._engine = Engine(self.settings, source or build_source(self.settings, wall_ms))
        # (wall seconds, simulated ms, speed) that the simulated clock follows, if any
        self._anchor: tuple[float, int, float] | None = None
        if self.settings.clock == "wall":
            live = self.settings.source == "synthetic" and self.settings.start_ts_ms is None
            sim0 = max(wall_ms, self._engine.now_ms) if live else self._engine.now_ms
            self._anchor = (wall_s, sim0, self.settings.speed)
            self._sync()
        self.has: dict[str, bool] = {
            **dict.fromkeys(_HAS_TRUE, True),
            **dict.fromkeys(_HAS_FALSE, False),
        }
        tf_ms = self._engine.tf_ms
        self.timeframes = {tf: tf for tf in _TIMEFRAME_MULTIPLES if timeframe_ms(tf) % tf_ms == 0}
        self.timeframes.setdefault(self.timeframe, self.timeframe)
        self.markets: dict[str, dict[str, Any]] = {
            s: st.market_dict(m, self.settings, self.timeframe)
            for s, m in self._engine.markets.items()
        }
        self.markets_by_id = {m["id"]: [m] for m in self.markets.values()}
        self.symbols = sorted(self.markets)
        self.currencies = {c: st.currency_dict(c) for c in self._currency_codes()}
        self.options: dict[str, Any] = {}
        self.urls: dict[str, Any] = {"api": {}, "www": "local"}
        self.apiKey = ""
        self.secret = ""
        self.enableRateLimit = False
        self.rateLimit = 0
        self.closed = False

    def _currency_codes(self) -> list[str]:
        codes = {c for m in self._engine.markets.values() for c in (m.spec.base, m.spec.quote)}
        return sorted(codes | set(self.settings.initial_balances))

    # ------------------------------------------------------------------ helpers ccxt has
    def iso8601(self, ts_ms: int | None) -> str | None:
        """ccxt's datetime format for a timestamp in ms."""
        return st.iso8601(ts_ms)

    def market(self, symbol: str) -> dict[str, Any]:
        """The unified market of ``symbol`` or ccxt.BadSymbol."""
        return self.markets[self._market(symbol).symbol]

    def amount_to_precision(self, symbol: str, amount: float) -> str:
        """``amount`` truncated to the market's step, as a string (like ccxt)."""
        step = self._market(symbol).spec.amount_step
        return format(floor_to(dec(amount), step).normalize(), "f")

    def price_to_precision(self, symbol: str, price: float) -> str:
        """``price`` rounded to the market's tick, as a string (like ccxt)."""
        tick = self._market(symbol).spec.price_tick
        return format(round_to(dec(price), tick).normalize(), "f")

    @staticmethod
    def parse_timeframe(timeframe: str) -> int:
        """Seconds in a timeframe such as ``5m`` (ccxt's static helper)."""
        try:
            return timeframe_ms(timeframe) // 1000
        except ConfigError as exc:
            raise ccxt.NotSupported(f"paper: timeframe unit of {timeframe!r}") from exc

    def set_sandbox_mode(self, enabled: bool) -> None:
        """The paper exchange is already a simulation: it has no sandbox (as ccxt would say)."""
        if enabled:
            raise ccxt.NotSupported("paper does not have a sandbox URL (it is one already)")

    # ------------------------------------------------------------------ public data
    async def load_markets(
        self, reload: bool = False, params: Params | None = None
    ) -> dict[str, Any]:
        """All markets by symbol (they never change, so ``reload`` changes nothing)."""
        return self.markets

    async def fetch_markets(self, params: Params | None = None) -> list[dict[str, Any]]:
        """All markets as a list."""
        return list(self.markets.values())

    async def fetch_currencies(self, params: Params | None = None) -> dict[str, dict[str, Any]]:
        """Every currency of the markets and the wallet, by code."""
        return self.currencies

    async def fetch_time(self, params: Params | None = None) -> int:
        """The simulated now, in ms."""
        self._sync()
        return self._engine.now_ms

    async def fetch_ticker(self, symbol: str, params: Params | None = None) -> dict[str, Any]:
        """The 24 h ticker of ``symbol`` from closed bars."""
        self._sync()
        market = self._market(symbol)
        c, n = self._engine.candles(market.source_symbol)
        return st.ticker_dict(market, c, n, self._engine.now_ms, self._engine.book(market))

    async def fetch_tickers(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, dict[str, Any]]:
        """Tickers by symbol (all markets when ``symbols`` is None)."""
        return {s: await self.fetch_ticker(s) for s in (symbols or self.symbols)}

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[list[float]]:
        """Closed candles ``[ts, o, h, l, c, v]``; coarser timeframes are aggregated."""
        self._sync()
        market = self._market(symbol)
        if timeframe not in self.timeframes:
            raise ccxt.NotSupported(
                f"paper: timeframe {timeframe} is not a multiple of the source's {self.timeframe}"
            )
        c, n = self._engine.candles(market.source_symbol)
        return ohlcv_rows(c, n, timeframe_ms(timeframe), self._engine.now_ms, since, limit)

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[dict[str, Any]]:
        """Public trades are not simulated (candles only): ccxt.NotSupported, as ccxt says."""
        self._sync()
        self._market(symbol)
        raise ccxt.NotSupported("paper: fetch_trades (public trades) is not simulated; use OHLCV")

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params | None = None
    ) -> dict[str, Any]:
        """The simulated book around the last price, ``limit`` levels a side."""
        self._sync()
        market = self._market(symbol)
        depth = limit or self.settings.book.levels
        return st.order_book_dict(symbol, self._engine.book(market), depth, self._engine.now_ms)

    # ------------------------------------------------------------------ account
    def wallets_now(self) -> tuple[dict[str, Wallet], int]:
        """Every wallet and the simulated now (the paper venue builds its models from them)."""
        self._sync()
        return self._engine.account.wallets, self._engine.now_ms

    async def fetch_balance(self, params: Params | None = None) -> dict[str, Any]:
        """Free, used (reserved by orders and margin) and total per currency."""
        self._sync()
        return st.balance_dict(self._engine.account.wallets, self._engine.now_ms)

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> list[dict[str, Any]]:
        """Open swap positions (spot holdings are balances, as in ccxt)."""
        self._sync()
        engine = self._engine
        out = []
        for symbol, pos in sorted(engine.account.positions.items()):
            if not pos.contracts or (symbols and symbol not in symbols):
                continue
            mark = dec(engine.last_price(engine.markets[symbol].source_symbol))
            mmr = self.settings.maintenance_margin_rate
            out.append(st.position_dict(pos, mark, mmr, engine.now_ms))
        return out

    async def set_leverage(
        self, leverage: int, symbol: str | None = None, params: Params | None = None
    ) -> dict[str, Any]:
        """Set the leverage of a swap market (refused while a position is open)."""
        self._sync()
        if symbol is None:
            raise ccxt.ArgumentsRequired("paper: set_leverage() requires a symbol")
        market = self._market(symbol)
        if not market.swap:
            raise ccxt.BadSymbol(f"paper: {symbol} is spot; leverage applies to swaps")
        if not 1 <= int(leverage) <= self.settings.max_leverage:
            raise ccxt.BadRequest(f"paper: leverage must be 1..{self.settings.max_leverage}")
        pos = self._engine.account.positions.get(symbol)
        if pos is not None and pos.contracts:
            raise ccxt.BadRequest(f"paper: close the {symbol} position before changing leverage")
        self._engine.leverage[symbol] = int(leverage)
        if pos is not None:
            pos.leverage = int(leverage)
        return {"symbol": symbol, "leverage": int(leverage), "info": {}}

    async def close(self) -> None:
        """Nothing to release (no network); kept so code written for ccxt runs unchanged."""
        self.closed = True

    # ------------------------------------------------------------------ introspection
    def balance_of(self, currency: str) -> tuple[Decimal, Decimal]:
        """Exact (free, used) of ``currency`` as Decimals, for tests and reports."""
        wallet = self._engine.account.wallet(currency)
        return wallet.free, wallet.used
