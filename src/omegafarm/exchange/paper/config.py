"""Settings of the paper exchange: where prices come from, what trading costs, how fills behave.

One pydantic model, ``PaperSettings``, validated once at the entry point and passed down; the
matching engine reads nothing else. Every knob that shapes a fill (fees, latency, participation
cap, the simulated order book) lives here so a backtest is reproducible from its settings alone.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_SYMBOLS: tuple[str, ...] = (
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "BNB/USDT",
    "XRP/USDT",
    "ADA/USDT",
    "DOGE/USDT",
    "LINK/USDT",
)


class BookSettings(BaseModel):
    """Shape of the simulated order book (formulas in docs/paper-exchange.md).

    ``sigma`` is the root mean square of the last ``window_bars`` log returns and ``vbar`` their
    mean volume. spread = max(spread_floor_bps/1e4, spread_sigma_mult * sigma) (relative);
    levels are ``level_sigma_mult * sigma`` apart (at least one tick); each level holds
    ``level_volume_fraction * vbar``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_bars: int = Field(default=20, ge=2, le=10_000)
    spread_floor_bps: float = Field(default=1.0, ge=0.0)
    spread_sigma_mult: float = Field(default=0.25, ge=0.0)
    level_sigma_mult: float = Field(default=0.1, ge=0.0)
    level_volume_fraction: float = Field(default=0.02, gt=0.0)
    levels: int = Field(default=20, ge=1, le=1000, description="depth shown by fetch_order_book")
    fill: Literal["book", "spread", "none"] = Field(
        default="book",
        description="taker fills: book (walk the depth), spread (half the spread, no depth: "
        "fits FX tick volume) or none (at the open); see exchange/paper/_fill.py",
    )
    slippage_bps: float = Field(default=0.0, ge=0.0, description="fixed extra cost per taker fill")


class PaperSettings(BaseModel):
    """Configuration of ``PaperExchange`` (``exchange_id = "paper"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["synthetic", "replay"] = "synthetic"
    symbols: list[str] = Field(
        default_factory=list,
        description="spot symbols; empty = DEFAULT_SYMBOLS (synthetic) or every file (replay)",
    )
    seed: int = 42
    timeframe: str | None = Field(
        default=None,
        description="bar size of the source; None = 1m (synthetic) or the timeframe most files "
        "in the replay folder have",
    )
    clock: Literal["wall", "manual"] = Field(
        default="wall",
        description="wall: simulated time follows the wall clock x speed (omega up); manual: it "
        "moves only on advance()/step_to()/run() (backtests, tests)",
    )
    start_ts_ms: int | None = Field(
        default=None,
        description="synthetic: first bar; None = now minus the warm-up (wall) or "
        "2024-01-01T00:00Z (manual)",
    )
    warmup_bars: int = Field(default=300, ge=0, description="bars already closed at start")
    replay_path: Path | None = Field(
        default=None, description="replay: a folder of SYMBOL-TF.csv/.parquet files, or one file"
    )
    speed: float = Field(
        default=1.0, ge=0.0, description="1 = real time, 60 = a minute per second, 0 = flat out"
    )
    maker_fee: Decimal = Field(default=Decimal("0.001"), ge=0)
    taker_fee: Decimal = Field(default=Decimal("0.001"), ge=0)
    initial_balances: dict[str, Decimal] = Field(default_factory=lambda: {"USDT": Decimal("10000")})
    latency_ms: int = Field(
        default=0, ge=0, description="an order reaches the book latency_ms after it is sent"
    )
    market_fills: Literal["auto", "next_open", "intrabar"] = Field(
        default="auto",
        description="when a market order fills: intrabar = on arrival, at the price of the "
        "bar's intrabar path then; next_open = at the next bar's open; auto = intrabar with "
        "the wall clock (paper trading), next_open with the manual clock (backtests)",
    )
    fast_path: bool = Field(
        default=True,
        description="skip the bar events of idle symbols and remember books; False plays "
        "every bar event and computes every book afresh (same results, slower: for checks)",
    )
    participation: float = Field(
        default=0.1, gt=0.0, le=1.0, description="max share of a bar's volume we may fill"
    )
    perpetuals: bool = Field(default=True, description="also list BASE/QUOTE:QUOTE linear swaps")
    leverage: int = Field(default=3, ge=1, description="default leverage of swap markets")
    max_leverage: int = Field(default=20, ge=1)
    maintenance_margin_rate: Decimal = Field(default=Decimal("0.005"), ge=0, lt=1)
    market_buffer: Decimal = Field(
        default=Decimal("0.05"), ge=0, description="extra reserved for market orders (slippage)"
    )
    book: BookSettings = Field(default_factory=BookSettings)

    @property
    def intrabar_market_fills(self) -> bool:
        """Whether market orders fill on arrival inside a bar (see ``market_fills``)."""
        if self.market_fills == "auto":
            return self.clock == "wall"
        return self.market_fills == "intrabar"

    @model_validator(mode="after")
    def _check(self) -> PaperSettings:
        if self.source == "replay" and self.replay_path is None:
            raise ValueError("source 'replay' needs replay_path (a folder or a candle file)")
        if self.clock == "wall" and self.speed <= 0:
            raise ValueError("clock 'wall' needs speed > 0 (use clock 'manual' and run(speed=0))")
        if self.leverage > self.max_leverage:
            raise ValueError("leverage must not exceed max_leverage")
        for symbol in self.symbols:
            if symbol.count("/") != 1 or ":" in symbol:
                raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE (spot form)")
        return self
