"""Fixtures shared by the whole suite: the shared data folder and (from tests/store) Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip cleanly when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"no shared folder at {SHARED_DIR} (real data and ccxt fixtures live there)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def ohlcv_dir(shared_dir: Path) -> Path:
    """Real candles: ``../shared/data/ohlcv`` (CSV: timestamp,open,high,low,close,volume)."""
    path = shared_dir / "data" / "ohlcv"
    if not path.is_dir():
        pytest.skip(f"no real candle data at {path}")
    return path
