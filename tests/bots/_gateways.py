"""Helpers for gateway tests: hold partitions without running the loops."""

from __future__ import annotations

from omegafarm.bots.gateway import Gateway
from omegafarm.bots.gateway_partitions import Term, farm_partitions


async def hold_partitions(gateway: Gateway, *partitions: int) -> list[int]:
    """Take the leases of ``partitions`` (default: every one) for ``gateway``, as its balance
    round would, without starting their command loops; returns those it got."""
    gateway.partition_count = await farm_partitions(
        gateway.redis, gateway.settings.gateway_partitions
    )
    got = []
    for p in partitions or range(gateway.partition_count):
        lease = await gateway.partition_lease(p).acquire()
        if lease is not None:
            gateway.partitions[p] = Term(lease)
            got.append(p)
    return got
