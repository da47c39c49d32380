"""A live bot: a Trader whose state lives in Redis and whose orders go through the gateway.

Events arrive from its worker (candles from pub/sub, order updates from its own stream, read
when the gateway wakes the worker: see :mod:`.worker`). After
each event the bot *first* writes its state (ledger with the orders it is about to send, order
sequence, brackets, halt reason, strategy state) under its lease — a fenced write that fails
if the lease has moved — and *then* appends the commands for the gateway. So a crash between
the two leaves orders marked "pending" in the saved ledger, and the next owner re-sends them
with the same client order ids (idempotent: never a duplicate). On start the bot reconciles:
it replays its update stream (applying a snapshot twice adds nothing), re-sends pending orders
and asks the gateway to look up every open one by client order id. Each command is sent
inside a span and carries its trace context (``traceparent``) for the gateway to continue.

The state saved is the ledger's hot state (open orders, totals, counters: see
:mod:`.ledger`); what leaves it (finished orders, fills, finished round trips) is appended to
the bot's event stream by the same fenced script, which also writes the status record and the
candle's equity sample. So one event is one round trip to Redis whose size does not grow with
the bot's age, and a finished order's history is never lost between the two writes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import numpy as np
from opentelemetry.trace import SpanKind

from omegafarm.bots import _view
from omegafarm.bots.config import BotSettings
from omegafarm.bots.feed import CandleFeed
from omegafarm.bots.gateway_partitions import command_stream
from omegafarm.bots.lease import BotWrite, Lease, Leases
from omegafarm.bots.ledger import Ledger, OrderUpdate
from omegafarm.bots.strategies import get_strategy
from omegafarm.bots.strategy import Candle, Tick
from omegafarm.bots.trader import Brackets, CancelOrder, Command, PlaceOrder, RiskLimits, Trader
from omegafarm.core.errors import OmegaError, ServiceError
from omegafarm.core.tracing import inject, start_span
from omegafarm.store import RedisClient, encode, tag_decimals
from omegafarm.store import keys as _names

_TRACER = "omegafarm.bots.live"
EQUITY_SAMPLES = 10_000  # per bot, in the stream bot:{id}:equity (a time series)


class LeaseLostError(ServiceError):
    """The bot's lease moved to another worker: this copy must stop at once."""


class FeedRewoundError(ServiceError):
    """The market's candles went back in time (a reset or non-durable paper exchange): the
    bot is restarted on the market's new history instead of ignoring every candle."""


def _fill_feed(feed: CandleFeed, history: list[list[float]], before_ms: float) -> int:
    """Append the candles of ``history`` newer than the feed's newest and older than
    ``before_ms``; how many."""
    last = float(feed.ts_ms[-1]) if feed.stop else -1.0
    added = 0
    for row in history:
        if last < row[0] < before_ms and feed.append(row):
            last = row[0]
            added += 1
    return added


def _split(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote.split(":", 1)[0]


class LiveBot:
    """One bot on one worker, for as long as the worker holds its lease."""

    def __init__(self, spec: BotSettings, redis: RedisClient, leases: Leases, lease: Lease):
        self.spec, self.redis, self.leases, self.lease = spec, redis, leases, lease
        self.trader: Trader | None = None
        self.consumer = f"{leases.worker_id}"
        self.commands_sent = 0
        self.candles_filled = 0  # candles it missed and took from the market's history
        self._sampled = -1
        self._peak, self._max_dd = 0.0, 0.0
        self._status: dict[str, Any] | None = None  # the last status record written
        self._spec_row: dict[str, Any] | None = None  # the spec as the feed's rows carry it
        self._lock = asyncio.Lock()  # one event at a time: saved state follows event order
        self._commands: str | None = None  # the stream of the bot's gateway partition

    @property
    def id(self) -> str:
        return self.spec.id

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Load state and history, start the strategy, reconcile open orders."""
        spec = self.spec
        state: dict[str, Any] | None = await self.redis.get(_names.bot_state(spec.id))
        base, quote = _split(spec.symbol)
        if state:  # the hot state (a saved ledger of the first format is converted here)
            ledger = Ledger.restore(state["ledger"])
        else:
            ledger = Ledger(spec.id, spec.symbol, base, quote, spec.capital, history=False)
        history = await self.redis.get(_names.history(spec.symbol, spec.timeframe)) or []
        matrix = np.asarray(history, dtype=np.float64).reshape(-1, 6)
        feed = CandleFeed(matrix, capacity=max(2000, matrix.shape[0] + 100))
        strategy = get_strategy(spec.strategy)(spec.params)
        limits = RiskLimits(spec.max_position, spec.max_daily_loss, spec.max_open_orders)
        trader = Trader(
            spec.id, strategy, ledger, feed, limits, seq=int((state or {}).get("seq", 0))
        )
        if state:
            trader.halted = state.get("halted")
            strategy.state = dict(state.get("strategy_state") or {})
            b = state.get("brackets") or {}
            trader.brackets = Brackets(
                b.get("stop_loss"), b.get("take_profit"), b.get("tp_order"), b.get("closing"),
                {k: tuple(v) for k, v in (b.get("entries") or {}).items()},
            )  # fmt: skip
        self.trader = trader
        trader.start()
        await self.redis.stream_group(_names.updates(spec.id), _names.UPDATES_GROUP)
        await self._reconcile()

    async def _reconcile(self) -> None:
        trader = self._t
        stream = _names.updates(self.id)
        old = await self.redis.stream_reclaim(
            stream, _names.UPDATES_GROUP, self.consumer, min_idle_ms=0, count=10_000
        )
        await self._apply_messages(stream, old)
        await self._apply_messages(
            stream,
            await self.redis.stream_read(
                stream, _names.UPDATES_GROUP, self.consumer, count=10_000, block_ms=None
            ),
        )
        for order in trader.ledger.open_orders():
            if order.order_id is None:  # saved as about-to-send: send again (same id)
                trader.outbox.append(
                    PlaceOrder(order.client_order_id, order.symbol, order.side, order.type,
                               order.amount, order.price)
                )  # fmt: skip
            else:
                await self._send({"kind": "sync", "cid": order.client_order_id,
                                  "order_id": order.order_id, "symbol": order.symbol})  # fmt: skip
        await self.flush()
        trader.log("bot_reconciled", open_orders=len(trader.ledger.open_orders()))

    async def stop(self, *, release: bool = True) -> None:
        """Stop the strategy, save state and (normally) give the lease back."""
        if self.trader is not None:
            async with self._lock:
                self.trader.stop()
                try:
                    await self.flush()
                except LeaseLostError:
                    return
        if release:
            await self.leases.release(self.lease)

    @property
    def _t(self) -> Trader:
        if self.trader is None:
            raise ServiceError(f"bot {self.id} is not started")
        return self.trader

    # ----------------------------------------------------------------- events
    def last_candle_ms(self) -> float:
        """Time of the newest candle in the bot's feed (-1: none yet)."""
        feed = self._t.feed
        return float(feed.ts_ms[-1]) if feed.stop else -1.0

    async def on_candle(self, row: list[float], backfill: list[list[float]] | None = None) -> None:
        """A closed candle of the bot's symbol arrived.

        ``backfill`` (the market's history, oldest first) is given when the bot missed
        candles before this one: those between its newest and ``row`` join its feed first,
        so its indicators are computed over every bar. Only ``row`` is decided on: a missed
        candle is market data, not a late signal to act on.
        """
        async with self._lock:
            trader = self._t
            if backfill:
                self.candles_filled += _fill_feed(trader.feed, backfill, row[0])
            if not trader.feed.append(row):
                feed = trader.feed
                if feed.stop and row[0] < feed.ts_ms[-1]:  # not a repeat: the market rewound
                    raise FeedRewoundError(
                        f"bot {self.id}: candle {int(row[0])} is older than its history "
                        f"({int(feed.ts_ms[-1])}): restarting it on the market's new history"
                    )
                return
            ts, o, h, lo, c, v = row
            trader.candle(Candle(int(ts), o, h, lo, c, v))
            await self.flush()

    async def on_tick(self, data: dict[str, Any]) -> None:
        """A live ticker of the bot's symbol arrived."""
        async with self._lock:
            self._t.tick(Tick(int(data["ts_ms"]), float(data["last"])))
            if self._t.outbox:
                await self.flush()

    async def apply_updates(self, messages: list[Any]) -> None:
        """Apply order updates its worker read from the bot's stream (after a wake-up)."""
        async with self._lock:
            await self._apply_messages(_names.updates(self.id), messages)

    async def poll_updates(self) -> int:
        """Read and apply new order updates from the bot's stream; returns how many."""
        stream = _names.updates(self.id)
        async with self._lock:
            messages = await self.redis.stream_read(
                stream, _names.UPDATES_GROUP, self.consumer, count=200, block_ms=None
            )
            await self._apply_messages(stream, messages)
        return len(messages)

    async def _apply_messages(self, stream: str, messages: list[Any]) -> None:
        if not messages:
            return
        trader = self._t
        for message in messages:
            update = OrderUpdate(**message.data)
            if trader.ledger.owns(update.client_order_id):
                trader.order_update(update)
        await self.flush()
        await self.redis.stream_ack(stream, _names.UPDATES_GROUP, *(m.id for m in messages))

    # ----------------------------------------------------------------- persistence
    async def flush(self) -> None:
        """Save state under the lease, then send the queued commands.

        One script (:meth:`Leases.fenced_save`) saves the hot state, appends what left it
        (finished orders, fills, finished round trips) to the bot's event stream, and writes
        the status record and the candle's equity sample: one round trip per event (shared with
        the other bots of this candle on one server: see :class:`~.lease.Leases`), whose size
        depends on what is open, not on how many orders the bot ever placed."""
        trader = self._t
        commands = trader.drain()
        events = trader.ledger.drain_events()
        status, sample = self._status_record()
        # the status record's Decimals converted once for the three records that carry them
        # (status, feed row, equity sample): the same bytes
        tagged = tag_decimals(status)
        tagged_sample = None if sample is None else tag_decimals(sample)
        write = BotWrite(
            encode(self.snapshot()), [encode(e) for e in events], encode(tagged),
            self.leases.status_ttl_ms, None if tagged_sample is None else encode(tagged_sample),
            EQUITY_SAMPLES, _names.FEED_BOTS, self._feed_messages(tagged, tagged_sample),
        )  # fmt: skip
        try:
            saved = await self.leases.fenced_save(self.lease, write)
        except OmegaError:
            trader.outbox[:0] = commands  # Redis is down: keep them for the next flush
            trader.ledger.events[:0] = events  # and the events (nothing was written)
            raise
        if not saved:
            raise LeaseLostError(f"bot {self.id}: lease lost; not sending {len(commands)} orders")
        self._status = status
        if sample is not None:
            self._sampled = trader.feed.version
        for k, cmd in enumerate(commands):
            try:
                await self._send(_command(cmd))
            except OmegaError:
                trader.outbox[:0] = commands[k:]  # saved as pending; send the rest later
                raise

    async def _send(self, body: dict[str, Any]) -> None:
        body = {**body, "bot_id": self.id, "token": self.lease.token}
        attributes = {
            "omega.bot_id": self.id,
            "omega.command": body.get("kind"),
            "omega.client_order_id": body.get("cid"),
            "omega.symbol": body.get("symbol"),
        }
        with start_span(
            f"bot {body['kind']}", tracer_name=_TRACER, kind=SpanKind.PRODUCER,
            attributes=attributes,
        ):  # fmt: skip  # the gateway continues this trace from the message's traceparent
            if self._commands is None:  # the bot's command partition (fixed for the farm)
                self._commands = await command_stream(self.redis, self.id)
            await self.redis.stream_add(self._commands, inject(body))
        self.commands_sent += 1

    def snapshot(self) -> dict[str, Any]:
        """The state saved in Redis."""
        trader = self._t
        b = trader.brackets
        return {
            "ledger": trader.ledger.snapshot(),
            "seq": trader.seq,
            "halted": trader.halted,
            "strategy_state": trader.strategy.state,
            "brackets": {
                "stop_loss": b.stop_loss, "take_profit": b.take_profit, "tp_order": b.tp_order,
                "closing": b.closing, "entries": {k: list(v) for k, v in b.entries.items()},
            },
        }  # fmt: skip

    def _status_record(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The status record after this event, and the equity sample when a new candle closed
        (both written by :meth:`flush`'s fenced save). Trades and win rate come from the
        ledger's running counters: the closed round trips themselves are in the event stream."""
        trader = self._t
        ledger = trader.ledger
        equity = trader.equity()
        status = {
            "bot_id": self.id,
            "worker": self.leases.worker_id,
            "state": "halted" if trader.halted else "running",
            "halted": trader.halted,
            "symbol": self.spec.symbol,
            "strategy": self.spec.strategy,
            "position": ledger.position,
            "cash": ledger.cash,
            "equity": equity,
            "realized_pnl": ledger.realized_pnl,
            "fees": ledger.fees,
            "trades": ledger.closed_trades,
            "win_rate": ledger.win_rate,
            "return": float(equity / ledger.capital - 1),
            "max_drawdown": self._drawdown(float(equity)),
            "open_orders": len(ledger.open_orders()),
            "updated_ms": int(time.time() * 1000),
        }
        sample: dict[str, Any] | None = None
        if trader.feed.stop and trader.feed.version != self._sampled:  # one sample per candle
            sample = {"ts_ms": int(trader.feed.ts_ms[-1]), "equity": status["equity"],
                      "position": ledger.position, "realized_pnl": ledger.realized_pnl}  # fmt: skip
        return status, sample

    def _feed_messages(self, status: dict[str, Any], sample: dict[str, Any] | None) -> list[bytes]:
        """The live feed's messages of this event (published by the same save script): the
        farm service does not read every bot to find what changed."""
        if self._spec_row is None:
            self._spec_row = self.spec.model_dump(mode="json")
        row = _view.make_row(self.id, self._spec_row, status, "running", status["worker"], None)
        out = [encode({"kind": "status", **row})]
        if sample is not None:
            out.append(encode({"kind": "equity", "id": self.id, **sample}))
        return out

    def _drawdown(self, equity: float) -> float:
        """Largest fall from the running equity peak seen by this bot (a fraction)."""
        self._peak = max(self._peak, equity)
        if self._peak > 0:
            self._max_dd = max(self._max_dd, 1.0 - equity / self._peak)
        return self._max_dd


def _command(cmd: Command) -> dict[str, Any]:
    if isinstance(cmd, CancelOrder):
        return {"kind": "cancel", "cid": cmd.client_order_id, "order_id": cmd.order_id,
                "symbol": cmd.symbol}  # fmt: skip
    body = asdict(cmd)
    return {
        "kind": "place", "cid": body["client_order_id"], "symbol": cmd.symbol, "side": cmd.side,
        "type": cmd.type, "amount": str(cmd.amount),
        "price": None if cmd.price is None else str(cmd.price),
    }  # fmt: skip


def equity_sample(status: dict[str, Any]) -> tuple[int, Decimal]:
    """(ms, equity) of a status record (for the farm's equity time series)."""
    return int(status["updated_ms"]), Decimal(str(status["equity"]))
