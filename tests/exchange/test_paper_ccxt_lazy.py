"""The paper exchange imports ccxt at the first use of one of its names (exchange/paper/_ccxt.py),
not with the package: ``omega up`` and short backtests start without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
import omegafarm.exchange.paper.venue, omegafarm.exchange.paper.journal
before = "ccxt" in sys.modules
from omegafarm.exchange.paper import _ccxt
cls = _ccxt.InvalidOrder
print(json.dumps([before, "ccxt" in sys.modules, cls is sys.modules["ccxt"].InvalidOrder]))
"""


def test_ccxt_is_imported_at_the_first_name_used() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
        env=dict(os.environ), check=True,
    )  # fmt: skip
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [False, True, True]


def test_the_kept_constant_is_ccxts() -> None:
    import ccxt

    from omegafarm.exchange.paper import _ccxt

    assert _ccxt.TICK_SIZE == ccxt.TICK_SIZE
    assert _ccxt.BaseError is ccxt.BaseError
