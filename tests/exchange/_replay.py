"""Helpers for replaying recorded ccxt responses through ExchangeService on a loopback server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from omegafarm.exchange import Credentials, ExchangeService, ExchangeSettings, Secret
from omegafarm.exchange.testing import LoopbackExchangeServer

TICK_SIZE = 4  # ccxt.base.decimal_to_precision.TICK_SIZE

DUMMY_API_KEY = "dummy-api-key-0000"
DUMMY_SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0"  # base64, because some exchanges decode it


def dummy_credentials(exchange: str) -> Credentials:
    """Credentials that sign requests; the loopback server does not check signatures."""
    return Credentials(
        exchange=exchange,
        key_id="test",
        api_key=Secret(DUMMY_API_KEY),
        secret=Secret(DUMMY_SECRET),
        passphrase=Secret("dummy-passphrase"),
    )


def load_markets(fixtures: Path, exchange: str) -> dict[str, Any]:
    """The markets file of ``exchange`` (symbol → ccxt market)."""
    data: dict[str, Any] = json.loads((fixtures / "markets" / f"{exchange}.json").read_text())
    return data


def install_markets(client: Any, markets: dict[str, Any]) -> None:
    """Load fixture markets into a ccxt client, completing what older ccxt versions wrote.

    Markets files were saved by older ccxt: some lack keys that 4.5 reads (``inverse`` on spot
    markets), and Binance's still writes precision as decimal places although the exchange class
    now works in tick sizes. ``safe_market_structure`` adds the missing keys; integer precisions
    are turned into steps (3 → 0.001) when the exchange counts in tick sizes.
    """
    complete = [client.safe_market_structure(m) for m in markets.values()]
    precisions = [v for m in complete for v in (m.get("precision") or {}).values() if v is not None]
    if client.precisionMode == TICK_SIZE and all(isinstance(v, int) for v in precisions):
        for market in complete:
            market["precision"] = {
                key: None if value is None else float(10.0**-value)
                for key, value in market["precision"].items()
            }
    client.set_markets(complete)


@asynccontextmanager
async def replay_service(
    exchange: str,
    server: LoopbackExchangeServer,
    tmp_path: Path,
    *,
    markets: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    credentials: Credentials | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    **settings: Any,
) -> AsyncIterator[ExchangeService]:
    """A running ExchangeService whose ccxt client talks to ``server``."""
    config = ExchangeSettings(
        exchange_id=exchange,
        api_base_url=server.url,
        load_markets_on_start=False,
        ohlcv_cache_path=tmp_path / "ohlcv.sqlite",
        **settings,
    )
    service = ExchangeService(
        config, credentials=credentials or dummy_credentials(exchange), sleep=sleep
    )
    async with service:
        client = service.get_exchange_client()
        if markets is not None:
            install_markets(client, markets)
        if options:
            client.extend_exchange_options(options)
        yield service
