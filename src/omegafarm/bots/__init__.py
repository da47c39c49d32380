"""omegafarm.bots: the Strategy interface, the Trader, the backtest runner and the bot farm.

A strategy subclasses :class:`Strategy`; the same class runs in a backtest
(:func:`run_backtest`, no Redis) and as a live bot on the farm. See docs/bots.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.bots.backtest import BacktestConfig, BacktestResult, run_backtest
    from omegafarm.bots.config import BotSettings, FarmSettings, load_farm_file
    from omegafarm.bots.feed import CandleFeed, Indicator, crossover, sma
    from omegafarm.bots.ledger import Fill, Ledger, OrderUpdate, Trade
    from omegafarm.bots.performance import Performance
    from omegafarm.bots.service import BotFarmService
    from omegafarm.bots.strategies import STRATEGIES, get_strategy
    from omegafarm.bots.strategy import Candle, Strategy, Tick
    from omegafarm.bots.trader import RiskLimits, Trader
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.bots.backtest": (
                "BacktestConfig",
                "BacktestResult",
                "run_backtest",
            ),
            "omegafarm.bots.config": (
                "BotSettings",
                "FarmSettings",
                "load_farm_file",
            ),
            "omegafarm.bots.feed": (
                "CandleFeed",
                "Indicator",
                "crossover",
                "sma",
            ),
            "omegafarm.bots.ledger": (
                "Fill",
                "Ledger",
                "OrderUpdate",
                "Trade",
            ),
            "omegafarm.bots.performance": ("Performance",),
            "omegafarm.bots.service": ("BotFarmService",),
            "omegafarm.bots.strategies": (
                "STRATEGIES",
                "get_strategy",
            ),
            "omegafarm.bots.strategy": (
                "Candle",
                "Strategy",
                "Tick",
            ),
            "omegafarm.bots.trader": (
                "RiskLimits",
                "Trader",
            ),
        },
    )

__all__ = [
    "STRATEGIES",
    "BacktestConfig",
    "BacktestResult",
    "BotFarmService",
    "BotSettings",
    "Candle",
    "CandleFeed",
    "FarmSettings",
    "Fill",
    "Indicator",
    "Ledger",
    "OrderUpdate",
    "Performance",
    "RiskLimits",
    "Strategy",
    "Tick",
    "Trade",
    "Trader",
    "crossover",
    "get_strategy",
    "load_farm_file",
    "run_backtest",
    "sma",
]
