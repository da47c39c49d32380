"""A durable paper exchange: its whole state is saved in the farm's Redis with each order event.

Why Redis (and not SQLite in the data dir): the bots' ledgers, the gateway's records and the
command stream already live there, so one restart of ``omega up`` finds the exchange and the
ledgers at the same point of the same AOF; and a standby gateway on *another machine* can take
over the exchange (``omega gateway``), which a file on the first machine's disk would not allow.

What is saved, in one hash ``keys.PAPER_STATE`` (one key: a write is atomic and touches
one cluster slot): a ``state`` field (clock, wallets, positions, leverage, sequences, per symbol
the bars already opened and closed, the market source's identity and position: its kind, seed,
symbols, timeframe and first bar, from which a synthetic market regenerates the same candles)
and one ``o:{id}`` field per order with its fills. Only what changed is written: new orders,
orders that were open at the last write, and the state; an ended order is never written again.

When it is written: every public method first does its work (the clock may fill orders) and
then, *before it answers*, writes what changed. So nobody (the gateway, hence no bot's ledger)
ever sees an order, a fill or a balance the saved exchange does not have; a crash loses at
most work that was never reported, and the gateway re-sends those commands (same client order
ids: idempotent). The clock alone is written whenever a bar has closed, so a restart resumes
at or after the last bar anyone could have seen.

Who may write: the process whose gateway holds the farm's gateway lease. ``fence(key, value)``
makes every write a compare-and-set on that lease (a gateway that lost its lease can no longer
change the exchange); ``fence(key, None)`` makes a standby's copy read-only (orders refused);
``take_over`` reloads the saved state before the new gateway executes anything. A copy never
fenced (a process without a gateway) writes only while no gateway lease exists at all.

On restart the clock continues where it stopped (a farm never moves back in time): a
wall-clock synthetic market resumes at ``max(now, saved clock)``, anything else at the saved
clock, then follows the wall clock times ``speed`` again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from omegafarm.core.errors import ConfigError, OmegaError
from omegafarm.exchange.paper import _ccxt as ccxt
from omegafarm.exchange.paper._engine import Engine
from omegafarm.exchange.paper._source import MarketSource
from omegafarm.exchange.paper._state import Fill, Order, Position, Wallet
from omegafarm.exchange.paper._synthetic import SyntheticSource
from omegafarm.exchange.paper.config import PaperSettings
from omegafarm.exchange.paper.exchange import PaperExchange, build_source
from omegafarm.exchange.paper.venue import PaperVenue
from omegafarm.store import RedisClient, decode, encode
from omegafarm.store.keys import GATEWAY_LEASE, PAPER_STATE

FORMAT = 1
_WRITE = """
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
elseif redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
_READ = "return redis.call('HGETALL', KEYS[1])"
# the public async methods of the paper exchange: each saves what changed before it answers
_CALLS = (
    "load_markets", "fetch_markets", "fetch_currencies", "fetch_time", "fetch_ticker",
    "fetch_tickers", "fetch_ohlcv", "fetch_trades", "fetch_order_book", "fetch_balance",
    "fetch_positions", "set_leverage", "create_order", "create_market_order",
    "create_limit_order", "cancel_order", "cancel_all_orders", "fetch_order", "fetch_orders",
    "fetch_open_orders", "fetch_closed_orders", "fetch_my_trades",
)  # fmt: skip

_ORDERS = frozenset(
    {"set_leverage", "create_order", "create_market_order", "create_limit_order",
     "cancel_order", "cancel_all_orders"}
)  # fmt: skip


def state_key() -> str:
    """The hash holding the farm's paper exchange (relative to the farm namespace); its hash
    tag is the gateway lease's, so the fenced write touches one cluster slot."""
    return PAPER_STATE


class DurablePaperExchange(PaperExchange):
    """A ``PaperExchange`` that saves every change in Redis before it answers (see module doc)."""

    def __init__(
        self,
        settings: PaperSettings,
        redis: RedisClient,
        *,
        source: MarketSource | None = None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, source=source, clock_s=clock_s)
        self._redis = redis
        self._key = state_key()
        # the gateway lease this copy writes under: "" = only while no gateway is active
        # (a process without a gateway), None = never (a standby), else the lease's value
        self._lease_key = redis.keys.key(GATEWAY_LEASE)
        self._fence: str | None = ""
        self._lock = asyncio.Lock()
        self._saved_seq = 0  # orders up to this id are saved
        self._saved_open: dict[str, tuple[Any, ...]] = {}  # open order id -> saved fingerprint
        self._saved_fill_seq = 0
        self._saved_leverage: dict[str, int] = {}
        self._saved_bar = -1  # the clock is written whenever a new bar has closed
        self.writes = 0

    # ----------------------------------------------------------------- opening
    @classmethod
    async def open(
        cls,
        settings: PaperSettings,
        redis: RedisClient,
        *,
        clock_s: Callable[[], float] = time.time,
    ) -> DurablePaperExchange:
        """The saved paper exchange of this farm, or a new one (saved at once)."""
        doc = await _read(redis, state_key())
        if doc is None:
            exchange = cls(settings, redis, clock_s=clock_s)
            await exchange.save(force=True)
            return exchange
        state = doc["state"]
        source = _source_of(settings, state["source"])
        manual = settings.model_copy(update={"clock": "manual"})  # no catch-up before restore
        exchange = cls(manual, redis, source=source, clock_s=clock_s)
        exchange.settings = settings
        exchange._restore(doc)
        return exchange

    async def take_over(self) -> None:
        """Reload the saved state (another process may have changed it since we loaded)."""
        doc = await _read(self._redis, self._key)
        if doc is not None:
            _check_source(self.settings, doc["state"]["source"])
            self._restore(doc)

    def fence(self, lease_key: str, value: str | None) -> None:
        """Write only while ``lease_key`` (absolute) holds ``value``; None: never write (reads
        still answer from this copy; orders are refused)."""
        self._lease_key, self._fence = lease_key, value

    def _restore(self, doc: dict[str, Any]) -> None:
        state = doc["state"]
        engine = Engine(self.settings, self._engine.source)
        restore_engine(engine, state, doc["orders"])
        engine.listener = self._engine.listener  # the paper push follows the reloaded engine
        self._engine = engine
        self._anchor = None
        if self.settings.clock == "wall":
            wall_s = self._clock_s()
            live = self.settings.source == "synthetic" and self.settings.start_ts_ms is None
            sim0 = max(int(wall_s * 1000), engine.now_ms) if live else engine.now_ms
            self._anchor = (wall_s, sim0, self.settings.speed)
        self._mark_saved()

    # ----------------------------------------------------------------- saving
    async def save(self, *, force: bool = False, ordered: bool = False) -> None:
        """Write what changed since the last write (the clock alone once a bar has closed).

        A copy that may not write (a standby, or a process without a gateway while another
        process's gateway is active) skips the write after a read, and raises
        ``ccxt.ExchangeNotAvailable`` after an order change (``ordered``): it was not saved."""
        async with self._lock:
            fields, marks = self._changes()
            bar = self._engine.now_ms // self._engine.tf_ms
            if not fields and not force and bar == self._saved_bar:
                return
            fields["state"] = encode(self._state())
            if not await self._write(fields):
                if ordered or self._fence:  # a fenced writer that lost its lease must stop
                    raise ccxt.ExchangeNotAvailable(
                        "paper: another process's gateway owns the farm's paper exchange "
                        "(or this one lost its lease); nothing was saved"
                    )
                return
            self._saved_seq, self._saved_open, self._saved_fill_seq = marks
            self._saved_leverage = dict(self._engine.leverage)
            self._saved_bar = bar
            self.writes += 1

    def _changes(self) -> tuple[dict[str, bytes], tuple[int, dict[str, tuple[Any, ...]], int]]:
        engine = self._engine
        changed: dict[str, Order] = {}
        for seq in range(self._saved_seq + 1, engine._order_seq + 1):
            new = engine.orders.get(str(seq))
            if new is not None:
                changed[new.id] = new
        for oid, mark in self._saved_open.items():
            order = engine.orders[oid]
            if _fingerprint(order) != mark:
                changed[oid] = order
        open_now = {o.id: _fingerprint(o) for q in engine._open.values() for o in q}
        fields = {f"o:{oid}": encode(order_doc(o)) for oid, o in changed.items()}
        if engine._fill_seq != self._saved_fill_seq or engine.leverage != self._saved_leverage:
            fields.setdefault("state", b"")
        if not fields and set(open_now) != set(self._saved_open):
            fields.setdefault("state", b"")
        return fields, (engine._order_seq, open_now, engine._fill_seq)

    def _mark_saved(self) -> None:
        engine = self._engine
        self._saved_seq = engine._order_seq
        self._saved_open = {o.id: _fingerprint(o) for q in engine._open.values() for o in q}
        self._saved_fill_seq = engine._fill_seq
        self._saved_leverage = dict(engine.leverage)
        self._saved_bar = engine.now_ms // engine.tf_ms

    async def _write(self, fields: dict[str, bytes]) -> bool:
        """Write under the fence; False when this copy may not write."""
        if self._fence is None:
            return False
        keys = [self._redis.keys.key(self._key), self._lease_key]
        args: list[str | bytes] = [self._fence]
        for name, encoded in fields.items():
            args += [name, encoded]
        try:
            done = await self._redis.script(_WRITE, name="paper_journal").run_absolute(keys, args)
        except OmegaError as exc:  # Redis down (or a script bug): not saved, not answered
            raise ccxt.ExchangeNotAvailable(f"paper: cannot save the exchange: {exc}") from None
        return bool(done)

    def _state(self) -> dict[str, Any]:
        engine = self._engine
        return {
            "format": FORMAT,
            "source": source_identity(engine.source, self.settings),
            "now_ms": engine.now_ms,
            "saved_wall_ms": int(self._clock_s() * 1000),
            "wallets": {c: [w.free, w.used] for c, w in engine.account.wallets.items()},
            "positions": {s: _position_doc(p) for s, p in engine.account.positions.items()},
            "leverage": dict(engine.leverage),
            "order_seq": engine._order_seq,
            "fill_seq": engine._fill_seq,
            "next": dict(engine.schedule._next),
            "opened": dict(engine.schedule._opened),
            "open": {s: [o.id for o in q] for s, q in engine._open.items()},
        }


def _durable(name: str) -> Callable[..., Any]:
    ordered = name in _ORDERS

    async def method(self: DurablePaperExchange, *args: Any, **kwargs: Any) -> Any:
        if ordered and self._fence is None:
            raise ccxt.ExchangeNotAvailable(
                f"paper: {name} refused: this process's gateway is a standby (the active "
                "gateway's process owns the farm's paper exchange)"
            )
        result = await getattr(PaperExchange, name)(self, *args, **kwargs)
        await self.save(ordered=ordered)
        return result

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``PaperExchange.{name}``, then save what changed before answering."
    return method


for _name in _CALLS:
    setattr(DurablePaperExchange, _name, _durable(_name))


# --------------------------------------------------------------------- documents
def _fingerprint(order: Order) -> tuple[Any, ...]:
    return (order.status, order.filled, order.arrived, order.reserved, len(order.fills))


def order_doc(order: Order) -> dict[str, Any]:
    """An order and its fills as a plain document (Decimals kept exact by the codec)."""
    return {
        "id": order.id, "client_id": order.client_id, "symbol": order.market.symbol,
        "type": order.type, "side": order.side, "amount": order.amount, "price": order.price,
        "tif": order.tif, "reduce_only": order.reduce_only, "ts_ms": order.ts_ms,
        "arrival_ts_ms": order.arrival_ts_ms, "reserve_currency": order.reserve_currency,
        "reserved": order.reserved, "status": order.status, "arrived": order.arrived,
        "filled": order.filled, "cost": order.cost, "fee": order.fee,
        "last_trade_ts_ms": order.last_trade_ts_ms, "last_update_ts_ms": order.last_update_ts_ms,
        "reason": order.reason,
        "fills": [
            [f.id, f.taker_or_maker, f.price, f.amount, f.cost, f.fee, f.fee_currency, f.ts_ms]
            for f in order.fills
        ],
    }  # fmt: skip


def _position_doc(pos: Position) -> dict[str, Any]:
    return {
        "leverage": pos.leverage, "contracts": pos.contracts, "entry_price": pos.entry_price,
        "collateral": pos.collateral, "realized_pnl": pos.realized_pnl, "ts_ms": pos.ts_ms,
    }  # fmt: skip


def source_identity(source: MarketSource, settings: PaperSettings) -> dict[str, Any]:
    """What rebuilds the same candles: kind, seed, symbols, timeframe and first bar."""
    synthetic = isinstance(source, SyntheticSource)
    return {
        "kind": "synthetic" if synthetic else "replay",
        "seed": settings.seed if synthetic else None,
        "symbols": sorted(source.specs),
        "timeframe": source.timeframe,
        "start_ts_ms": source.start_ts_ms,
    }


def _check_source(settings: PaperSettings, saved: dict[str, Any]) -> None:
    """A ConfigError when the settings describe another market than the saved exchange's."""
    fresh = build_source(settings.model_copy(update={"clock": "manual"}))
    now = source_identity(fresh, settings)
    for field in ("kind", "seed", "symbols", "timeframe"):
        if now[field] != saved[field]:
            raise ConfigError(
                f"the saved paper exchange has {field} {saved[field]!r} but [exchange.paper] "
                f"says {now[field]!r}; restore the setting, or start afresh with "
                "`omega exchange reset-paper` (deletes its orders and balances)"
            )


def _source_of(settings: PaperSettings, saved: dict[str, Any]) -> MarketSource:
    """The saved exchange's market source (a synthetic one at its saved first bar)."""
    _check_source(settings, saved)
    if saved["kind"] == "synthetic":
        return SyntheticSource(
            list(saved["symbols"]), int(saved["seed"]), str(saved["timeframe"]),
            int(saved["start_ts_ms"]),
        )  # fmt: skip
    return build_source(settings)


def restore_engine(engine: Engine, state: dict[str, Any], orders: list[dict[str, Any]]) -> None:
    """Put a saved state into a freshly built engine of the same settings and source."""
    engine.schedule.now_ms = int(state["now_ms"])
    engine.account.wallets = {
        c: Wallet(free=Decimal(f), used=Decimal(u)) for c, (f, u) in state["wallets"].items()
    }
    engine.account.positions = {
        s: Position(symbol=s, **p) for s, p in dict(state["positions"]).items()
    }
    engine.leverage = {s: int(v) for s, v in state["leverage"].items()}
    engine._order_seq, engine._fill_seq = int(state["order_seq"]), int(state["fill_seq"])
    engine.schedule._next = {s: int(v) for s, v in state["next"].items()}
    engine.schedule._opened = {s: int(v) for s, v in state["opened"].items()}
    engine.orders, engine.by_client_id, engine.fills = {}, {}, []
    for doc in sorted(orders, key=lambda d: int(d["id"])):
        order = _order_of(engine, doc)
        engine.orders[order.id] = order
        if order.client_id is not None:
            engine.by_client_id[order.client_id] = order
        engine.fills.extend(order.fills)
    engine.fills.sort(key=lambda f: int(f.id))
    engine._open = {s: [engine.orders[i] for i in ids] for s, ids in state["open"].items()}
    engine._books.clear()


def _order_of(engine: Engine, d: dict[str, Any]) -> Order:
    market = engine.markets.get(d["symbol"])
    if market is None:
        raise ConfigError(f"the saved paper exchange has an order on {d['symbol']}, now unknown")
    order = Order(
        id=d["id"], client_id=d["client_id"], market=market, type=d["type"], side=d["side"],
        amount=d["amount"], price=d["price"], tif=d["tif"], reduce_only=d["reduce_only"],
        ts_ms=d["ts_ms"], arrival_ts_ms=d["arrival_ts_ms"],
        reserve_currency=d["reserve_currency"], reserved=d["reserved"], status=d["status"],
        arrived=d["arrived"], filled=d["filled"], cost=d["cost"], fee=d["fee"],
        last_trade_ts_ms=d["last_trade_ts_ms"], last_update_ts_ms=d["last_update_ts_ms"],
        reason=d["reason"],
    )  # fmt: skip
    order.fills = [
        Fill(fid, order.id, market.symbol, order.side, liq, price, amount, cost, fee, cur, ts)
        for fid, liq, price, amount, cost, fee, cur, ts in d["fills"]
    ]
    return order


async def _read(redis: RedisClient, key: str) -> dict[str, Any] | None:
    """The saved exchange as ``{"state": ..., "orders": [...]}`` (None when none is saved)."""
    flat = await redis.script(_READ, name="paper_journal_read")([key], [])
    if not flat:
        return None
    fields = {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
    if "state" not in fields:
        raise ConfigError("the saved paper exchange has orders but no state; reset it")
    state = decode(fields.pop("state"))
    if state.get("format") != FORMAT:
        raise ConfigError(f"the saved paper exchange has format {state.get('format')}")
    return {"state": state, "orders": [decode(v) for v in fields.values()]}


async def reset(redis: RedisClient) -> bool:
    """Forget the saved paper exchange (the next start opens a new one); True if one existed."""
    return bool(await redis.delete(state_key()))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def saved_state(redis: RedisClient) -> dict[str, Any] | None:
    """The saved exchange's ``state`` document (clock, wallets, sequences), or None."""
    doc = await _read(redis, state_key())
    return None if doc is None else dict(doc["state"])


# --------------------------------------------------------------------- the venue seam
_VENUE_CALLS = (
    "load_markets", "fetch_ticker", "fetch_tickers", "fetch_order_book", "fetch_trades",
    "fetch_ohlcv", "fetch_balance", "fetch_positions", "fetch_orders", "fetch_order",
    "fetch_my_trades", "create_order", "find_by_client_id", "cancel_order", "settle",
)  # fmt: skip
_VENUE_ORDERS = frozenset({"create_order", "cancel_order"})


class DurablePaperVenue(PaperVenue):
    """The paper venue over a ``DurablePaperExchange``: every call the Exchange Service makes
    saves what changed before it answers (the venue reads the engine directly)."""

    exchange: DurablePaperExchange


def _durable_venue(name: str) -> Callable[..., Any]:
    ordered = name in _VENUE_ORDERS

    async def method(self: DurablePaperVenue, *args: Any, **kwargs: Any) -> Any:
        if ordered and self.exchange._fence is None:
            raise ccxt.ExchangeNotAvailable(
                f"paper: {name} refused: this process's gateway is a standby (the active "
                "gateway's process owns the farm's paper exchange)"
            )
        result = await getattr(PaperVenue, name)(self, *args, **kwargs)
        await self.exchange.save(ordered=ordered)
        return result

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``PaperVenue.{name}``, then save what changed before answering."
    return method


for _name in _VENUE_CALLS:
    setattr(DurablePaperVenue, _name, _durable_venue(_name))
