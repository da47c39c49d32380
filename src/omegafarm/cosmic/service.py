"""CosmicFactorService: the analysis functions of omegafarm.cosmic behind the service lifecycle.

This is the only cosmic module that knows about :class:`~omegafarm.core.BaseService`. It holds
no market state of its own: every method is a pure function of its arguments and the settings,
counted and timed like any service operation, with bad input reported through
``handle_error`` and re-raised as :class:`~omegafarm.core.errors.ValidationError`.

Note for Cosmic B (cycles, resonance, harmony/golden, evaluation): the wrappers below import
your public functions from ``cycles``, ``resonance``, ``harmony`` and ``golden``. Add the
evaluation accessor (latest evaluation next to each signal) here as a method of the same shape;
the rest of the file is owned by Cosmic A.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy.typing as npt
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import NotFoundError, OmegaError
from omegafarm.core.service import BaseService
from omegafarm.cosmic._ohlcv import OhlcvInput
from omegafarm.cosmic.config import CosmicSettings
from omegafarm.cosmic.cycles import CycleAnalysis, predict_cycles
from omegafarm.cosmic.evaluation import EvalSettings, EvaluationRow, evaluate_candles
from omegafarm.cosmic.fibonacci import FibAnalysis, FibLevels, fibonacci_analysis, fibonacci_levels
from omegafarm.cosmic.golden import GoldenAnalysis, analyze_golden_ratio
from omegafarm.cosmic.harmonics import PatternScan, RatioTable, identify_patterns, load_ratio_table
from omegafarm.cosmic.harmony import HarmonyResult, calculate_harmony
from omegafarm.cosmic.incremental import CosmicStream
from omegafarm.cosmic.resonance import ResonanceResult, calculate_resonance

T = TypeVar("T")

PHI = (1.0 + math.sqrt(5.0)) / 2.0


def fibonacci_sequence(count: int) -> tuple[int, ...]:
    """The first ``count`` Fibonacci numbers, starting 0, 1, 1, 2."""
    seq = [0, 1]
    while len(seq) < count:
        seq.append(seq[-1] + seq[-2])
    return tuple(seq[:count])


class CosmicFactorService(BaseService[CosmicSettings]):
    """Fibonacci levels, harmonic patterns, cycles, harmony, resonance and golden-ratio analysis."""

    name: ClassVar[str] = "cosmic"
    depends_on: ClassVar[tuple[str, ...]] = ()

    phi: ClassVar[float] = PHI
    fib_sequence: ClassVar[tuple[int, ...]] = fibonacci_sequence(30)

    def __init__(
        self,
        settings: CosmicSettings | None = None,
        *,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(settings or CosmicSettings(), metrics_registry=metrics_registry)
        self._table = load_ratio_table()
        self._evidence: dict[str, EvaluationRow] = {}

    # ------------------------------------------------------------------ reference data
    @property
    def schumann_resonance(self) -> float:
        """The reference frequency in Hz (7.83 by default; a setting like any other)."""
        return self.settings.schumann_resonance_hz

    @property
    def harmonic_patterns(self) -> RatioTable:
        """The versioned harmonic ratio table (``harmonic_ratios.toml``)."""
        return self._table

    # ------------------------------------------------------------------ analysis
    def generate_fibonacci_levels(
        self, start: float, end: float, third: float | None = None
    ) -> FibLevels:
        """Retracements and extensions of the swing start → end (A-B-C projections with third)."""
        s = self.settings
        return self._run(
            "fibonacci_levels", lambda: fibonacci_levels(start, end, third, scale=s.fib_scale)
        )

    def fibonacci_confluence(self, ohlcv: OhlcvInput) -> FibAnalysis:
        """Levels of the last confirmed swing and confluence zones of recent swings."""
        s = self.settings
        return self._run(
            "fibonacci_confluence",
            lambda: fibonacci_analysis(
                ohlcv,
                zigzag=s.zigzag(),
                swings=s.fib_swings,
                width=s.confluence_width,
                scale=s.fib_scale,
            ),
        )

    def identify_patterns(self, ohlcv: OhlcvInput) -> PatternScan:
        """Completed and forming harmonic XABCD patterns in candles."""
        cfg = self.settings.harmonic()
        return self._run("identify_patterns", lambda: identify_patterns(ohlcv, cfg, self._table))

    def stream(self) -> CosmicStream:
        """A fresh incremental analyser (append one candle at a time) with these settings."""
        s = self.settings
        return CosmicStream(
            s.harmonic(),
            self._table,
            fib_swings=s.fib_swings,
            fib_width=s.confluence_width,
            fib_scale=s.fib_scale,
        )

    def predict_cycles(self, close: npt.ArrayLike, **options: Any) -> CycleAnalysis:
        """Dominant cycle(s), red-noise p-value, phase and projected turning points."""
        opts = {"n_surrogates": self.settings.n_surrogates, "seed": self.settings.seed, **options}
        return self._run("predict_cycles", lambda: predict_cycles(close, **opts))

    def calculate_harmony(self, values: npt.ArrayLike, **options: Any) -> HarmonyResult:
        """Fibonacci clustering of swing ratios vs matched random walks, plus Hurst and DFA."""
        opts = {
            "zigzag": self.settings.zigzag(),
            "n_surrogates": self.settings.n_surrogates,
            "seed": self.settings.seed,
            **options,
        }
        return self._run("calculate_harmony", lambda: calculate_harmony(values, **opts))

    def calculate_resonance(
        self,
        close: npt.ArrayLike,
        sample_period_s: float,
        reference_periods_s: Sequence[float] | Mapping[str, float] | None = None,
        reference_frequencies_hz: Sequence[float] | Mapping[str, float] | None = None,
    ) -> tuple[ResonanceResult, ...]:
        """Power at reference periods/frequencies (default: the Schumann resonance) vs noise."""
        freqs = reference_frequencies_hz
        if freqs is None and reference_periods_s is None:
            freqs = {"schumann": self.schumann_resonance}
        s = self.settings
        return self._run(
            "calculate_resonance",
            lambda: calculate_resonance(
                close,
                sample_period_s,
                reference_periods_s,
                freqs,
                n_surrogates=s.n_surrogates,
                seed=s.seed,
            ),
        )

    def analyze_golden_ratio(self, close: npt.ArrayLike, **options: Any) -> GoldenAnalysis:
        """Golden-ratio relations of swing lengths and durations, and time projections."""
        opts = {"zigzag": self.settings.zigzag(), "seed": self.settings.seed, **options}
        return self._run("analyze_golden_ratio", lambda: analyze_golden_ratio(close, **opts))

    # ------------------------------------------------------------------ evidence
    def evaluate(
        self, markets: Mapping[str, OhlcvInput], **options: Any
    ) -> tuple[EvaluationRow, ...]:
        """Walk-forward evidence (patterns, Fibonacci zones, cycles); kept as the latest table.

        ``options`` are :class:`EvalSettings` fields (``horizon_bars``, ``cost_bps``, ...).
        """
        s = self.settings
        opts = {"seed": s.seed, **options}
        rows = self._run(
            "evaluate",
            lambda: tuple(evaluate_candles(markets, EvalSettings(**opts), zigzag=s.zigzag())),
        )
        self._evidence = {r.kind: r for r in rows}
        return rows

    def evidence(self, kind: str) -> EvaluationRow:
        """The latest evaluation row for a signal kind: a pattern name, ``fib_0.618``, ..."""
        row = self._evidence.get(kind)
        if row is None:
            raise NotFoundError(f"no evaluation of {kind!r} yet: run evaluate() on candles first")
        return row

    # ------------------------------------------------------------------ plumbing
    def _run(self, operation: str, call: Callable[[], T]) -> T:
        """Run one analysis while running: count it, time it, report what goes wrong."""
        self._require_running()
        start = time.perf_counter()
        try:
            return call()
        except OmegaError as exc:
            self.handle_error(exc, operation=operation)
            raise
        finally:
            self._metrics.latency.labels(self.name, operation).observe(time.perf_counter() - start)
            self._metrics.operations.labels(self.name, operation).inc()
            self._op_counts[operation] = self._op_counts.get(operation, 0) + 1

    def _extra_metrics(self) -> dict[str, Any]:
        return {"ratio_table_version": self._table.version}
