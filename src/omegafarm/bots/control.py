"""Bot control: the one place each action on the farm's bots lives, whichever door it came by.

``omega bots`` (CLI), the API's bot routes and :class:`~omegafarm.bots.BotFarmService` all go
through :class:`FarmControl`, so they share one behaviour: a disabled bot cannot be started or
stopped, every change of a bot's desired state bumps the farm's control version (the workers
re-read their bots when it moves) and is published on the live feed's ``bots`` channel,
and every action is written to the audit log with the acting user (as the security service does
for users and tokens). The API and the CLI see it as the typed :class:`BotControl` protocol and
import it from this module only (an import-linter contract holds them to that).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import structlog

from omegafarm.bots import _view, staleness
from omegafarm.core.errors import OmegaError, ValidationError
from omegafarm.security import AuditLog
from omegafarm.store import RedisClient
from omegafarm.store import keys as _names

__all__ = ["BotControl", "FarmControl"]

_log = structlog.get_logger("omegafarm", service="bots")


@runtime_checkable
class BotControl(Protocol):
    """What a door (API, CLI, Discord) may ask of the farm's bots."""

    async def farm_status(self) -> dict[str, Any]:
        """Counts of bots by state, live workers and farm sums."""
        ...

    async def list_bots(self) -> list[dict[str, Any]]:
        """Every registered bot as a row: id, strategy, symbol, desired, state, numbers."""
        ...

    async def bot_status(self, bot_id: str) -> dict[str, Any]:
        """One bot: its row plus its settings and full status record."""
        ...

    async def bot_metrics(self, bot_id: str) -> dict[str, Any]:
        """Equity curve and performance of one bot."""
        ...

    async def bot_trades(self, bot_id: str) -> list[dict[str, Any]]:
        """One bot's round trips, oldest first."""
        ...

    async def start_bot(self, bot_id: str, *, actor: str) -> dict[str, Any]:
        """Let a stopped bot run again; audited as ``bot_start`` by ``actor``."""
        ...

    async def stop_bot(self, bot_id: str, *, actor: str) -> dict[str, Any]:
        """Stop a bot; audited as ``bot_stop`` by ``actor``."""
        ...


class FarmControl:
    """:class:`BotControl` over the records the farm keeps in Redis (see :mod:`._view`).

    ``audit``: the audit log actions are written to (None: not audited, for tests and tools
    that run without a security configuration).
    """

    def __init__(self, redis: RedisClient, audit: AuditLog | None = None) -> None:
        self.redis = redis
        self.audit = audit

    async def farm_status(self) -> dict[str, Any]:
        rows = await _view.rows(self.redis)
        states: dict[str, int] = {}
        for row in rows:
            states[row["state"]] = states.get(row["state"], 0) + 1
        sums = {
            k: sum((Decimal(str(r[k])) for r in rows if r[k] is not None), Decimal(0))
            for k in ("equity", "realized_pnl", "fees")
        }
        workers = await _view.live_workers(self.redis)
        ages = await staleness.candle_ages(self.redis)
        silent = sorted(b for b, age in ages.items() if age.silent)  # none for 3 timeframes
        return {
            "bots": len(rows), "states": states, "workers": workers, "silent_bots": silent, **sums
        }  # fmt: skip

    async def list_bots(self) -> list[dict[str, Any]]:
        return await _view.rows(self.redis)

    async def bot_status(self, bot_id: str) -> dict[str, Any]:
        spec = await _view.spec_of(self.redis, bot_id)
        age = (await staleness.candle_ages(self.redis)).get(bot_id)
        return {
            **await _view.row(self.redis, bot_id, spec),
            "spec": spec,
            "status": await self.redis.get(_names.status(bot_id)),
            "candles": None if age is None else age.as_json(),  # silent: none for 3 timeframes
        }

    async def bot_metrics(self, bot_id: str) -> dict[str, Any]:
        return await _view.metrics(self.redis, bot_id, await _view.spec_of(self.redis, bot_id))

    async def bot_trades(self, bot_id: str) -> list[dict[str, Any]]:
        await _view.spec_of(self.redis, bot_id)
        return await _view.trades(self.redis, bot_id)

    async def start_bot(self, bot_id: str, *, actor: str) -> dict[str, Any]:
        """Let a stopped bot run again (a worker picks it up within a third of the lease TTL)."""
        return await self._set_desired(bot_id, "running", "bot_start", actor)

    async def stop_bot(self, bot_id: str, *, actor: str) -> dict[str, Any]:
        """Stop a bot: its worker stops the strategy, saves its state and frees its lease."""
        return await self._set_desired(bot_id, "stopped", "bot_stop", actor)

    async def _set_desired(
        self, bot_id: str, desired: str, action: str, actor: str
    ) -> dict[str, Any]:
        try:
            spec = await _view.spec_of(self.redis, bot_id)
            if not spec.get("enabled", True):
                raise ValidationError(f"bot {bot_id!r} is disabled in the farm file")
            await self.redis.set(_names.desired(bot_id), desired)
            await _view.control_changed(self.redis)  # the workers act on it at once
        except OmegaError as exc:
            await self._audit(action, actor, "failed", bot_id, reason=str(exc)[:200])
            raise
        row = await _view.row(self.redis, bot_id, spec)
        await self.redis.publish(_names.FEED_BOTS, {"kind": "status", **row})
        await self._audit(action, actor, "ok", bot_id)
        _log.info("bot_desired_set", bot_id=bot_id, desired=desired, actor=actor)
        return row

    async def _audit(
        self, action: str, actor: str, outcome: str, bot_id: str, **details: str
    ) -> None:
        if self.audit is not None:
            await self.audit.append(action, actor=actor, outcome=outcome, bot=bot_id, **details)
