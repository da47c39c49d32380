"""A strategy that never trades (loaded as ``tests.bots._hold:Hold``): a farm's idle cost."""

from __future__ import annotations

from omegafarm.bots.strategy import Candle, Strategy


class Hold(Strategy):
    """Looks at every candle and does nothing: each candle costs only the bot's bookkeeping."""

    name = "hold"

    def on_candle(self, candle: Candle) -> None:
        return None
