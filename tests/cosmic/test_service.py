"""CosmicFactorService: lifecycle, reference attributes, the analysis methods and their metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import ServiceStateError, ValidationError
from omegafarm.cosmic.config import CosmicSettings
from omegafarm.cosmic.service import CosmicFactorService


def _service(**settings: object) -> CosmicFactorService:
    return CosmicFactorService(
        CosmicSettings.model_validate(settings), metrics_registry=CollectorRegistry()
    )


def _candles(ohlcv_dir: Path, name: str = "ETH_BTC-5m.csv") -> np.ndarray:
    return np.loadtxt(ohlcv_dir / name, delimiter=",", skiprows=1)


async def test_reference_attributes_follow_the_specification() -> None:
    async with _service() as svc:
        assert svc.phi == pytest.approx(1.6180339887)
        assert svc.fib_sequence[:10] == (0, 1, 1, 2, 3, 5, 8, 13, 21, 34)
        assert svc.schumann_resonance == 7.83
        assert {p.name for p in svc.harmonic_patterns.patterns} >= {"gartley", "cypher", "shark"}
        svc.configure({"schumann_resonance_hz": 14.3})
        assert svc.schumann_resonance == 14.3


async def test_analysis_before_initialize_raises_service_state_error() -> None:
    svc = _service()
    with pytest.raises(ServiceStateError):
        svc.generate_fibonacci_levels(1.0, 2.0)


async def test_identify_patterns_on_real_candles_counts_the_operation(ohlcv_dir: Path) -> None:
    candles = _candles(ohlcv_dir)
    async with _service(zigzag_threshold=2.0) as svc:
        scan = svc.identify_patterns(candles)
        assert scan.completed
        assert all(p.confirmed_index > p.bars[4] for p in scan.completed)
        metrics = svc.get_metrics()
    assert metrics["operations"]["identify_patterns"] == 1
    assert metrics["ratio_table_version"] == scan.table_version


async def test_stream_from_the_service_matches_its_batch_scan(ohlcv_dir: Path) -> None:
    candles = _candles(ohlcv_dir, "XRP_ETH-1m.csv")
    async with _service(zigzag_mode="percent", zigzag_threshold=0.004) as svc:
        stream = svc.stream()
        for row in candles:
            stream.append(row)
        assert stream.scan() == svc.identify_patterns(candles)


async def test_bad_candles_raise_validation_error_and_are_counted() -> None:
    async with _service() as svc:
        with pytest.raises(ValidationError):
            svc.identify_patterns(np.zeros((4, 3)))
        assert svc.get_metrics()["errors"] == {"ValidationError": 1}


async def test_fibonacci_levels_use_the_configured_scale() -> None:
    async with _service(fib_scale="log") as svc:
        levels = svc.generate_fibonacci_levels(100.0, 400.0)
    half = next(lv for lv in levels.retracements if lv.ratio == 0.5)
    assert half.price == pytest.approx(200.0)


async def test_confluence_on_real_candles_has_zones(ohlcv_dir: Path) -> None:
    async with _service() as svc:
        out = svc.fibonacci_confluence(_candles(ohlcv_dir, "LTC_BTC-5m.csv"))
    assert out.last_swing is not None
    assert all(z.strength >= 2 for z in out.zones)


async def test_schumann_resonance_on_five_minute_bars_is_not_measurable(ohlcv_dir: Path) -> None:
    close = _candles(ohlcv_dir)[:, 4]
    async with _service(n_surrogates=19) as svc:
        (result,) = svc.calculate_resonance(close, sample_period_s=300.0)
    assert result.frequency_hz == 7.83
    assert not result.measurable
    assert not result.significant
