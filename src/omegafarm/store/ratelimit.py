"""A rate limit shared by every process and machine using one Redis: GCRA in Lua.

One script call per acquisition (one round trip), time from the server's ``TIME``. A caller
that must wait *reserves* its slot and is told how long to sleep, instead of failing. A bucket
is described by :class:`RateSpec`: ``limit`` units per ``period_s``, of which ``burst`` may be
spent at once; the sustained rate is ``(limit - burst) / period_s`` so that no window of
``period_s`` seconds ever admits more than ``limit`` units.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from omegafarm.core.errors import ValidationError

GCRA_SCRIPT = (files("omegafarm.store") / "gcra.lua").read_text()
GCRA_SYNC_SCRIPT = (files("omegafarm.store") / "gcra_sync.lua").read_text()
COOLDOWN_SCRIPT = (files("omegafarm.store") / "cooldown.lua").read_text()


@dataclass(frozen=True)
class RateSpec:
    """``limit`` units per ``period_s`` seconds, ``burst`` of them at once."""

    limit: float
    period_s: float
    burst: float

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.period_s <= 0:
            raise ValidationError("a rate limit needs limit > 0 and period_s > 0")
        if not 0 < self.burst < self.limit:
            raise ValidationError(f"burst must be > 0 and < limit ({self.limit}), not {self.burst}")

    @classmethod
    def with_headroom(
        cls,
        published_limit: float,
        period_s: float,
        *,
        headroom: float = 0.15,
        burst_fraction: float = 0.05,
    ) -> RateSpec:
        """A spec ``headroom`` below an exchange's published limit."""
        if not 0 <= headroom < 1 or not 0 < burst_fraction < 1:
            raise ValidationError("headroom must be in [0, 1) and burst_fraction in (0, 1)")
        limit = published_limit * (1 - headroom)
        return cls(limit=limit, period_s=period_s, burst=max(limit * burst_fraction, 1e-9))

    @property
    def us_per_unit(self) -> float:
        """Microseconds between units at the sustained rate."""
        return self.period_s * 1_000_000 / (self.limit - self.burst)


@dataclass(frozen=True)
class Reservation:
    """The outcome of one acquisition: sleep ``wait_s`` then go (if ``reserved``)."""

    wait_s: float
    reserved: bool
    used_units: float
