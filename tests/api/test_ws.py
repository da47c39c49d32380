"""The /ws feed: authenticated, delivers Redis pub/sub events, and drops a slow client
(close code 1013) while a fast client on the same feed still gets every message."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from omegafarm.api import ApiService
from omegafarm.api.ws import FeedHub
from tests.api.conftest import Farm, start_farm

QUEUE_SIZE = 4


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def feed_farm(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[tuple[Farm, ApiService]]:
    running, api = await start_farm(tmp_path_factory.mktemp("ws"), redis_url, full=False)
    assert api.app is not None
    api.app.state.feed_hub = FeedHub(running.registry, queue_size=QUEUE_SIZE)
    yield running, api
    await running.registry.stop_all()


def _ws_url(farm: Farm, channels: str = "tickers") -> str:
    return farm.url.replace("http://", "ws://") + f"/ws?channels={channels}"


def _connect(farm: Farm, role: str, **kwargs: object) -> connect:
    headers = {"Authorization": f"Bearer {farm.tokens[role]}"}
    return connect(_ws_url(farm), additional_headers=headers, **kwargs)  # type: ignore[arg-type]


def _tiny_buffer_socket(farm: Farm) -> socket.socket:
    """A connected socket whose kernel receive buffer is a few KiB: a reader that stalls
    stalls the server's writes quickly, instead of after the 32 MiB Linux allows."""
    host, port = farm.url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: fixes the window
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def _wait_for_subscriber(farm: Farm, channel: str) -> None:
    """Publish a marker until the hub's subscription is live (the event, not a guess)."""
    async with asyncio.timeout(10):
        while await farm.redis.publish(channel, {"marker": True}) == 0:  # noqa: ASYNC110  # the subscriber count is the event; Redis offers no notification
            await asyncio.sleep(0.01)  # wait-ok: polling the subscriber count


async def _next_data(ws: ClientConnection) -> dict:
    while True:
        message = json.loads(await ws.recv())
        if not message["data"].get("marker"):
            return message


async def test_anonymous_clients_are_refused(feed_farm: tuple[Farm, ApiService]) -> None:
    farm, _ = feed_farm
    with pytest.raises(InvalidStatus) as refused:
        async with connect(_ws_url(farm)):
            pass
    assert refused.value.response.status_code in (401, 403)


async def test_cross_origin_cookie_sessions_are_refused(feed_farm: tuple[Farm, ApiService]) -> None:
    farm, _ = feed_farm
    session = await farm.security.login("viewer", "correct horse battery staple", source="t")
    headers = {"Cookie": f"omega_session={session.cookie.value}", "Origin": "http://evil.example"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(_ws_url(farm), additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403


async def test_a_viewer_receives_published_tickers(feed_farm: tuple[Farm, ApiService]) -> None:
    farm, _ = feed_farm
    async with _connect(farm, "viewer") as ws:
        await _wait_for_subscriber(farm, "tickers")
        await farm.redis.publish("tickers", {"symbol": "BTC/USDT", "last": "42000.5"})
        async with asyncio.timeout(10):
            message = await _next_data(ws)
    assert message == {"channel": "tickers", "data": {"symbol": "BTC/USDT", "last": "42000.5"}}


async def test_a_batch_message_reaches_clients_as_its_events_one_by_one(
    feed_farm: tuple[Farm, ApiService],
) -> None:
    """A worker publishes its bots' events of one round as one batch (bots/lease.py)."""
    farm, _ = feed_farm
    async with _connect(farm, "viewer") as ws:
        await _wait_for_subscriber(farm, "tickers")
        events = [{"kind": "status", "id": "b1"}, {"kind": "equity", "id": "b2"}]
        await farm.redis.publish("tickers", {"kind": "batch", "events": events})
        async with asyncio.timeout(10):
            got = [await _next_data(ws), await _next_data(ws)]
    assert got == [{"channel": "tickers", "data": e} for e in events]


async def _stalled_client(
    farm: Farm, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that completes the handshake and then never reads again."""
    reader, writer = await asyncio.open_connection(sock=_tiny_buffer_socket(farm), limit=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    host = farm.url.removeprefix("http://")
    writer.write(
        (
            f"GET /ws?channels=tickers HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101")
    return reader, writer


async def test_a_slow_client_is_dropped_and_a_fast_one_gets_everything(
    feed_farm: tuple[Farm, ApiService],
) -> None:
    farm, api = feed_farm
    assert api.app is not None
    hub: FeedHub = api.app.state.feed_hub
    payload = "x" * 64_000
    count = 200  # ~13 MB: far more than the stalled reader's socket buffers hold
    received: list[int] = []
    _, stalled = await _stalled_client(farm, farm.tokens["viewer"])
    try:
        async with _connect(farm, "trader") as fast:
            await _wait_for_subscriber(farm, "tickers")
            while hub.clients < 2:  # both joined: the hub counts them
                await _wait_for_subscriber(farm, "tickers")

            async def read_fast() -> None:
                while len(received) < count:
                    message = await _next_data(fast)
                    received.append(message["data"]["n"])

            reader = asyncio.create_task(read_fast())
            for n in range(count):
                await farm.redis.publish("tickers", {"n": n, "pad": payload})
                # Pace by the fast reader: at most two messages in flight, fewer than its queue
                # of QUEUE_SIZE, so only the stalled client can fall behind (a burst larger than
                # the queue could drop the fast client too on a loaded machine: seen in CI).
                async with asyncio.timeout(60):
                    while len(received) < n - 1 and not reader.done():  # noqa: ASYNC110  # the counter is the event
                        await asyncio.sleep(0.001)  # wait-ok: polling a counter the reader bumps
            async with asyncio.timeout(60):
                await reader
            dropped = hub.dropped_clients
            async with asyncio.timeout(30):
                while hub.clients > 1:  # the dropped client's handler has left the hub
                    await _wait_for_subscriber(farm, "tickers")
    finally:
        stalled.close()
    assert received == list(range(count))
    assert dropped == 1
