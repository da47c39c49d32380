"""A strategy that never trades (loaded as ``tests.bots._hold:Hold``): a farm's idle cost."""

from __future__ import annotations

from omegafarm.bots.strategy import Candle, Strategy


class Hold(Strategy):
    """Looks at every candle and does nothing: each candle costs only the bot's bookkeeping."""

    name = "hold"

    def on_candle(self, candle: Candle) -> None:
        return None


class BuyOnce(Strategy):
    """Buys 0.001 at its first candle, then holds (``tests.bots._hold:BuyOnce``)."""

    name = "buy_once"

    def on_candle(self, candle: Candle) -> None:
        if self.position == 0 and not self.open_orders and not self.state.get("bought"):
            self.state["bought"] = True
            self.buy(0.001)
