"""A worker: runs the bots whose leases it holds, and takes its fair share of the farm.

Every ``lease_ttl_s / 3`` a worker renews its heartbeat and its leases, counts the live
workers (heartbeat keys) and the bots that should run, and moves toward
``ceil(bots / workers)`` bots: it acquires free leases when it has fewer, and releases its
extra bots when it has more (so a new worker gets its share, and a dead worker's bots are
free again as soon as their leases expire — within one TTL). Candles arrive on one pub/sub
subscription per worker and are handed to every local bot of that symbol; order updates are
read from each bot's stream. When Redis is unreachable nothing can be saved or sent, so the
bots pause; when it answers again the worker renews (or re-acquires and reconciles) and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import socket
import time
import uuid
from typing import Any

import structlog

from omegafarm.bots import _names
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.lease import Leases
from omegafarm.bots.live import LeaseLostError, LiveBot
from omegafarm.core.errors import OmegaError, StoreUnavailableError
from omegafarm.store import RedisClient, Subscription

_log = structlog.get_logger("omegafarm.bots.worker")


def new_worker_id() -> str:
    """host-pid-random: unique, and says where the worker runs."""
    host = socket.gethostname().split(".")[0][:16]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Holds leases and runs bots until stopped."""

    def __init__(
        self, redis: RedisClient, settings: FarmSettings, worker_id: str | None = None
    ) -> None:
        self.redis, self.settings = redis, settings
        self.id = worker_id or new_worker_id()
        self.leases = Leases(redis, self.id, settings.lease_ttl_s)
        self.bots: dict[str, LiveBot] = {}
        self.paused = False
        self._sub: Subscription | None = None
        self._channels: dict[str, list[str]] = {}
        self._rng = random.Random(self.id)  # noqa: S311  # spreads lease attempts, not crypto

    async def run(self, stop: asyncio.Event) -> None:
        """Balance leases, dispatch market data and order updates until ``stop``."""
        self._sub = self.redis.subscription()
        tasks = [
            asyncio.create_task(self._balance_loop(stop)),
            asyncio.create_task(self._market_loop(stop)),
            asyncio.create_task(self._updates_loop(stop)),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for bot in list(self.bots.values()):
                with contextlib.suppress(OmegaError):
                    await bot.stop()
            self.bots.clear()
            with contextlib.suppress(OmegaError):
                await self.redis.delete(_names.worker(self.id))
            await self._sub.close()

    # ----------------------------------------------------------------- leases
    async def _balance_loop(self, stop: asyncio.Event) -> None:
        interval_s = self.settings.lease_ttl_s / 3
        while not stop.is_set():
            try:
                await self.balance()
                if self.paused:
                    self.paused = False
                    _log.info("worker_resumed", worker=self.id)
            except StoreUnavailableError as exc:
                if not self.paused:
                    _log.warning("worker_paused", worker=self.id, error=str(exc))
                self.paused = True
            except Exception as exc:  # supervisor loop: log, keep balancing
                _log.warning("balance_failed", worker=self.id, error=str(exc),
                             error_class=type(exc).__name__)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def wanted_bots(self) -> list[BotSettings]:
        """Bots that should run: enabled and not stopped by ``omega bots stop``."""
        specs: dict[str, Any] = await self.redis.get(_names.BOTS) or {}
        out = []
        for bot_id, raw in sorted(specs.items()):
            spec = BotSettings.model_validate(raw)
            if spec.enabled and await self.redis.get(_names.desired(bot_id)) != "stopped":
                out.append(spec)
        return out

    async def live_workers(self) -> int:
        """Workers with a fresh heartbeat (this one included)."""
        pattern = self.redis.keys.key(_names.WORKERS_PREFIX) + "*"
        try:
            found = [k async for k in self.redis.redis.scan_iter(match=pattern, count=500)]
        except Exception as exc:  # redis-py errors, translated (only store imports redis)
            raise StoreUnavailableError(f"cannot list workers: {exc}") from None
        return max(1, len(found))

    async def balance(self) -> None:
        """One round: heartbeat, renew, then move toward the fair share."""
        ttl_s = self.settings.lease_ttl_s
        await self.redis.set(
            _names.worker(self.id), {"at_ms": int(time.time() * 1000)}, ttl_s=ttl_s
        )
        for bot_id, bot in list(self.bots.items()):
            if not await self.leases.renew(bot.lease):
                _log.warning("lease_lost", worker=self.id, bot_id=bot_id)
                await self._drop(bot_id, release=False)
            else:
                await bot.refresh_status()  # live within its TTL whatever the timeframe
        wanted = await self.wanted_bots()
        wanted_ids = {b.id for b in wanted}
        for bot_id in [b for b in self.bots if b not in wanted_ids]:
            await self._drop(bot_id, release=True)
        fair = math.ceil(len(wanted) / await self.live_workers())
        if len(self.bots) > fair:
            for bot_id in sorted(self.bots)[fair:]:
                await self._drop(bot_id, release=True)
            return
        candidates = [b for b in wanted if b.id not in self.bots]
        self._rng.shuffle(candidates)
        for spec in candidates:
            if len(self.bots) >= fair:
                break
            lease = await self.leases.acquire(spec.id)
            if lease is None:
                continue
            bot = LiveBot(spec, self.redis, self.leases, lease)
            try:
                await bot.start()
            except LeaseLostError:
                continue
            self.bots[spec.id] = bot
            _log.info("bot_started", worker=self.id, bot_id=spec.id, token=lease.token)
        await self._resubscribe()

    async def _drop(self, bot_id: str, *, release: bool) -> None:
        bot = self.bots.pop(bot_id, None)
        if bot is not None:
            with contextlib.suppress(LeaseLostError):
                await bot.stop(release=release)
        await self._resubscribe()

    async def _resubscribe(self) -> None:
        channels: dict[str, list[str]] = {}
        for bot in self.bots.values():
            channels.setdefault(_names.candles(bot.spec.symbol, bot.spec.timeframe), []).append(
                bot.id
            )
            channels.setdefault(_names.ticks(bot.spec.symbol), []).append(bot.id)
        if self._sub is None or set(channels) == set(self._channels):
            self._channels = channels
            return
        gone = set(self._channels) - set(channels)
        new = set(channels) - set(self._channels)
        if gone:
            await self._sub.unsubscribe(*gone)
        if new:
            await self._sub.subscribe(*new)
        self._channels = channels

    # ----------------------------------------------------------------- events
    async def _market_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self._sub is None or not self._sub.channels:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self._sub.get(timeout_s=0.5)
            except OmegaError:
                await asyncio.sleep(0.2)
                continue
            if message is None:
                continue
            for bot_id in self._channels.get(message.channel, []):
                bot = self.bots.get(bot_id)
                if bot is None:
                    continue
                try:
                    if message.channel.startswith("md:"):
                        await bot.on_candle(list(message.data["candle"]))
                    else:
                        await bot.on_tick(message.data)
                except LeaseLostError:
                    await self._drop(bot_id, release=False)
                except OmegaError as exc:
                    _log.warning("bot_event_failed", bot_id=bot_id, error=str(exc))

    async def _updates_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            got = 0
            for bot_id, bot in list(self.bots.items()):
                try:
                    got += await bot.poll_updates()
                except LeaseLostError:
                    await self._drop(bot_id, release=False)
                except OmegaError:
                    await asyncio.sleep(0.1)
            if not got:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.05)
