"""ccxt for the paper exchange, imported at its first use.

The paper exchange speaks ccxt's language (it raises ccxt's errors, callers catch them), but
``import ccxt`` loads every one of its exchange classes: ~0.6 s of CPU, a fifth of ``omega up``'s
start-up and of a short backtest, for error classes that are needed only when an error happens.
Modules of this package write ``from omegafarm.exchange.paper import _ccxt as ccxt`` and use
``ccxt.InvalidOrder`` as before; the first such attribute imports ccxt (the same classes, so
``except ccxt.InvalidOrder`` anywhere catches them).
"""

from __future__ import annotations

import importlib
from typing import Any

# ccxt.TICK_SIZE (ccxt.base.decimal_to_precision): a constant of ccxt's API, read at class
# definition, so kept here; tests/exchange check it against ccxt's own.
TICK_SIZE = 4


def __getattr__(name: str) -> Any:  # PEP 562: the first attribute imports ccxt
    if name.startswith("__"):  # probes by tools (__wrapped__, __test__...) import nothing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("ccxt"), name)
    globals()[name] = value
    return value


def load() -> None:
    """Import ccxt now (``omega up`` does it in a thread once it runs)."""
    importlib.import_module("ccxt")
