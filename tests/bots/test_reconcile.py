"""Reconciliation of ledgers with the exchange: heal what is behind, halt what diverged, adopt."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from typer.testing import CliRunner

from omegafarm.bots import _view
from omegafarm.bots._convert import update_from_order
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.gateway import Gateway
from omegafarm.bots.ledger import Ledger, OrderUpdate
from omegafarm.bots.reconcile import Reconciler
from omegafarm.bots.service import register_bots
from omegafarm.bots.worker import Worker
from omegafarm.cli import app
from omegafarm.core.logging import configure_logging
from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.exchange.paper import PaperSettings
from omegafarm.store import RedisClient, RedisSettings
from omegafarm.store import keys as _names
from tests.exchange._binance import MiniBinance, btc_usdt_market
from tests.exchange._replay import replay_service
from tests.integration._farm import wait_for

PAPER = PaperSettings(clock="manual", symbols=["BTC/USDT"], perpetuals=False, warmup_bars=50)
BOT = BotSettings(id="b1", strategy="sma_cross", symbol="BTC/USDT", capital=Decimal(5000))
OTHER = BotSettings(id="b2", strategy="sma_cross", symbol="BTC/USDT", capital=Decimal(5000))


def _exchange(redis: RedisClient, tmp: Path) -> ExchangeService:
    """A durable paper exchange in the farm's Redis (what `omega up` runs)."""
    settings = ExchangeSettings(exchange_id="paper", paper=PAPER, ohlcv_cache_path=tmp / "c.db")
    return ExchangeService(settings, redis=redis, metrics_registry=CollectorRegistry())


@pytest_asyncio.fixture(loop_scope="session")
async def exchange(redis_client: RedisClient, tmp_path: Path) -> AsyncIterator[ExchangeService]:
    ex = _exchange(redis_client, tmp_path)
    await ex.initialize()
    await register_bots(redis_client, [BOT, OTHER])
    yield ex
    await ex.shutdown()


async def _place(ex: ExchangeService, cid: str, amount: str = "0.01") -> OrderUpdate:
    order = await ex.create_order(
        "BTC/USDT", "market", "buy", Decimal(amount), None, {"clientOrderId": cid}
    )
    return update_from_order(order, cid)


async def _save_ledger(redis: RedisClient, ledger: Ledger, seq: int) -> None:
    """As a bot saves: the hot state, and what left it appended to its event stream."""
    state = {"ledger": ledger.snapshot(), "seq": seq, "halted": None, "strategy_state": {}}
    await redis.set(_names.bot_state(ledger.bot_id), state)
    for event in ledger.drain_events():
        await redis.stream_add(_names.bot_events(ledger.bot_id), event)


def _ledger() -> Ledger:
    return Ledger("b1", "BTC/USDT", "BTC", "USDT", BOT.capital, history=False)


def _pending(update: OrderUpdate) -> OrderUpdate:
    zero = Decimal(0)
    return OrderUpdate(update.client_order_id, None, update.symbol, update.side, update.type,
                       "pending", update.amount, zero, zero, zero, None, None, 0)  # fmt: skip


async def test_an_exchange_merely_ahead_is_healed_not_halted(
    redis_client: RedisClient, exchange: ExchangeService
) -> None:
    acked = await _place(exchange, "b1-1")
    ledger = _ledger()
    ledger.register(_pending(acked))
    ledger.apply(acked)  # the bot saw the acknowledgement, not the fill
    await _save_ledger(redis_client, ledger, 1)
    exchange.get_exchange_client().advance(3)

    diffs = await Reconciler(redis_client, exchange).check(BOT)

    assert diffs == []
    sent = await redis_client.stream_range(_names.updates("b1"))
    assert [OrderUpdate(**m.data).filled for m in sent] == [Decimal("0.01")]


async def test_orders_older_than_the_event_window_are_the_ledgers_not_unknown_to_it(
    redis_client: RedisClient, exchange: ExchangeService
) -> None:
    ledger = _ledger()
    for cid in ("b1-1", "b1-2"):
        done = await _place(exchange, cid)
        exchange.get_exchange_client().advance(3)
        ledger.register(_pending(done))
        ledger.apply(
            update_from_order(
                await exchange.fetch_order(done.order_id or "", "BTC/USDT", {"clientOrderId": cid}),
                cid,
            )
        )
    ledger.drain_events()  # trimmed off the event stream long ago: only the hot state is left
    ledger.finished.clear()  # and many orders finished since (out of the recent ones)
    await _save_ledger(redis_client, ledger, 2)

    for full in (True, False):
        assert await Reconciler(redis_client, exchange).check(BOT, full=full) == []


async def test_divergences_halt_the_bot_and_adopt_rebuilds_the_ledger_from_the_exchange(
    redis_client: RedisClient, exchange: ExchangeService
) -> None:
    ghost = OrderUpdate("b1-1", "77", "BTC/USDT", "buy", "market", "closed", Decimal("0.01"),
                        Decimal("0.01"), Decimal(420), Decimal("0.42"), "USDT", None, 1)  # fmt: skip
    ledger = _ledger()
    ledger.register(_pending(ghost))
    ledger.apply(ghost)  # a fill the exchange never made (its state was lost)
    await _save_ledger(redis_client, ledger, 1)
    stray = await _place(exchange, "b1-2")  # an order of the bot its ledger never saw
    exchange.get_exchange_client().advance(3)
    reconciler = Reconciler(redis_client, exchange)

    found = await reconciler.check_all(full=True)

    kinds = sorted(d.kind for d in found["b1"])
    assert kinds == ["unknown_to_exchange", "unknown_to_ledger"]
    assert "b2" not in found  # the other bot has no ledger yet: nothing to compare
    halt = await reconciler.halted("b1")
    assert halt is not None and "2 difference(s)" in halt["reason"]
    worker = Worker(redis_client, FarmSettings())
    assert [s.id for s in await worker.wanted_bots()] == ["b2"]  # its worker lets it go
    row = await _view.row(redis_client, "b1", BOT.model_dump(mode="json"))
    assert row["state"] == "halted" and "reconciliation" in row["halted"]

    adopted = await reconciler.adopt(BOT)

    assert list(adopted.orders) == [stray.client_order_id]
    assert adopted.position == Decimal("0.01")
    assert adopted.cash == BOT.capital - adopted.orders["b1-2"].cost - adopted.orders["b1-2"].fee
    assert await reconciler.halted("b1") is None
    assert await reconciler.check(BOT) == []
    saved = await redis_client.get(_names.bot_state("b1"))
    assert saved["seq"] == 2  # the next client order id is new: b1-3


async def test_the_gateway_reconciles_when_it_becomes_active_and_rejects_halted_commands(
    redis_client: RedisClient, exchange: ExchangeService
) -> None:
    await _place(exchange, "b1-5")
    await _save_ledger(redis_client, _ledger(), 5)  # the ledger lost the order
    gateway = Gateway(redis_client, exchange, FarmSettings(reconcile_interval_s=0), set())
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        await wait_for(lambda: _halted(redis_client), 10, "the bot halted at gateway start")
        command = {"kind": "place", "symbol": "BTC/USDT", "side": "buy", "type": "market",
                   "amount": "0.01", "price": None, "bot_id": "b1", "cid": "b1-6",
                   "token": 1}  # fmt: skip
        await redis_client.stream_add(_names.COMMANDS, command)
        await wait_for(lambda: _rejected(redis_client, "b1-6"), 10, "the command rejected")
    finally:
        stop.set()
        await task
    cids = [o.client_order_id for o in await exchange.fetch_orders("BTC/USDT")]
    assert cids == ["b1-5"]  # the halted bot's command never reached the exchange


async def _halted(redis: RedisClient) -> bool:
    return await redis.get(_names.halt("b1")) is not None


async def _rejected(redis: RedisClient, cid: str) -> bool:
    record = await redis.get(_names.order_record(cid))
    return bool(record) and record["status"] == "rejected" and "halted" in record["reason"]


# ----------------------------------------------------------------- omega bots reconcile
@pytest.fixture
def diverged_farm(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A farm whose bot b1 has a ledger fill the (saved) paper exchange never made."""
    farm = "r" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("OMEGA_REDIS__URL", redis_url)
    monkeypatch.setenv("OMEGA_REDIS__FARM", farm)
    monkeypatch.setenv("OMEGA_EXCHANGE__PAPER__CLOCK", "manual")
    monkeypatch.setenv("OMEGA_EXCHANGE__PAPER__SYMBOLS", '["BTC/USDT"]')
    monkeypatch.setenv("OMEGA_EXCHANGE__PAPER__PERPETUALS", "false")
    monkeypatch.setenv("OMEGA_EXCHANGE__PAPER__WARMUP_BARS", "50")
    monkeypatch.setenv("OMEGA_EXCHANGE__OHLCV_CACHE_PATH", str(tmp_path / "cli.db"))

    async def arrange() -> None:
        settings = RedisSettings(url=SecretStr(redis_url), farm=farm)
        async with RedisClient(settings, metrics_registry=CollectorRegistry()) as redis:
            await register_bots(redis, [BOT])
            async with _exchange(redis, tmp_path) as ex:
                real = await _place(ex, "b1-1")
                ex.get_exchange_client().advance(3)
                await ex.fetch_orders()  # saved
                ledger = _ledger()
                ledger.register(_pending(real))
                doubled = OrderUpdate(**{**asdict(real), "status": "closed",
                                         "filled": Decimal("0.02"), "amount": Decimal("0.02")})  # fmt: skip
                ledger.apply(doubled)
                await _save_ledger(redis, ledger, 1)
                await Reconciler(redis, ex).check_all(full=True)

    asyncio.run(arrange())
    yield farm
    configure_logging(stream=sys.__stderr__)  # the CLI logged onto CliRunner's closed stream


def test_omega_bots_reconcile_shows_the_difference_then_adopts(diverged_farm: str) -> None:
    runner = CliRunner()

    shown = runner.invoke(app, ["bots", "reconcile", "b1", "--json"])

    assert shown.exit_code == 1, shown.output
    report = json.loads(shown.stdout)
    assert "reconciliation" in report["halted"]["reason"]
    kinds = [d["kind"] for d in report["differences"]]
    # by the order's snapshot, by the sum of fetch_my_trades, and (b1 is the account's only
    # bot) by the BTC balance
    assert kinds == ["fills_differ", "fills_differ", "balance_differs"]
    assert "filled 0.02" in report["differences"][0]["detail"]
    kept = runner.invoke(app, ["bots", "reconcile", "b1", "--keep"])
    assert kept.exit_code == 1 and "stays halted" in kept.output

    adopted = runner.invoke(app, ["bots", "reconcile", "b1", "--adopt"])

    assert adopted.exit_code == 0, adopted.output
    assert "adopted the exchange's state: 1 orders" in adopted.output
    again = runner.invoke(app, ["bots", "reconcile", "b1", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"bot_id": "b1", "halted": None, "differences": []}


# ----------------------------------------------------------------- a ccxt exchange (loopback)
async def test_reconciliation_works_on_a_ccxt_exchange_by_client_order_id_and_my_trades(
    redis_client: RedisClient, tmp_path: Path
) -> None:
    venue = MiniBinance()
    markets = {"BTC/USDT": btc_usdt_market()}
    await register_bots(redis_client, [BOT, OTHER])  # a shared account: no balance check
    async with (
        venue.server,
        replay_service("binance", venue.server, tmp_path, markets=markets) as ex,
    ):
        behind = await _place_limit(ex, "b1-1")  # the ledger saw only its acknowledgement
        booked_twice = await _place_limit(ex, "b1-4")
        await _place_limit(ex, "b1-5")  # the ledger never saw this one (it issued up to 4)
        venue.fill("b1-1", "0.01", "50000")
        venue.fill("b1-4", "0.01", "50000")
        ledger = _ledger()
        for acked in (behind, booked_twice):
            ledger.register(_pending(acked))
            ledger.apply(acked)
        ghost = OrderUpdate("b1-2", "555", "BTC/USDT", "buy", "limit", "open", Decimal("0.01"),
                            Decimal(0), Decimal(0), Decimal(0), None, Decimal(50000), 1)  # fmt: skip
        ledger.register(_pending(ghost))
        ledger.apply(ghost)
        ledger.apply(OrderUpdate(**{**asdict(booked_twice), "status": "closed",
                                    "filled": Decimal("0.02"), "cost": Decimal(1000)}))  # fmt: skip
        await _save_ledger(redis_client, ledger, 4)

        diffs = await Reconciler(redis_client, ex).check(BOT)

    found = sorted((d.kind, d.client_order_id) for d in diffs)
    assert found == [
        ("fills_differ", "b1-4"),  # by the order's snapshot
        ("fills_differ", "b1-4"),  # by the sum of fetch_my_trades
        ("unknown_to_exchange", "b1-2"),
        ("unknown_to_ledger", "b1-5"),
    ]
    healed = [OrderUpdate(**m.data) for m in await redis_client.stream_range(_names.updates("b1"))]
    assert [(u.client_order_id, u.filled, u.status) for u in healed] == [
        ("b1-1", Decimal("0.01"), "closed")
    ]
    looked_up = [
        r.param("origClientOrderId")
        for r in venue.server.requests
        if r.path.endswith("/order") and r.method == "GET"
    ]
    assert looked_up == ["b1-2"]  # not in fetch_orders' list: looked up by client order id


async def _place_limit(ex: ExchangeService, cid: str) -> OrderUpdate:
    order = await ex.create_order(
        "BTC/USDT", "limit", "buy", Decimal("0.01"), Decimal(50000), {"clientOrderId": cid}
    )
    return update_from_order(order, cid)


def test_omega_exchange_reset_paper_needs_yes_and_no_active_gateway(diverged_farm: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["exchange", "reset-paper"]).exit_code == 2

    async def hold_lease(value: bytes | None) -> None:
        configure_logging(stream=sys.__stderr__)  # the CLI logged onto CliRunner's closed stream
        settings = RedisSettings(url=SecretStr(os.environ["OMEGA_REDIS__URL"]), farm=diverged_farm)
        async with RedisClient(settings, metrics_registry=CollectorRegistry()) as redis:
            if value is None:
                await redis.delete(_names.GATEWAY_LEASE)
            else:
                await redis.set(_names.GATEWAY_LEASE, value)

    asyncio.run(hold_lease(b"gw|1"))
    refused = runner.invoke(app, ["exchange", "reset-paper", "--yes"])
    assert refused.exit_code == 2 and "a gateway is active" in refused.output
    asyncio.run(hold_lease(None))
    done = runner.invoke(app, ["exchange", "reset-paper", "--yes"])
    assert done.exit_code == 0 and "paper exchange deleted" in done.output
    again = runner.invoke(app, ["exchange", "reset-paper", "--yes"])
    assert again.exit_code == 0 and "no saved paper exchange" in again.output


async def test_a_halted_bot_fires_the_default_ledger_divergence_alert(
    redis_client: RedisClient, exchange: ExchangeService
) -> None:
    from omegafarm.api.alerting import AlertingService
    from omegafarm.api.config import AlertSettings
    from omegafarm.bots.metrics import FarmCollector
    from omegafarm.bots.reconcile import Divergence
    from omegafarm.core.registry import ServiceRegistry

    metrics = CollectorRegistry()
    collector = FarmCollector(redis_client)
    metrics.register(collector)
    alerts = AlertingService(
        AlertSettings(enabled=False), ServiceRegistry([]), metrics_registry=metrics
    )
    await alerts.initialize()
    try:
        await collector.refresh()
        assert "ledger-divergence" not in [e.rule for e in await alerts.evaluate_once()]
        await Reconciler(redis_client, exchange).halt("b1", [Divergence("x", None, "test")])
        await collector.refresh()
        fired = await alerts.evaluate_once()
    finally:
        await alerts.shutdown()
    assert [(e.rule, e.status, e.value) for e in fired] == [("ledger-divergence", "firing", 1.0)]
