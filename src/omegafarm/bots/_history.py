"""A bot's history, read from its event stream (``bot:{bot:<id>}:events``).

A live bot's saved ledger is its hot state only (open orders, totals, counters, the round trip
in progress: :mod:`.ledger`). What leaves it is appended, in the same fenced write, to the
event stream: ``order`` (a finished order's final snapshot), ``fill`` and ``trade`` (a finished
round trip). The stream keeps about :data:`~omegafarm.bots.lease.EVENTS_MAXLEN` entries per
bot (``XADD MAXLEN ~``), the audit window: readers of old data (the trades list, metrics,
reconciliation, audits) read it here.
"""

from __future__ import annotations

from typing import Any

from omegafarm.bots.ledger import Ledger, OrderUpdate, Trade, order_of_event, trade_of_event
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

ADOPTED = "adopted"  # the event ``omega bots reconcile --adopt`` appends before the history


async def events(redis: RedisClient, bot_id: str, *, since_ms: int | None = None) -> list[Any]:
    """The bot's events in order (those appended at or after ``since_ms`` when given). When
    the ledger was adopted from the exchange, only the events from then on: the adoption
    appends the rebuilt history after an ``adopted`` marker, and what came before is what the
    exchange contradicted."""
    start = "-" if since_ms is None else f"{max(0, since_ms)}-0"
    found = [m.data for m in await redis.stream_range(_names.bot_events(bot_id), start=start)]
    marks = [i for i, e in enumerate(found) if e.get("kind") == ADOPTED]
    return found[marks[-1] + 1 :] if marks else found


def orders_in(found: list[dict[str, Any]]) -> dict[str, OrderUpdate]:
    """The final snapshot of each finished order among ``found`` events (the newest wins)."""
    return {e["client_order_id"]: order_of_event(e) for e in found if e.get("kind") == "order"}


def trades_in(found: list[dict[str, Any]]) -> list[Trade]:
    """The finished round trips among ``found`` events, oldest first."""
    return [trade_of_event(e) for e in found if e.get("kind") == "trade"]


async def finished_orders(
    redis: RedisClient, ledger: Ledger, *, since_ms: int | None = None
) -> dict[str, OrderUpdate]:
    """The bot's finished orders in the event window, plus those ``ledger`` finished and has
    not saved yet (its pending events), by client order id."""
    found = await events(redis, ledger.bot_id, since_ms=since_ms)
    return {**orders_in(found), **orders_in(ledger.events)}


async def all_orders(redis: RedisClient, ledger: Ledger) -> dict[str, OrderUpdate]:
    """Every order of the bot the event window and the hot state know (audits, tests)."""
    return {**await finished_orders(redis, ledger), **{o.client_order_id: o for o in
                                                       ledger.open_orders()}}  # fmt: skip
