"""Performance metrics from an equity curve and a trade list: one definition for every mode.

Given equity sampled once per bar (``e_0 .. e_n``) and ``bars_per_year``::

    return        = e_n / e_0 - 1
    max drawdown  = max_t (1 - e_t / max_{s<=t} e_s)            (a fraction, >= 0)
    r_t           = e_t / e_{t-1} - 1                           (per-bar simple returns)
    Sharpe        = mean(r) / std(r) * sqrt(bars_per_year)       (risk-free rate 0, ddof 0)
    Sortino       = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(bars_per_year)
    exposure      = share of bars ending with a non-zero position
    win rate      = closed trades with pnl > 0 / closed trades  (pnl net of fees)

Undefined ratios (no variance, no losing bar, no closed trade) are reported as ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from omegafarm.bots.ledger import Trade

F64 = npt.NDArray[np.float64]
YEAR_MS = 365 * 86_400_000


@dataclass(frozen=True)
class Performance:
    """The headline numbers of a run."""

    start_equity: float
    end_equity: float
    total_return: float
    max_drawdown: float
    sharpe: float | None
    sortino: float | None
    win_rate: float | None
    exposure: float
    trades: int
    fees: float
    realized_pnl: float
    unrealized_pnl: float

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-friendly view."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def max_drawdown(equity: F64) -> float:
    """Largest fall from a running peak, as a fraction of the peak."""
    if equity.size == 0:
        return 0.0
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - equity / peak, 0.0)
    return float(np.max(dd))


def _ratio(num: float, den: float, scale: float) -> float | None:
    if not den > 1e-15 or not math.isfinite(num):
        return None
    return num / den * scale


def measure(
    equity: F64,
    position: F64,
    trades: list[Trade],
    *,
    bars_per_year: float,
    fees: Decimal,
    realized_pnl: Decimal,
    unrealized_pnl: Decimal,
    start_equity: float,
) -> Performance:
    """All metrics of one run (see the module docstring for the formulas)."""
    curve = np.concatenate(([start_equity], equity)) if equity.size else np.array([start_equity])
    returns = np.diff(curve) / curve[:-1] if curve.size > 1 else np.empty(0)
    scale = math.sqrt(bars_per_year)
    sharpe = sortino = None
    if returns.size > 1:
        mean = float(np.mean(returns))
        sharpe = _ratio(mean, float(np.std(returns)), scale)
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        sortino = _ratio(mean, downside, scale)
    closed = [t for t in trades if t.exit_ts_ms is not None]
    win_rate = sum(1 for t in closed if t.pnl > 0) / len(closed) if closed else None
    end = float(curve[-1])
    return Performance(
        start_equity=start_equity,
        end_equity=end,
        total_return=end / start_equity - 1.0 if start_equity else 0.0,
        max_drawdown=max_drawdown(curve),
        sharpe=sharpe,
        sortino=sortino,
        win_rate=win_rate,
        exposure=float(np.mean(position != 0)) if position.size else 0.0,
        trades=len(closed),
        fees=float(fees),
        realized_pnl=float(realized_pnl),
        unrealized_pnl=float(unrealized_pnl),
    )


def bars_per_year(timeframe_ms: int) -> float:
    """How many bars of ``timeframe_ms`` fit in a 365-day year (crypto trades every day)."""
    return YEAR_MS / timeframe_ms
