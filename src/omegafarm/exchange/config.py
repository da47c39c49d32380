"""Settings of the exchange service (one section of the root settings tree)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from omegafarm.exchange.paper.config import PaperSettings


class ExchangeSettings(BaseModel):
    """Which exchange, how to reach it, how hard to retry, what to share, where to keep candles."""

    model_config = ConfigDict(extra="forbid")

    exchange_id: str = Field("paper", description="'paper' or any ccxt exchange id")
    use_testnet: bool = Field(False, description="use the exchange's sandbox (refused if none)")
    account: str = Field("default", description="vault owner whose keys this service uses")
    key_id: str | None = Field(None, description="vault key id (default: the exchange id)")
    api_base_url: str | None = Field(
        None, description="send every API request to this base URL (a proxy or a test server)"
    )
    stream: bool = Field(
        True,
        description="take candles, tickers and order updates from the exchange's "
        "WebSocket streams (ccxt.pro) where it has them; REST polling otherwise",
    )
    stream_base_url: str | None = Field(
        None,
        description="send every WebSocket connection to this base URL (a test server); "
        "with api_base_url set and this unset, nothing is streamed",
    )
    stream_settle_s: float = Field(
        0.5,
        gt=0,
        description="a (re)connected stream counts as up after this long; then the "
        "gap is filled by REST",
    )
    stream_backoff_max_s: float = Field(10.0, gt=0, description="longest wait between reconnects")
    timeout_ms: int = Field(10_000, gt=0)
    max_read_attempts: int = Field(4, ge=1, description="tries of a read, the first included")
    max_order_attempts: int = Field(3, ge=1, description="tries of a create, the first included")
    order_lookup_attempts: int = Field(3, ge=1, description="tries to find an order by client id")
    backoff_base_s: float = Field(0.2, ge=0)
    backoff_max_s: float = Field(5.0, ge=0)
    max_retry_after_s: float = Field(60.0, ge=0, description="cap on a server's Retry-After")
    rate_limit_headroom: float = Field(0.15, ge=0, lt=1, description="stay this far below")
    rate_limit_burst: float = Field(10.0, gt=0, description="cost units that may go at once")
    orders_per_s: float = Field(5.0, gt=0, description="order bucket rate per account")
    ohlcv_cache_path: Path | None = Field(
        None, description="SQLite file of cached candles (None: the user cache folder)"
    )
    ohlcv_page_limit: int = Field(1000, gt=0, description="candles asked per request")
    load_markets_on_start: bool = Field(True, description="load markets in initialize()")
    share_market_data: bool = Field(
        True, description="with a Redis client: markets and tickers shared by the farm"
    )
    markets_refresh_s: float = Field(
        3600.0, ge=0, description="shared markets are reloaded this often (0: never)"
    )
    ticker_ttl_s: float = Field(1.0, gt=0, description="how long a shared ticker is reused")
    ccxt_options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    paper: PaperSettings = Field(
        default_factory=PaperSettings, description="the simulated exchange (exchange_id 'paper')"
    )


class VaultSettings(BaseModel):
    """``[vault]``: where the encrypted API keys live and what opens them.

    The master key is taken from the first of ``master_key_file``, ``master_key`` (base64 of
    32 bytes) and ``passphrase`` (stretched with argon2id) that is set. The older variables
    ``OMEGA_VAULT_PATH``, ``OMEGA_MASTER_KEY``, ``OMEGA_MASTER_KEY_FILE`` and
    ``OMEGA_VAULT_PASSPHRASE`` set the same keys (below ``OMEGA_VAULT__*``).
    """

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(None, description="vault file (None: <user data dir>/vault.json)")
    master_key: SecretStr | None = Field(None, description="base64 of a 32-byte master key")
    master_key_file: Path | None = Field(None, description="file holding the 32-byte master key")
    passphrase: SecretStr | None = Field(None, description="passphrase the master key comes from")
