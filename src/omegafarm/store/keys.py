"""Every Redis key, channel and stream name the project uses: one place, one scheme.

All names live under ``omega:{farm}:`` so that several farms can share one server::

    omega:{farm}:cache:{name}          cached values (get_or_set), with a TTL
    omega:{farm}:lock:{name}           single-flight and lease locks
    omega:{farm}:state:{name}          durable state (bot ledgers, leases, progress)
    omega:{farm}:chan:{name}           pub/sub channels (live fan-out)
    omega:{farm}:stream:{name}         streams (events that must not be lost)
    omega:{farm}:rl:{bucket}           rate-limit buckets (GCRA theoretical arrival time)
    omega:{farm}:rl:{bucket}:cooldown  shared cool-down after a 429/418 or Retry-After
    omega:{farm}:health:{service}      heartbeat keys with a TTL
    omega:{farm}:optuna:{study}        an optimisation study's journal (Optuna's Redis backend)

:class:`RedisClient` methods take *relative* names (``"ticker:BTC/USDT"``) and prefix them
with the farm namespace themselves; :class:`Keys` builds the absolute names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from omegafarm.core.errors import ValidationError

ROOT = "omega"
FARM_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Keys:
    """Absolute key names for one farm."""

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

    def lock(self, name: str) -> str:
        return self.key(f"lock:{name}")

    def state(self, name: str) -> str:
        return self.key(f"state:{name}")

    def channel(self, name: str) -> str:
        return self.key(f"chan:{name}")

    def stream(self, name: str) -> str:
        return self.key(f"stream:{name}")

    def ratelimit(self, bucket: str) -> str:
        return self.key(f"rl:{bucket}")

    def cooldown(self, bucket: str) -> str:
        return self.key(f"rl:{bucket}:cooldown")

    def health(self, service: str) -> str:
        return self.key(f"health:{service}")

    def optuna_study(self, study: str) -> str:
        """The prefix of one ``omega optimize`` study's journal keys (``…:log:N``, …)."""
        if not FARM_PATTERN.match(study):
            raise ValidationError(
                f"study name {study!r} is invalid: use 1-32 of a-z, 0-9, '_' and '-'"
            )
        return self.key(f"optuna:{study}")

    def relative(self, absolute: str) -> str:
        """Strip the farm prefix from an absolute name."""
        return absolute[len(self.prefix) :] if absolute.startswith(self.prefix) else absolute
