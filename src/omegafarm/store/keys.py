"""Every Redis key, channel and stream name the project uses: one module, one scheme.

All names live under ``omega:<farm>:`` so that several farms can share one server::

    omega:<farm>:cache:<name>               cached values (get_or_set), with a TTL
    omega:<farm>:lock:<name>                single-flight and lease locks
    omega:<farm>:state:<name>               durable state (bot ledgers, leases, progress)
    omega:<farm>:chan:<name>                pub/sub channels (live fan-out)
    omega:<farm>:stream:<name>              streams (events that must not be lost)
    omega:<farm>:rl:{<bucket>}              rate-limit buckets (GCRA theoretical arrival time)
    omega:<farm>:rl:{<bucket>}:cooldown     shared cool-down after a 429/418 or Retry-After
    omega:<farm>:health:<service>           heartbeat keys with a TTL
    omega:<farm>:optuna:<study>:journal     an `omega optimize` study's journal (one list)

**Hash tags (Redis Cluster).** A multi-key script may only touch keys of one cluster slot, and
a key's slot is computed from the part between its first ``{`` and the next ``}`` when there
is one. So every key a multi-key script touches carries the same tag:

=====================  ======================  =============================================
tag                    keys                    scripts / commands that need them together
=====================  ======================  =============================================
``{bot:<id>}``         lease, fence, bot       lease acquire (lease + fence), fenced state
                       state, desired, status, write (lease, bot state, events, status,
                       updates, equity, events equity); the others follow, one bot, one node
``{<bucket>}``         bucket, cool-down       GCRA acquire (bucket + cool-down)
``{gateway}``          order records, the      farm-wide gateway state; the primary gateway
                       primary lease + fence,  lease (market data, the paper venue) + fence;
                       the paper exchange,     the paper exchange's write is fenced by it;
                       partition count, the    the pre-partition stream and open orders
                       old single stream       (drained at upgrade)
``{gateway:p<n>}``     one command partition:  partition lease + fence; the partition's open
                       stream, open orders,    orders written fenced by its lease (one slot);
                       lease, fence            partitions spread over the cluster's nodes
``{gateways}``         gateway heartbeats      one node answers "how many gateways are alive"
``{workers}``          worker heartbeats       one slot, so one node answers "who is alive"
=====================  ======================  =============================================

Single-key names (caches, market history) carry no tag so they spread over the cluster.
Channels need none (pub/sub is cluster-wide). :class:`RedisClient` methods take the
*relative* names built by the functions below and prefix them with :class:`Keys`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from omegafarm.core.errors import ValidationError

ROOT = "omega"
FARM_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def tag(*parts: str) -> str:
    """A Redis Cluster hash tag: every name carrying the same tag lands in one slot."""
    inner = ":".join(parts)
    if not inner or "{" in inner or "}" in inner:
        raise ValidationError(f"hash tag parts must be non-empty and brace-free, not {parts!r}")
    return "{" + inner + "}"


@dataclass(frozen=True)
class Keys:
    """Absolute key names for one farm (the relative ones come from this module's functions)."""

    farm: str = "default"

    def __post_init__(self) -> None:
        if not FARM_PATTERN.match(self.farm):
            raise ValidationError(
                f"farm name {self.farm!r} is invalid: use 1-32 of a-z, 0-9, '_' and '-'"
            )

    @property
    def prefix(self) -> str:
        return f"{ROOT}:{self.farm}:"

    def key(self, name: str) -> str:
        """The absolute name of a plain key."""
        return f"{self.prefix}{name}"

    def cache(self, name: str) -> str:
        return self.key(f"cache:{name}")

    def cache_lock(self, name: str) -> str:
        """The single-flight lock of one cache entry (held by the process that loads it)."""
        return self.key(f"lock:cache:{name}")

    def lock(self, name: str) -> str:
        return self.key(f"lock:{name}")

    def state(self, name: str) -> str:
        return self.key(f"state:{name}")

    def channel(self, name: str) -> str:
        return self.key(f"chan:{name}")

    def stream(self, name: str) -> str:
        return self.key(f"stream:{name}")

    def ratelimit(self, bucket: str) -> str:
        """The GCRA bucket; tagged by the bucket so its cool-down shares its slot."""
        return self.key(f"rl:{{{bucket}}}")

    def cooldown(self, bucket: str) -> str:
        return self.key(f"rl:{{{bucket}}}:cooldown")

    def health(self, service: str) -> str:
        return self.key(f"health:{service}")

    def optuna_study(self, study: str) -> str:
        """The prefix of one ``omega optimize`` study's journal keys (``…:log:N``, …)."""
        if not FARM_PATTERN.match(study):
            raise ValidationError(
                f"study name {study!r} is invalid: use 1-32 of a-z, 0-9, '_' and '-'"
            )
        return self.key(f"optuna:{study}")

    def pattern(self, relative_prefix: str) -> str:
        """A SCAN pattern for every key whose relative name starts with ``relative_prefix``."""
        escaped = re.sub(r"([*?\[\]\\])", r"\\\1", self.key(relative_prefix))
        return escaped + "*"

    def relative(self, absolute: str) -> str:
        """Strip the farm prefix from an absolute name."""
        return absolute[len(self.prefix) :] if absolute.startswith(self.prefix) else absolute


# ------------------------------------------------------------------------------ the bot farm
BOTS = "state:farm:bots"  # {bot_id: BotSettings dict}
_GATEWAY = tag("gateway")
COMMANDS = f"gw:{_GATEWAY}:commands"  # before partitions: bots -> gateway (drained at upgrade)
GATEWAY_GROUP = "gateway"  # consumer group of the commands stream
UPDATES_GROUP = "bot"  # consumer group of each bot's updates stream
GATEWAY_OPEN = f"state:gw:{_GATEWAY}:open"  # before partitions: open orders (migrated)
WORKERS_PREFIX = f"health:worker:{tag('workers')}:"  # + worker id: heartbeats with a TTL
# The gateway's own lease and fence (one active gateway, standbys wait): one slot with the rest
# of the gateway's state, so a fenced write of that state is one script.
GATEWAY_LEASE = f"lock:lease:gw:{_GATEWAY}"
GATEWAY_FENCE = f"state:fence:gw:{_GATEWAY}"


# -------------------------------------------------- gateway partitions (gwscale-11, issue 11.3)
# COMMANDS and GATEWAY_OPEN above are the single-gateway names of farms before partitions: the
# primary gateway drains them at its take-over. GATEWAY_LEASE is now the *primary* lease (market
# data, reconciliation, the paper venue); commands go to ``gateway_partitions`` partitions, each
# with its own stream, open orders, lease and fence under the tag ``{gateway:p<n>}``.
GATEWAY_PARTITIONS = f"state:gw:{_GATEWAY}:partitions"  # the farm's partition count (fixed)
GATEWAYS_PREFIX = f"health:gateway:{tag('gateways')}:"  # + gateway id: heartbeats with a TTL
GATEWAYS_LIVE = f"health:gateways:{tag('gateways')}"  # sorted set: gateway id -> beat expiry ms


def _partition(partition: int) -> str:
    return tag("gateway", f"p{partition}")


def partition_commands(partition: int) -> str:
    """Stream of one command partition: bots -> the gateway holding the partition."""
    return f"gw:{_partition(partition)}:commands"


def partition_open(partition: int) -> str:
    """``{client_order_id: {bot, symbol, order_id}}``: the partition's open orders."""
    return f"state:gw:{_partition(partition)}:open"


def partition_lease(partition: int) -> str:
    """``"{gateway}|{token}"`` with a TTL: which gateway executes the partition's commands."""
    return f"lock:lease:gw:{_partition(partition)}"


def partition_fence(partition: int) -> str:
    """The partition's fencing counter: every new holder gets a larger token."""
    return f"state:fence:gw:{_partition(partition)}"


def gateway_heartbeat(gateway_id: str) -> str:
    """Heartbeat of a gateway process (with a TTL): live gateways share the partitions."""
    return f"{GATEWAYS_PREFIX}{gateway_id}"


def _bot(bot_id: str) -> str:
    return tag("bot", bot_id)


def desired(bot_id: str) -> str:
    """'running' or 'stopped', set by ``omega bots start/stop``."""
    return f"state:farm:desired:{_bot(bot_id)}"


def status(bot_id: str) -> str:
    """The bot's last reported status (with a TTL)."""
    return f"state:farm:status:{_bot(bot_id)}"


def bot_state(bot_id: str) -> str:
    """Ledger, order sequence, halt reason and strategy state (written fenced by the lease)."""
    return f"state:bot:{_bot(bot_id)}"


def lease(bot_id: str) -> str:
    """``"{worker}|{token}"`` with a TTL: which worker runs the bot."""
    return f"lock:lease:{_bot(bot_id)}"


def fence(bot_id: str) -> str:
    """The bot's fencing counter: every new lease holder gets a larger token."""
    return f"state:fence:{_bot(bot_id)}"


def updates(bot_id: str) -> str:
    """Stream of order updates for one bot (gateway -> bot)."""
    return f"bot:{_bot(bot_id)}:updates"


def equity(bot_id: str) -> str:
    """Stream of (candle time, equity, position, realized PnL) samples: the equity curve."""
    return f"bot:{_bot(bot_id)}:equity"


# --- constant-size bot state (issue 11, state-11): the bot's history leaves the hot state
def bot_events(bot_id: str) -> str:
    """Stream of the bot's finished orders, fills and finished round trips (append-only,
    written in the same fenced script as the bot's state; trimmed to the newest entries)."""
    return f"bot:{_bot(bot_id)}:events"


def order_record(client_order_id: str) -> str:
    """The gateway's latest snapshot of one order (the exchange's view)."""
    return f"state:gw:{_GATEWAY}:order:{client_order_id}"


def candles(symbol: str, timeframe: str) -> str:
    """Channel of closed candles of one symbol."""
    return f"md:{symbol}:{timeframe}"


def history(symbol: str, timeframe: str) -> str:
    """The last candles of one symbol (so a starting bot has history)."""
    return f"state:md:{symbol}:{timeframe}"


def ticks(symbol: str) -> str:
    """Channel of one symbol's tickers (the gateway's polls)."""
    return f"tick:{symbol}"


def worker(worker_id: str) -> str:
    """Heartbeat of a worker (with a TTL)."""
    return f"{WORKERS_PREFIX}{worker_id}"


# ------------------------------------------------------------------------------ the live feed
FEED_TICKERS = "tickers"  # every ticker the gateway polls (all symbols)
FEED_ORDERS = "orders"  # every change of a bot's order, as the gateway records it
FEED_BOTS = "bots"  # bot status changes and equity samples (BotFarmService)
FEEDS = {"tickers": FEED_TICKERS, "orders": FEED_ORDERS, "bots": FEED_BOTS}  # /ws name -> channel

# ------------------------------------------------------------------------------ security
AUDIT_STREAM = "audit"  # mirror of the hash-chained audit file (security.audit_stream)
CREDENTIALS_INVALIDATED = "security:invalidate"  # channel: revoked credentials, every API drops


def login_bucket(address: str) -> str:
    """Rate-limit bucket of login attempts from one client address."""
    return f"login:{address}"


def api_bucket(credential_id: str) -> str:
    """Rate-limit bucket of one API credential's requests."""
    return f"api:{credential_id}"


def authfail_bucket(address: str) -> str:
    """Rate-limit bucket of failed authentications from one client address."""
    return f"authfail:{address}"


# ------------------------------------------------------------------------------ exchange
def exchange_cache(venue: str, kind: str, *parts: object) -> str:
    """The relative cache name of one piece of shared market data, e.g.
    ``exchange:binance:markets`` or ``exchange:binance:ticker:["BTC/USDT"]``."""
    if not parts:
        return f"exchange:{venue}:{kind}"
    detail = json.dumps(list(parts), sort_keys=True, separators=(",", ":"), default=str)
    return f"exchange:{venue}:{kind}:{detail}"


# ------------------------------------------------------------------------------ durability
PAPER_STATE = f"state:paper:{_GATEWAY}"  # the durable paper exchange (one slot with its lease)


def halt(bot_id: str) -> str:
    """Why reconciliation halted the bot, and the differences it found (absent: not halted)."""
    return f"state:farm:halt:{_bot(bot_id)}"


# ------------------------------------------------------------------------- event-driven workers
# (issue 11, events-11) How workers wake: no per-bot polling, pushes and one version to check.
WORKERS_LIVE = f"health:workers:{tag('workers')}"  # sorted set: worker id -> heartbeat expiry ms
CONTROL_VERSION = f"state:farm:control:{tag('workers')}"  # counter: bots/desired/halts changed
CONTROL_CHANNEL = "farm:control"  # pub/sub: the new control version (workers re-read then)


def bot_wake(bot_id: str) -> str:
    """Channel: the gateway appended to the bot's updates stream (its worker reads it then)."""
    return f"wake:{bot_id}"


# ------------------------------------------------------------------------------ layout
LAYOUT = 2  # the key layout above: 1 had no hash tags (before Redis Cluster support)
LAYOUT_KEY = "state:layout"  # which layout this farm's Redis holds (see store/migrate.py)
