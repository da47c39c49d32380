"""The one place that chooses a venue from the settings (and answers what depends on it).

``build_venue`` picks the adapter; ``uses_credentials``, ``rate_interval_ms`` and
``check_exchange_id`` answer for callers that have settings but no venue yet (the vault lookup
of ``omega up``, ``omega exchange limits``, ``omega data download``). The adapters are imported
only when chosen: the paper venue needs no network library, a ccxt venue no simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm.exchange.venue import PAPER_ID, Venue

if TYPE_CHECKING:
    from omegafarm.exchange.config import ExchangeSettings
    from omegafarm.exchange.ratelimit import RateLimiter
    from omegafarm.exchange.vault import Credentials

__all__ = ["build_venue", "check_exchange_id", "rate_interval_ms", "uses_credentials"]


def check_exchange_id(exchange_id: str) -> None:
    """A ConfigError naming the choices when ``exchange_id`` is neither paper nor ccxt's."""
    if exchange_id != PAPER_ID:
        from omegafarm.exchange.client import ccxt_class

        ccxt_class(exchange_id)


def uses_credentials(settings: ExchangeSettings) -> bool:
    """Whether the configured venue wants API keys from the vault."""
    return settings.exchange_id != PAPER_ID


def rate_interval_ms(settings: ExchangeSettings) -> float:
    """ms per unit of request cost at the venue's published rate: the one computation of it.

    Each adapter says it (the paper venue: no limit; a ccxt venue: ccxt's published
    ``rateLimit``); this asks the adapter's class, before any venue is built."""
    if settings.exchange_id == PAPER_ID:
        from omegafarm.exchange.paper.venue import PaperVenue

        return PaperVenue.rate_interval_ms
    from omegafarm.exchange.ccxt_adapter import published_interval_ms

    return published_interval_ms(settings.exchange_id)


def build_venue(
    settings: ExchangeSettings,
    *,
    credentials: Credentials | None = None,
    limiter: RateLimiter | None = None,
) -> Venue:
    """The venue ``settings`` ask for: the paper exchange or a ccxt exchange."""
    if settings.exchange_id == PAPER_ID:
        from omegafarm.exchange.paper.venue import PaperVenue

        return PaperVenue.from_settings(settings.paper)
    from omegafarm.exchange.ccxt_adapter import CcxtVenue

    return CcxtVenue.from_settings(settings, credentials=credentials, limiter=limiter)


def keeps_paper_journal(settings: ExchangeSettings) -> bool:
    """Whether the venue is the paper exchange kept durable in Redis (``paper.durable``)."""
    return settings.exchange_id == PAPER_ID and settings.paper.durable
