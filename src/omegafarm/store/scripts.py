"""Lua scripts on the store: registered once, run by SHA, and the shared rate limit on them.

A :class:`Script` is run with EVALSHA by its SHA (computed once), loading the source again only
when the server answers NOSCRIPT (after a restart or a failover): never a SCRIPT EXISTS or a
SCRIPT LOAD per call. The GCRA rate limit (:mod:`.ratelimit`) is one such script per
acquisition; its keys and its arguments are built once per bucket and budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from omegafarm.store._calls import CallPath
from omegafarm.store.ratelimit import (
    COOLDOWN_SCRIPT,
    GCRA_SCRIPT,
    GCRA_SYNC_SCRIPT,
    RateSpec,
    Reservation,
)


class Script:
    """A Lua script registered once and run by its SHA (EVALSHA, loading it when the server
    lacks it), through the client's translating call path. Keys are relative names."""

    def __init__(self, client: CallPath, source: str, name: str) -> None:
        self._client = client
        self.source = source
        self.name = name
        self._operation = f"script {name}"
        self._registered: AsyncScript | None = None

    async def __call__(self, keys: Sequence[str] = (), args: Sequence[str | bytes] = ()) -> Any:
        """Run the script; ``StoreError`` for a script error, ``StoreUnavailableError`` for an
        unreachable server."""
        prefix = self._client.keys.key
        return await self.run_absolute([prefix(k) for k in keys], args)

    async def run_absolute(self, keys: Sequence[str], args: Sequence[str | bytes]) -> Any:
        """Run with absolute key names (the store's own hot paths, e.g. the rate limiter)."""
        client = self._client
        raw = client._raw  # the current pool, also after a reconnect
        if self._registered is None:
            self._registered = raw.register_script(self.source)
        return await client._call(self._operation, _evalsha(raw, self._registered, keys, args))


async def _evalsha(
    raw: Any, registered: AsyncScript, keys: Sequence[str], args: Sequence[str | bytes]
) -> Any:
    """One EVALSHA (redis-py's script wrapper rebuilds its arguments on every call), loading the
    script again when the server lost it (NOSCRIPT after a restart)."""
    try:
        return await raw.evalsha(registered.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await registered(keys, args, raw)  # loads it, then runs it


class ScriptCommands(CallPath):
    """Scripts by source, and the farm-wide GCRA rate limit (one EVALSHA per acquisition)."""

    _scripts: dict[str, Script]
    _ratelimit_keys: dict[str, list[str]]  # bucket -> its two absolute keys (hot path)
    _ratelimit_args: dict[tuple[RateSpec, float, float], tuple[str, str, str, str]]

    def script(self, source: str, *, name: str = "lua") -> Script:
        """The script for ``source`` (one per source per client); call it with relative keys."""
        script = self._scripts.get(source)
        if script is None:
            script = Script(self, source, name)
            self._scripts[source] = script
        return script

    async def ratelimit_acquire(
        self, bucket: str, spec: RateSpec, cost: float = 1.0, *, max_wait_s: float = 60.0
    ) -> Reservation:
        """Reserve ``cost`` units of ``bucket``; sleep ``wait_s`` before using them."""
        keys = self._ratelimit_keys.get(bucket)
        if keys is None:
            keys = [self.keys.ratelimit(bucket), self.keys.cooldown(bucket)]
            self._ratelimit_keys[bucket] = keys
        budget = (spec, cost, max_wait_s)
        args = self._ratelimit_args.get(budget)
        if args is None:
            if len(self._ratelimit_args) > 256:  # budgets are few; a caller varying costs is not
                self._ratelimit_args.clear()
            args = self._ratelimit_args[budget] = (
                repr(spec.us_per_unit), repr(spec.burst), repr(cost), str(int(max_wait_s * 1e6))
            )  # fmt: skip
        reply = await self.script(GCRA_SCRIPT, name="gcra").run_absolute(keys, args)
        wait_us, reserved, used_milli = reply
        return Reservation(
            wait_s=float(wait_us) / 1e6,
            reserved=bool(float(reserved)),
            used_units=float(used_milli) / 1000,
        )

    async def ratelimit_cooldown(self, bucket: str, seconds: float) -> None:
        """Make every process wait ``seconds`` before its next acquisition of ``bucket``."""
        await self.script(COOLDOWN_SCRIPT, name="cooldown").run_absolute(
            keys=[self.keys.cooldown(bucket)], args=[str(max(1, int(seconds * 1000)))]
        )

    async def ratelimit_sync(self, bucket: str, spec: RateSpec, remaining_units: float) -> bool:
        """Move the bucket forward so that at most ``remaining_units`` are available now."""
        moved = await self.script(GCRA_SYNC_SCRIPT, name="gcra_sync").run_absolute(
            keys=[self.keys.ratelimit(bucket)],
            args=[repr(spec.us_per_unit), repr(spec.burst), repr(remaining_units)],
        )
        return bool(moved)
