"""Read models of the farm for the API and the dashboard, built from what the bots keep in Redis.

The same records ``omega bots list/status`` and ``/metrics`` read (the bot list, each bot's
desired state, status record, saved ledger and equity stream), so every worker's bots are seen
whichever process asks. A bot's *state* is derived here, in one place::

    disabled   enabled = false in the farm file
    stopped    ``omega bots stop`` (or the API) asked it to stop and no worker holds it
    stopping   asked to stop, a worker still holds its lease
    starting   should run, no worker has picked it up (or reported) yet
    running    a worker runs it (its status record says so)
    halted     it broke a risk limit and stopped trading, or reconciliation found its ledger
               differs from the exchange (``halted`` says why; see ``omega bots reconcile``)
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import numpy as np

from omegafarm.bots import _history
from omegafarm.bots import lease as _lease
from omegafarm.bots.backtest import _tf_ms
from omegafarm.bots.ledger import Ledger, Trade
from omegafarm.bots.performance import bars_per_year, measure
from omegafarm.core.errors import NotFoundError
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

ROW_FIELDS = (
    *("worker", "position", "equity", "realized_pnl", "fees", "trades", "open_orders"),
    *("return", "max_drawdown", "win_rate", "halted", "updated_ms"),
)


async def specs(redis: RedisClient) -> dict[str, dict[str, Any]]:
    """Every registered bot's settings, by id."""
    return dict(await redis.get(_names.BOTS) or {})


async def spec_of(redis: RedisClient, bot_id: str) -> dict[str, Any]:
    """One bot's settings; ``NotFoundError`` (404) for an id the farm does not know."""
    found = (await specs(redis)).get(bot_id)
    if found is None:
        raise NotFoundError(f"no bot {bot_id!r} is registered")
    return dict(found)


async def holder(redis: RedisClient, bot_id: str) -> str | None:
    """The worker holding the bot's lease right now (None: no worker runs it)."""
    return await _lease.holder(redis, bot_id)


async def live_worker_ids(redis: RedisClient) -> list[str]:
    """Workers with a fresh heartbeat: each beat scores the worker in ``WORKERS_LIVE`` with
    the time its heartbeat expires (a lease TTL later), so no SCAN is needed."""
    return await redis.members_by_score(_names.WORKERS_LIVE, time.time() * 1000)


async def live_workers(redis: RedisClient) -> int:
    """How many workers have a fresh heartbeat."""
    return len(await live_worker_ids(redis))


_CONTROL_CHANGED = """
local version = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], version)
return version
"""


async def control_changed(redis: RedisClient) -> int:
    """Tell the workers the bot list, a desired state or a halt changed: bump the farm's
    control version (workers compare it at every balance round) and publish it (they re-read
    at once). Returns the new version."""
    channel = redis.keys.channel(_names.CONTROL_CHANNEL)
    script = redis.script(_CONTROL_CHANGED, name="control")
    return int(await script([_names.CONTROL_VERSION], [channel]))


def derive_state(
    spec: dict[str, Any], desired: str, held_by: str | None, status: dict[str, Any]
) -> str:
    """The bot's state for people (see the module docstring)."""
    if not spec.get("enabled", True):
        return "disabled"
    if desired == "stopped":
        return "stopping" if held_by else "stopped"
    if held_by is None or not status:
        return "starting"
    return "halted" if status.get("halted") else "running"


def make_row(
    bot_id: str,
    spec: dict[str, Any],
    status: dict[str, Any] | None,
    desired: str | None,
    held_by: str | None,
    halt: dict[str, Any] | None,
) -> dict[str, Any]:
    """The row of one bot from its records (see :func:`row`)."""
    status = status or {}
    desired = str(desired or "running")
    out: dict[str, Any] = {
        "id": bot_id,
        "strategy": spec.get("strategy"),
        "symbol": spec.get("symbol"),
        "timeframe": spec.get("timeframe"),
        "capital": spec.get("capital"),
        "desired": desired,
        "state": derive_state(spec, desired, held_by, status),
    }
    out.update({k: status.get(k) for k in ROW_FIELDS})
    out["worker"] = held_by
    if halt is not None and out["state"] not in ("disabled", "stopped"):
        out["state"] = "halted"  # reconciliation found a divergence (`omega bots reconcile`)
        out["halted"] = halt["reason"]
    return out


async def row(redis: RedisClient, bot_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One bot as a flat row: id, strategy, symbol, desired, state and its latest numbers."""
    return (await _rows(redis, {bot_id: spec}))[0]


async def rows(redis: RedisClient) -> list[dict[str, Any]]:
    """Every registered bot as a row (sorted by id): four reads whatever the bot count (the
    bot list, one MGET of statuses, desired states and halts, one of leases, one of their
    workers' sessions; per slot on a cluster)."""
    return await _rows(redis, await specs(redis))


async def _rows(redis: RedisClient, by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    ids = sorted(by_id)
    names = [f(b) for b in ids for f in (_names.status, _names.desired, _names.halt)]
    records = await redis.get_many(names)
    leases = await redis.get_many([_names.lease(b) for b in ids], text=True)
    held = await _lease.holders(redis, [None if x is None else str(x) for x in leases])
    out = []
    for k, bot_id in enumerate(ids):
        status, desired, halt = records[3 * k : 3 * k + 3]
        held_by = held[k]
        out.append(make_row(bot_id, by_id[bot_id], status, desired, held_by, halt))
    return out


async def equity_samples(
    redis: RedisClient, bot_id: str, *, after: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The bot's equity curve (entries after the stream id ``after``): one sample per candle
    with ``ts_ms``, ``equity``, ``position`` and ``realized_pnl``, each with its stream id."""
    start = "-" if after is None else f"({after}"
    entries = await redis.stream_range(_names.equity(bot_id), start=start)
    return [(m.id, dict(m.data)) for m in entries]


async def ledger_of(redis: RedisClient, bot_id: str) -> Ledger | None:
    """The bot's saved ledger: its hot state (None before its first start)."""
    state: dict[str, Any] | None = await redis.get(_names.bot_state(bot_id))
    return Ledger.restore(state["ledger"]) if state else None


async def metrics(redis: RedisClient, bot_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Performance of one live bot: the backtest report's numbers over its equity curve."""
    samples = [s for _, s in await equity_samples(redis, bot_id)]
    ledger = await ledger_of(redis, bot_id)
    closed = await closed_trades(redis, bot_id)
    status: dict[str, Any] = await redis.get(_names.status(bot_id)) or {}
    capital = Decimal(str(spec.get("capital", 0)))
    equity = np.array([float(s["equity"]) for s in samples], dtype=np.float64)
    position = np.array([float(s["position"]) for s in samples], dtype=np.float64)
    now = Decimal(str(status["equity"])) if status else capital
    unrealized = Decimal(0)
    if ledger is not None and ledger.position:  # equity = cash + position * price
        unrealized = now - ledger.cash - ledger.position * ledger.avg_price
    perf = measure(
        equity, position, closed,
        bars_per_year=bars_per_year(_tf_ms(str(spec.get("timeframe", "1m")))),
        fees=ledger.fees if ledger else Decimal(0),
        realized_pnl=ledger.realized_pnl if ledger else Decimal(0),
        unrealized_pnl=unrealized, start_equity=float(capital),
    )  # fmt: skip
    counted: dict[
        str, Any
    ] = {}  # every closed round trip counts, also those older than the event window
    if ledger is not None:
        counted = {"trades": ledger.closed_trades, "win_rate": ledger.win_rate}
    return {
        "id": bot_id,
        "capital": capital,
        "equity": now,
        "position": ledger.position if ledger else Decimal(0),
        **perf.as_dict(),
        **counted,
        "equity_curve": {
            "columns": ["ts_ms", "equity", "position", "realized_pnl"],
            "rows": [  # floats: a series to plot (the money above stays exact)
                [
                    int(s["ts_ms"]),
                    float(s["equity"]),
                    float(s["position"]),
                    float(s["realized_pnl"]),
                ]
                for s in samples
            ],
        },
    }


async def closed_trades(redis: RedisClient, bot_id: str) -> list[Trade]:
    """The bot's finished round trips in its event stream's window, oldest first."""
    return _history.trades_in(await _history.events(redis, bot_id))


async def trades(redis: RedisClient, bot_id: str) -> list[dict[str, Any]]:
    """The bot's round trips: the finished ones of its event stream (the newest
    ``EVENTS_MAXLEN`` events) and the one in progress (no exit), oldest first."""
    ledger = await ledger_of(redis, bot_id)
    if ledger is None:
        return []
    closed = await closed_trades(redis, bot_id)  # read after the ledger: a trade that closed
    closed += _history.trades_in(ledger.events)  # a ledger of the first format, not yet saved
    ended = {(t.side, t.entry_ts_ms) for t in closed}  # in between is listed once, as closed
    current = [t for t in ledger.trades if (t.side, t.entry_ts_ms) not in ended]
    return [t.as_dict() for t in (*closed, *current)]
