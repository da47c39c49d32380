"""The example strategies, by name, and a loader for user strategies (``module:Class``)."""

from __future__ import annotations

import importlib

from omegafarm.bots.strategies.cycle_timing import CycleTiming
from omegafarm.bots.strategies.fib_retracement import FibRetracement
from omegafarm.bots.strategies.harmonic_prz import HarmonicPrz
from omegafarm.bots.strategies.sma_cross import SmaCross
from omegafarm.bots.strategy import Strategy
from omegafarm.core.errors import ConfigError

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (SmaCross, FibRetracement, HarmonicPrz, CycleTiming)
}


def get_strategy(name: str) -> type[Strategy]:
    """A strategy class by registered name or by ``package.module:ClassName``."""
    if name in STRATEGIES:
        return STRATEGIES[name]
    module_name, _, attr = name.partition(":")
    if not attr:
        known = ", ".join(sorted(STRATEGIES))
        raise ConfigError(f"unknown strategy {name!r}; built in: {known}; or module:Class")
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load strategy {name!r}: {exc}") from None
    if not (isinstance(found, type) and issubclass(found, Strategy)):
        raise ConfigError(f"{name!r} is not a Strategy subclass")
    return found


__all__ = ["STRATEGIES", "CycleTiming", "FibRetracement", "HarmonicPrz", "SmaCross", "get_strategy"]
