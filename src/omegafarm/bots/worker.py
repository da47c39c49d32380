"""A worker: runs the bots whose leases it holds, and takes its fair share of the farm.

Every ``lease_ttl_s / 3`` a worker renews its heartbeat and its leases, counts the live
workers (heartbeat keys) and the bots that should run, and moves toward
``ceil(bots / workers)`` bots: it acquires free leases when it has fewer, and releases its
extra bots when it has more (so a new worker gets its share, and a dead worker's bots are
free again as soon as their leases expire — within one TTL). Candles arrive on one pub/sub
subscription per worker and are handed to every local bot of that symbol; order updates are
read from each bot's stream. When Redis is unreachable nothing can be saved or sent, so the
bots pause; when it answers again the worker renews (or re-acquires and reconciles) and goes on.

The three loops run under a :class:`~omegafarm.core.supervisor.Supervisor`: an unexpected
exception is logged with its traceback, counted on ``/metrics`` and the loop restarts; the
heartbeat carries the worker's health (paused, degraded and why) and, per bot, when it last
heard a candle, so a deaf bot is reported (see :mod:`.staleness`) instead of sitting silent.
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
from prometheus_client import CollectorRegistry

from omegafarm.bots import _view
from omegafarm.bots.config import BotSettings, FarmSettings
from omegafarm.bots.latency import LatencyWindow
from omegafarm.bots.lease import Leases
from omegafarm.bots.live import FeedRewoundError, LeaseLostError, LiveBot
from omegafarm.bots.staleness import silent_after_s
from omegafarm.core.errors import OmegaError, StoreError, TransientError
from omegafarm.core.health import HealthState
from omegafarm.core.supervisor import Supervisor
from omegafarm.store import RedisClient, Subscription
from omegafarm.store import keys as _names

_log = structlog.get_logger("omegafarm.bots.worker")


def new_worker_id() -> str:
    """host-pid-random: unique, and says where the worker runs."""
    host = socket.gethostname().split(".")[0][:16]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Holds leases and runs bots until stopped."""

    def __init__(
        self,
        redis: RedisClient,
        settings: FarmSettings,
        worker_id: str | None = None,
        *,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.redis, self.settings = redis, settings
        self.id = worker_id or new_worker_id()
        self.leases = Leases(redis, self.id, settings.lease_ttl_s)
        self.bots: dict[str, LiveBot] = {}
        self.paused = False
        self.pause_reason = ""
        self.supervisor = Supervisor("worker", metrics_registry=metrics_registry)
        self.last_candle_ms: dict[str, int] = {}  # bot id -> when its last candle arrived
        self.latency = LatencyWindow()  # candle sent -> bot decided, per heartbeat
        self._sub: Subscription | None = None
        self._channels: dict[str, list[str]] = {}
        self._rng = random.Random(self.id)  # noqa: S311  # spreads lease attempts, not crypto

    async def run(self, stop: asyncio.Event) -> None:
        """Balance leases, dispatch market data and order updates until ``stop``."""
        self._sub = self.redis.subscription()
        sup = self.supervisor
        sup.start("balance", lambda: self._balance_loop(stop))
        sup.start("market", lambda: self._market_loop(stop))
        sup.start("updates", lambda: self._updates_loop(stop))
        try:
            await stop.wait()
        finally:
            await sup.close()
            for bot_id, bot in list(self.bots.items()):
                self.supervisor.forget(f"bot:{bot_id}")
                with contextlib.suppress(OmegaError):
                    await bot.stop()
            self.bots.clear()
            self.last_candle_ms.clear()
            with contextlib.suppress(OmegaError):
                await self.redis.delete(_names.worker(self.id))
            await self._sub.close()
            self._channels = {}  # a restarted run subscribes its new subscription afresh

    # ----------------------------------------------------------------- leases
    async def _balance_loop(self, stop: asyncio.Event) -> None:
        interval_s = self.settings.lease_ttl_s / 3
        while not stop.is_set():
            try:
                await self.balance()
                if self.paused:
                    self.paused, self.pause_reason = False, ""
                    _log.info("worker_resumed", worker=self.id)
            except StoreError as exc:
                if not isinstance(exc, TransientError):
                    raise  # a configuration error: the supervisor reports it (degraded)
                if not self.paused:
                    _log.warning("worker_paused", worker=self.id, error=str(exc),
                                 error_class=type(exc).__name__)  # fmt: skip
                self.paused, self.pause_reason = True, str(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    def heartbeat(self) -> dict[str, Any]:
        """What the worker tells the farm every round: alive, healthy or why not, and, per bot,
        when its last candle arrived (``candles``) and which bots are silent (``silent``)."""
        now_ms = int(time.time() * 1000)
        return {
            "at_ms": now_ms,
            "state": str(self.supervisor.state),
            "reason": self.supervisor.reason,
            "candles": {b: self.last_candle_ms.get(b, now_ms) for b in self.bots},
            "silent": self.silent_bots(now_ms),
            "latency": self.latency.take(),
        }

    def silent_bots(self, now_ms: int | None = None) -> dict[str, float]:
        """Bots of this worker that heard no candle for 3 of their timeframes: id -> age (s)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        out = {}
        for bot_id, bot in self.bots.items():
            age_s = (now_ms - self.last_candle_ms.get(bot_id, now_ms)) / 1000
            if age_s > silent_after_s(bot.spec.timeframe):
                out[bot_id] = round(age_s, 3)
        return out

    def health(self, *, silent_bots: bool = True) -> tuple[bool, bool, str]:
        """(ready, degraded, reason) of this worker (with its silent bots, unless told not to:
        the farm service reports every worker's)."""
        if self.paused:
            return False, True, f"paused: {self.pause_reason or 'redis unreachable'}"
        silent = self.silent_bots() if silent_bots else {}
        state = self.supervisor.state
        reasons = [self.supervisor.reason] if state is not HealthState.PASS else []
        if silent:
            reasons.append(f"{len(silent)} bots heard no candle for 3 timeframes: "
                           + ", ".join(sorted(silent)))  # fmt: skip
        reason = "; ".join(reasons) or f"{len(self.bots)} bots on this worker"
        return state is not HealthState.FAIL, bool(reasons), reason

    async def wanted_bots(self) -> list[BotSettings]:
        """Bots that should run: enabled, not stopped by ``omega bots stop`` and not halted by
        reconciliation (a diverged ledger waits for ``omega bots reconcile``)."""
        specs: dict[str, Any] = await self.redis.get(_names.BOTS) or {}
        out = []
        for bot_id, raw in sorted(specs.items()):
            spec = BotSettings.model_validate(raw)
            running = await self.redis.get(_names.desired(bot_id)) != "stopped"
            if spec.enabled and running and await self.redis.get(_names.halt(bot_id)) is None:
                out.append(spec)
        return out

    async def live_workers(self) -> int:
        """Workers with a fresh heartbeat (this one included)."""
        return max(1, await _view.live_workers(self.redis))

    async def balance(self) -> None:
        """One round: heartbeat, renew, then move toward the fair share."""
        ttl_s = self.settings.lease_ttl_s
        await self.redis.set(_names.worker(self.id), self.heartbeat(), ttl_s=ttl_s)
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
            self.last_candle_ms[spec.id] = int(time.time() * 1000)  # silent counts from now
            _log.info("bot_started", worker=self.id, bot_id=spec.id, token=lease.token)
        await self._resubscribe()

    async def _drop(self, bot_id: str, *, release: bool) -> None:
        bot = self.bots.pop(bot_id, None)
        self.last_candle_ms.pop(bot_id, None)
        self.supervisor.forget(f"bot:{bot_id}")
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
            if self._sub is None:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self._sub.get(timeout_s=0.5)  # idles while no channel is wanted
            except OmegaError:
                await asyncio.sleep(0.2)
                continue
            if message is None:
                continue
            candle = message.channel.startswith("md:")
            for bot_id in self._channels.get(message.channel, []):
                bot = self.bots.get(bot_id)
                if bot is None:
                    continue
                if candle:
                    self.last_candle_ms[bot_id] = int(time.time() * 1000)
                try:
                    if candle:
                        await bot.on_candle(list(message.data["candle"]))
                        self.latency.record(message.data.get("sent_ms"), time.time() * 1000)
                    else:
                        await bot.on_tick(message.data)
                except LeaseLostError:
                    await self._drop(bot_id, release=False)
                except FeedRewoundError as exc:  # restarted at the next balance, new history
                    _log.warning("bot_feed_rewound", bot_id=bot_id, error=str(exc))
                    await self._drop(bot_id, release=True)
                except OmegaError as exc:
                    _log.warning("bot_event_failed", bot_id=bot_id, error=str(exc))
                except Exception as exc:  # one bot's bug (its strategy): reported, not fatal
                    # for the other bots; the streak ends 30 s after the bot's last failure
                    self.supervisor.record_failure(f"bot:{bot_id}", exc)

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
