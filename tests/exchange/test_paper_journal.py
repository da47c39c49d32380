"""The durable paper exchange: a second process opening the farm's Redis finds the same exchange."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from omegafarm.exchange.paper import PaperSettings
from omegafarm.exchange.paper.journal import DurablePaperExchange, reset, state_key
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

SETTINGS = PaperSettings(
    symbols=["BTC/USDT", "ETH/USDT"], clock="manual", warmup_bars=50, perpetuals=True
)


async def _trade(ex: DurablePaperExchange) -> None:
    await ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "a-1"})
    ticker = await ex.fetch_ticker("ETH/USDT")
    await ex.create_order(
        "ETH/USDT", "limit", "buy", 0.5, ticker["last"] * 0.999, {"clientOrderId": "a-2"}
    )
    await ex.create_order("ETH/USDT", "limit", "buy", 0.5, ticker["last"] * 0.5)  # stays open
    await ex.create_order("BTC/USDT:USDT", "market", "sell", 0.02, params={"clientOrderId": "a-3"})
    ex.advance(3)
    await ex.fetch_orders()  # answering saves what the clock changed


async def test_reopened_exchange_has_the_same_orders_fills_balances_positions_and_clock(
    redis_client: RedisClient,
) -> None:
    first = await DurablePaperExchange.open(SETTINGS, redis_client)
    await _trade(first)

    second = await DurablePaperExchange.open(SETTINGS, redis_client)

    assert second.milliseconds() == first.milliseconds()
    assert await second.fetch_orders() == await first.fetch_orders()
    assert await second.fetch_my_trades() == await first.fetch_my_trades()
    assert await second.fetch_positions() == await first.fetch_positions()
    for currency in ("USDT", "BTC", "ETH"):
        assert second.balance_of(currency) == first.balance_of(currency)  # exact Decimals
    assert len(await second.fetch_open_orders()) == 1
    assert len(await first.fetch_my_trades()) >= 2


async def test_reopened_exchange_goes_on_matching_exactly_like_the_original(
    redis_client: RedisClient,
) -> None:
    first = await DurablePaperExchange.open(SETTINGS, redis_client)
    await _trade(first)
    second = await DurablePaperExchange.open(SETTINGS, redis_client)

    for ex in (first, second):
        await ex.create_order("ETH/USDT", "market", "sell", 0.2, params={"clientOrderId": "b-1"})
        ex.advance(200)
    assert await second.fetch_orders() == await first.fetch_orders()
    assert second.balance_of("USDT") == first.balance_of("USDT")


async def test_known_client_order_id_after_reopen_returns_the_saved_order(
    redis_client: RedisClient,
) -> None:
    first = await DurablePaperExchange.open(SETTINGS, redis_client)
    await _trade(first)
    second = await DurablePaperExchange.open(SETTINGS, redis_client)

    again = await second.create_order(
        "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "a-1"}
    )

    assert again["id"] == "1"
    assert len(await second.fetch_orders()) == len(await first.fetch_orders())


async def test_wall_clock_resumes_where_it_stopped_never_earlier(redis_client: RedisClient) -> None:
    wall = [1_800_000_000.0]
    fast = PaperSettings(symbols=["BTC/USDT"], speed=60.0, warmup_bars=10)
    first = await DurablePaperExchange.open(fast, redis_client, clock_s=lambda: wall[0])
    wall[0] += 600  # ten minutes at speed 60: ten simulated hours
    await first.fetch_time()
    stopped_ms = first.milliseconds()

    wall[0] += 5  # restarted five seconds later
    second = await DurablePaperExchange.open(fast, redis_client, clock_s=lambda: wall[0])

    assert second.milliseconds() == stopped_ms
    wall[0] += 1
    assert second.milliseconds() == stopped_ms + 60_000


async def test_other_market_settings_are_refused_with_a_clear_error(
    redis_client: RedisClient,
) -> None:
    await DurablePaperExchange.open(SETTINGS, redis_client)
    other = SETTINGS.model_copy(update={"seed": 7})

    with pytest.raises(Exception, match="saved paper exchange has seed 42"):
        await DurablePaperExchange.open(other, redis_client)
    assert await reset(redis_client)
    assert (await DurablePaperExchange.open(other, redis_client)).settings.seed == 7


async def test_fenced_exchange_cannot_write_once_the_lease_moved(
    redis_client: RedisClient,
) -> None:
    ex = await DurablePaperExchange.open(SETTINGS, redis_client)
    lease = redis_client.keys.key("lock:lease:gateway-test")
    await redis_client.set("lock:lease:gateway-test", b"ignored")  # someone else's lease
    ex.fence(lease, "me|1")

    with pytest.raises(ccxt.ExchangeNotAvailable, match="lost its lease"):
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    saved = await redis_client.script("return redis.call('HKEYS', KEYS[1])")([state_key()], [])
    assert not any(bytes(k).startswith(b"o:") for k in saved)  # nothing of it reached Redis
    ex.fence(lease, None)
    with pytest.raises(ccxt.ExchangeNotAvailable, match="standby"):
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    assert ex.balance_of("USDT")[0] < Decimal(10_000)  # the memory copy moved; Redis did not


async def test_unfenced_copy_writes_nothing_while_a_gateway_is_active(
    redis_client: RedisClient,
) -> None:
    ex = await DurablePaperExchange.open(SETTINGS, redis_client)
    await redis_client.set(_names.GATEWAY_LEASE, b"gw-1|1")  # another process's gateway is active

    with pytest.raises(ccxt.ExchangeNotAvailable, match="another process's gateway"):
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    ex.advance(5)
    await ex.fetch_orders()  # a read after the clock moved: answered, nothing written

    reopened = await DurablePaperExchange.open(SETTINGS, redis_client)
    assert await reopened.fetch_orders() == []


def test_every_public_async_method_of_the_paper_exchange_saves_before_answering() -> None:
    import inspect

    from omegafarm.exchange.paper import PaperExchange
    from omegafarm.exchange.paper.journal import _CALLS

    public = {
        name
        for name, fn in inspect.getmembers(PaperExchange, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in ("close", "run")
    }
    assert public == set(_CALLS)  # a new method must be wrapped too (or excluded here, on purpose)


def test_every_public_async_method_of_the_paper_venue_saves_before_answering() -> None:
    import inspect

    from omegafarm.exchange.paper.journal import _VENUE_CALLS
    from omegafarm.exchange.paper.venue import PaperVenue

    public = {
        name
        for name, fn in inspect.getmembers(PaperVenue, inspect.iscoroutinefunction)
        if not name.startswith("_") and name != "close"
    }
    assert public == set(_VENUE_CALLS)  # a new method must be wrapped too
