"""Settings of the Cosmic Factor Service (configuration section ``cosmic``).

Defaults are chosen for 5-minute crypto candles: a zig-zag of 3 ATR(14) keeps swings that
matter without chasing every wick. The Schumann resonance is a reference frequency like any
other: configurable, and reported as "not measurable" where the sampling rate cannot resolve it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omegafarm.cosmic.harmonics import HarmonicConfig
from omegafarm.cosmic.pivots import ZigZagConfig


class CosmicSettings(BaseModel):
    """Configuration section ``cosmic``."""

    model_config = ConfigDict(extra="forbid")

    zigzag_mode: Literal["atr", "percent"] = Field(
        default="atr", description="Pivot threshold: a multiple of ATR or a fraction of price."
    )
    zigzag_threshold: float = Field(
        default=3.0, gt=0, description="ATR multiple (atr) or fraction, e.g. 0.02 (percent)."
    )
    atr_period: int = Field(default=14, ge=1, le=1000)
    harmonic_tolerance: float | None = Field(
        default=None,
        ge=0,
        lt=0.5,
        description="Relative widening of every ratio bound; None means the table's own (0.05).",
    )
    harmonic_patterns: tuple[str, ...] | None = Field(
        default=None, description="Subset of pattern names to scan; None means all."
    )
    fib_scale: Literal["linear", "log"] = "linear"
    fib_swings: int = Field(default=8, ge=1, le=200, description="Swings used for confluence.")
    confluence_width: float = Field(
        default=0.002, gt=0, lt=0.2, description="Zone width as a fraction of price."
    )
    schumann_resonance_hz: float = Field(default=7.83, gt=0)
    n_surrogates: int = Field(default=199, ge=19, le=10_000)
    seed: int = Field(default=0, ge=0)

    def zigzag(self) -> ZigZagConfig:
        """The pivot detector these settings describe."""
        return ZigZagConfig(self.zigzag_mode, self.zigzag_threshold, self.atr_period)

    def harmonic(self) -> HarmonicConfig:
        """The harmonic scan these settings describe."""
        return HarmonicConfig(self.zigzag(), self.harmonic_tolerance, self.harmonic_patterns)
