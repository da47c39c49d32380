"""Every Redis name the farm uses (relative to the farm namespace), in one place."""

from __future__ import annotations

from omegafarm.store.keys import gateway_lease

BOTS = "state:farm:bots"  # {bot_id: BotSettings dict}
COMMANDS = "gw:commands"  # stream: bots → gateway (place, cancel, sync)
GATEWAY_GROUP = "gateway"
UPDATES_GROUP = "bot"
GATEWAY_OPEN = "state:gw:open"  # {client_order_id: {bot, symbol, order_id}}
# The farm's one active gateway: a lease with a fencing token, like a bot's. ``{gateway}`` is a
# hash tag: the lease script (lease + fence) and the durable paper exchange's fenced write
# (lease + state:paper:{gateway}) each touch one cluster slot.
GATEWAY_LEASE = gateway_lease()
GATEWAY_FENCE = "state:fence:{gateway}"

# The live feed (relayed by the API's /ws): one channel per kind of event, for people.
FEED_TICKERS = "tickers"  # every ticker the gateway polls (all symbols)
FEED_ORDERS = "orders"  # every change of a bot's order, as the gateway records it
FEED_BOTS = "bots"  # bot status changes and equity samples (BotFarmService)


def desired(bot_id: str) -> str:
    """'running' or 'stopped', set by ``omega bots start/stop``."""
    return f"state:farm:desired:{bot_id}"


def status(bot_id: str) -> str:
    """The bot's last reported status (with a TTL)."""
    return f"state:farm:status:{bot_id}"


def bot_state(bot_id: str) -> str:
    """Ledger, order sequence, halt reason and strategy state."""
    return f"state:bot:{bot_id}"


def lease(bot_id: str) -> str:
    return f"lock:lease:bot:{bot_id}"


def fence(bot_id: str) -> str:
    return f"state:fence:bot:{bot_id}"


def updates(bot_id: str) -> str:
    """Stream of order updates for one bot (gateway → bot)."""
    return f"bot:{bot_id}:updates"


def equity(bot_id: str) -> str:
    """Stream of (candle time, equity, position, realized PnL) samples: the equity curve."""
    return f"bot:{bot_id}:equity"


def halt(bot_id: str) -> str:
    """Why reconciliation halted the bot, and the differences it found (absent: not halted)."""
    return f"state:farm:halt:{bot_id}"


def order_record(client_order_id: str) -> str:
    """The gateway's latest snapshot of one order (the exchange's view)."""
    return f"state:gw:order:{client_order_id}"


def candles(symbol: str, timeframe: str) -> str:
    """Channel of closed candles of one symbol."""
    return f"md:{symbol}:{timeframe}"


def history(symbol: str, timeframe: str) -> str:
    """The last candles of one symbol (so a starting bot has history)."""
    return f"state:md:{symbol}:{timeframe}"


def ticks(symbol: str) -> str:
    return f"tick:{symbol}"


def worker(worker_id: str) -> str:
    """Heartbeat of a worker (with a TTL)."""
    return f"health:worker:{worker_id}"


WORKERS_PREFIX = "health:worker:"
