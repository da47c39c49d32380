"""Checks shared by the fault tests that run a farm through a Redis fault (kill, failover)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omegafarm.bots.worker import Worker
from omegafarm.exchange import ExchangeService
from omegafarm.store import RedisClient
from tests.integration._farm import QUOTE_START, audited_ledgers, wait_for


async def true(value: bool) -> bool:
    """A plain condition as the awaitable ``wait_for`` polls."""
    return value


async def fills_at_least(exchange: ExchangeService, n: int, *, count: bool = False) -> Any:
    """Whether the exchange has ``n`` filled orders (or, with ``count``, how many it has)."""
    orders = await exchange.fetch_orders()
    filled = len([o for o in orders if o.filled])
    return filled if count else filled >= n


async def assert_subscriptions_exact(workers: list[Worker], timeout_s: float = 15) -> None:
    """The server holds exactly the channels each worker wants (a worker resubscribes after a
    reconnect in the background: waited for, with a deadline)."""
    for worker in workers:
        assert worker._sub is not None
        wanted = worker._sub.channels
        assert wanted == set(worker._channels)
        full = [worker.redis.keys.channel(c) for c in sorted(wanted)]

        async def held(worker: Worker = worker, full: list[str] = full) -> bool:
            counts = dict(await worker.redis._raw.pubsub_numsub(*full))
            return all(counts[c.encode()] >= 1 for c in full)

        await wait_for(held, timeout_s, f"the server to hold every channel of {worker.id}")


async def assert_books_match_the_exchange(
    redis: RedisClient, exchange: ExchangeService, bot_ids: list[str]
) -> None:
    """No duplicate client order id, no lost fill, cash equal to the exchange's to the unit."""
    ledgers = await audited_ledgers(redis, bot_ids)
    orders = await exchange.fetch_orders()
    assert orders, "the bots traded"
    assert len({o.client_order_id for o in orders}) == len(orders)  # no duplicates
    for order in orders:
        owner = ledgers[str(order.client_order_id).split("-")[0]]
        mine = owner.orders[str(order.client_order_id)]
        assert (mine.filled, mine.cost) == (order.filled, order.cost)  # no lost fill
    delta = sum((lg.cash - lg.capital for lg in ledgers.values()), Decimal(0))
    exact_free, exact_used = exchange.get_exchange_client().balance_of("USDT")
    assert exact_free + exact_used == QUOTE_START + delta
