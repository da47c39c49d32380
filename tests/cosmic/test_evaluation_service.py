"""The service keeps the latest evaluation and shows it next to each signal kind."""

from __future__ import annotations

import numpy as np
import pytest

from omegafarm.core.errors import NotFoundError
from omegafarm.cosmic.config import CosmicSettings
from omegafarm.cosmic.service import CosmicFactorService


def _walk_candles(seed: int, n: int = 4000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.002 * rng.standard_normal(n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    return np.column_stack([np.arange(n) * 300_000.0, open_, high, low, close, np.ones(n)])


async def test_service_evaluates_and_exposes_evidence_per_kind() -> None:
    async with CosmicFactorService(CosmicSettings()) as svc:
        with pytest.raises(NotFoundError):
            svc.evidence("fib_0.618")
        rows = svc.evaluate({"a": _walk_candles(1), "b": _walk_candles(2)}, n_resamples=300)
        row = svc.evidence("fib_0.618")
        assert row in rows
        assert row.n_signals > 0
        assert not row.significant  # a random walk has no edge
        assert svc.get_metrics()["operations"]["evaluate"] == 1
