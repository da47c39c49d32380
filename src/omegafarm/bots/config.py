"""Settings of the bot farm (section ``[bots]``) and of each bot, and the farm TOML file.

A farm file lists bots::

    [[bots]]
    id = "sma-btc"
    strategy = "sma_cross"
    symbol = "BTC/USDT"
    timeframe = "1m"
    capital = "2000"
    params = { fast = 10, slow = 30 }
    max_position = "0.5"
    max_daily_loss = "200"
    max_open_orders = 4

Without a file the farm runs :data:`DEFAULT_BOTS` on the paper exchange's synthetic market.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omegafarm.core.errors import ConfigError


class BotSettings(BaseModel):
    """One bot: strategy + exchange account + symbol + timeframe + money + risk limits."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,23}$", description="also the client id prefix")
    strategy: str
    symbol: str
    timeframe: str = "1m"
    account: str = Field("default", description="exchange account (bots may share one)")
    capital: Decimal = Field(Decimal(1000), gt=0, description="quote money this bot may use")
    params: dict[str, int | float] = Field(default_factory=dict)
    max_position: Decimal | None = Field(None, gt=0, description="base units, open orders counted")
    max_daily_loss: Decimal | None = Field(None, gt=0, description="quote units per UTC day")
    max_open_orders: int | None = Field(None, ge=1)
    enabled: bool = True


DEFAULT_BOTS: tuple[BotSettings, ...] = (
    BotSettings(id="sma_btc", strategy="sma_cross", symbol="BTC/USDT", capital=Decimal(2000)),
    BotSettings(
        id="sma_eth", strategy="sma_cross", symbol="ETH/USDT", params={"fast": 5, "slow": 20}
    ),
    BotSettings(id="fib_sol", strategy="fib_retracement", symbol="SOL/USDT"),
    BotSettings(id="cycle_btc", strategy="cycle_timing", symbol="BTC/USDT"),
)


class FarmSettings(BaseModel):
    """How the farm runs: where its bots are described, leases, polling and workers."""

    model_config = ConfigDict(extra="forbid")

    farm_file: Path | None = Field(None, description="TOML file with [[bots]]; None = examples")
    lease_ttl_s: float = Field(10.0, gt=0.2, description="a dead worker's bots move after this")
    poll_interval_s: float = Field(0.25, gt=0, description="gateway: market data / order polls")
    history_bars: int = Field(500, ge=10, le=10_000, description="candles kept per symbol")
    reconcile_interval_s: float = Field(
        60.0,
        ge=0,
        description="gateway: check ledgers against the exchange this often; 0 = only "
        "when a gateway becomes active",
    )
    run_worker: bool = Field(True, description="omega up also runs one worker in-process")
    run_gateway: bool = Field(True, description="omega up publishes market data, executes orders")
    gateway_partitions: int = Field(
        4,
        ge=1,
        le=256,
        description="command partitions shared by the farm's gateways (recorded in Redis by "
        "the first gateway; fixed for the farm's life: see docs/bots.md)",
    )


def load_farm_file(path: Path | None) -> list[BotSettings]:
    """The bots of a farm file (the examples when ``path`` is None)."""
    if path is None:
        return list(DEFAULT_BOTS)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"farm file {path}: {exc}") from None
    bots = doc.get("bots")
    if not isinstance(bots, list) or not bots:
        raise ConfigError(f"farm file {path}: needs at least one [[bots]] table")
    try:
        out = [BotSettings.model_validate(b) for b in bots]
    except ValidationError as exc:
        raise ConfigError(f"farm file {path}: {exc}") from None
    ids = [b.id for b in out]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"farm file {path}: bot ids must be unique")
    return out
