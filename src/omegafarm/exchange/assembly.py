"""Putting one exchange account together: its keys, venue, rate limiter, shared data, pipeline.

What :meth:`ExchangeService.initialize` builds, in order, from the settings: the credentials
(given, or from the vault; a live exchange without them runs on public endpoints and says why),
the venue (``factory.build_venue``; the durable paper exchange when the farm keeps a paper
journal in Redis), the rate limiter (this process's GCRA buckets, shared farm-wide through
Redis when the venue's budget is the exchange's own), the shared market data and the
:class:`~omegafarm.exchange.pipeline.CallPipeline` every call goes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from omegafarm.core.errors import NotFoundError
from omegafarm.exchange.config import ExchangeSettings
from omegafarm.exchange.factory import build_venue, keeps_paper_journal, uses_credentials
from omegafarm.exchange.pipeline import CallObserver, CallPipeline
from omegafarm.exchange.ratelimit import RateLimiter, local_limiter
from omegafarm.exchange.shared_cache import SharedMarketData, shared_market_data
from omegafarm.exchange.shared_limit import SharedRateLimiter
from omegafarm.exchange.vault import Credentials, Vault
from omegafarm.exchange.venue import Venue
from omegafarm.store import RedisClient

SleepFn = Callable[[float], Awaitable[None]]


def resolve_credentials(
    settings: ExchangeSettings,
    credentials: Credentials | None,
    vault: Vault | None,
    vault_problem: str,
) -> tuple[Credentials | None, str]:
    """The keys to use, and why a live exchange runs on public endpoints ("" when it does not).
    Public data (the paper venue, ``use_credentials = false``) needs no vault."""
    s = settings
    if credentials is not None or not uses_credentials(s):
        return credentials, ""
    key_id = s.key_id or s.exchange_id
    if vault is None:
        return None, vault_problem
    try:
        return vault.get(s.account, s.exchange_id, key_id), ""
    except NotFoundError:
        return None, f"no key {s.account}/{s.exchange_id}/{key_id} in vault"


@dataclass(frozen=True)
class Assembly:
    """What an initialized service talks through."""

    venue: Venue
    limiter: RateLimiter
    shared: SharedMarketData
    pipe: CallPipeline


async def assemble(
    settings: ExchangeSettings,
    observer: CallObserver,
    *,
    credentials: Credentials | None,
    limiter: RateLimiter | None,
    redis: RedisClient | None,
    sleep: SleepFn,
) -> Assembly:
    """The venue with its limiter (``limiter``, else built here), shared data and pipeline."""
    s = settings
    venue = build_venue(s, credentials=credentials, limiter=limiter)
    if keeps_paper_journal(s) and redis is not None:
        from omegafarm.exchange.paper.journal import DurablePaperExchange, DurablePaperVenue

        venue = DurablePaperVenue(await DurablePaperExchange.open(s.paper, redis))
    if limiter is None:
        limiter = local = local_limiter(s, venue.rate_interval_ms, sleep=sleep)
        if redis is not None and venue.shares_market_data:
            limiter = SharedRateLimiter(redis, local, sleep=sleep)
        venue.attach_limiter(limiter)
    shared = shared_market_data(s, redis, venue_shares=venue.shares_market_data)
    secrets = tuple(credentials.revealed()) if credentials is not None else ()
    pipe = CallPipeline(s, venue, observer, shared=shared, secrets=secrets, sleep=sleep)
    return Assembly(venue, limiter, shared, pipe)
