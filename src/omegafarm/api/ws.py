"""The live WebSocket feed ``/ws``: tickers, order events and bot events from Redis pub/sub.

One shared Redis subscription per API process (the hub) fans messages out to every client
through a bounded per-client queue. The hub never waits for a client: when a client's queue
is full (it reads slower than the farm publishes) the client is dropped with close code 1013
("try again later"), so a slow browser can never slow the farm or the other clients. Each
message is encoded to JSON once, whatever the number of clients.

The relay runs under a :class:`~omegafarm.core.supervisor.Supervisor`: if reading Redis fails
in a way the subscription cannot absorb, the failure is logged with its traceback, counted on
``/metrics`` (``omega_task_failures_total{owner="feed"}``) and the relay restarts.

Clients choose channels with ``/ws?channels=tickers,orders``; they authenticate like any
viewer route (Bearer header, or the session cookie plus a same-origin ``Origin`` header).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketDisconnect

from omegafarm.api._render import jsonable
from omegafarm.api.auth import VIEWER
from omegafarm.core.errors import OmegaError
from omegafarm.core.registry import ServiceRegistry
from omegafarm.core.supervisor import Supervisor
from omegafarm.security import Principal
from omegafarm.store import RedisClient, Subscription, keys

router = APIRouter(tags=["feed"])
_log = structlog.get_logger("omegafarm", service="api")

# Feed name -> relative Redis pub/sub channel (built in store/keys.py). Publishers: the bot
# farm's gateway (tickers: every polled ticker; orders: every order change it records) and
# BotFarmService (bots: status changes and equity samples). See docs/api.md, "The live feed".
FEED_CHANNELS = keys.FEEDS
QUEUE_SIZE = 256
SLOW_CLIENT_CLOSE = 1013


@dataclass(eq=False)
class _Client:
    channels: frozenset[str]
    queue: asyncio.Queue[str]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


class FeedHub:
    """Reads the Redis channels once and fans out to bounded client queues."""

    def __init__(self, registry: ServiceRegistry, *, queue_size: int = QUEUE_SIZE) -> None:
        self._registry = registry
        self.queue_size = queue_size
        self._clients: set[_Client] = set()
        self.supervisor = Supervisor("feed")
        self._sub: Subscription | None = None
        self.delivered = 0
        self.dropped_clients = 0

    @property
    def clients(self) -> int:
        """How many clients are connected now."""
        return len(self._clients)

    async def join(self, channels: frozenset[str]) -> _Client:
        """Register a client (starting the shared subscription with the first one)."""
        client = _Client(channels, asyncio.Queue(self.queue_size))
        self._clients.add(client)
        if self._sub is None:
            redis = self._registry.get("redis")
            if not isinstance(redis, RedisClient):
                raise OmegaError("the feed needs the redis service")
            sub = redis.subscription()
            self._sub = sub
            await sub.subscribe(*FEED_CHANNELS.values())
            self.supervisor.start("relay", lambda: self._pump(sub))
        return client

    async def leave(self, client: _Client) -> None:
        """Forget a client; the last one out stops the shared subscription."""
        self._clients.discard(client)
        if not self._clients and self._sub is not None:
            sub, self._sub = self._sub, None
            await self.supervisor.close()
            await sub.close()

    async def _pump(self, sub: Subscription) -> None:
        async for message in sub:
            data = message.data
            # a worker publishes its bots' events of one round as one batch message: clients
            # get them one by one, as if published alone
            is_batch = isinstance(data, dict) and data.get("kind") == "batch"
            batch = data.get("events") if is_batch else None
            for event in batch if isinstance(batch, list) else [data]:
                text = json.dumps({"channel": message.channel, "data": jsonable(event)})
                self._relay(message.channel, text)

    def _relay(self, channel: str, text: str) -> None:
        for client in list(self._clients):
            if channel not in client.channels or client.dropped.is_set():
                continue
            try:
                client.queue.put_nowait(text)
                self.delivered += 1
            except asyncio.QueueFull:  # too slow: drop it, never wait for it
                client.dropped.set()
                self.dropped_clients += 1


def hub_of(websocket: WebSocket) -> FeedHub:
    """The app's hub (created on first use)."""
    state = websocket.app.state
    hub = getattr(state, "feed_hub", None)
    if hub is None:
        hub = FeedHub(state.registry)
        state.feed_hub = hub
    return hub


@router.websocket("/ws")
async def feed(
    websocket: WebSocket,
    who: Annotated[Principal | None, Depends(VIEWER)],
    channels: Annotated[str, Query(pattern=r"^[a-z]+(,[a-z]+){0,9}$")] = "tickers,orders,bots",
) -> None:
    """Live events; a client that falls ``QUEUE_SIZE`` messages behind is disconnected."""
    wanted = frozenset(c for c in channels.split(",") if c in FEED_CHANNELS)
    await websocket.accept()
    hub = hub_of(websocket)
    client = await hub.join(frozenset(FEED_CHANNELS[c] for c in wanted))
    sender = asyncio.create_task(_send(websocket, client))
    receiver = asyncio.create_task(_drain_incoming(websocket))
    dropped = asyncio.create_task(client.dropped.wait())
    try:
        await asyncio.wait({sender, receiver, dropped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver, dropped):
            task.cancel()
        await hub.leave(client)
    if client.dropped.is_set():
        _log.info("ws_client_dropped", user=who.user if who else None, reason="slow")
        with contextlib.suppress(Exception):  # the peer may be gone already
            await asyncio.wait_for(
                websocket.close(SLOW_CLIENT_CLOSE, "too slow: reconnect"), timeout=1.0
            )


async def _send(websocket: WebSocket, client: _Client) -> None:
    while True:
        text = await client.queue.get()
        await websocket.send_text(text)


async def _drain_incoming(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()  # the feed is one-way; ignore what clients say
