"""Fixtures for the education tests: a service over small fixture content with a fake clock,
and in-test market sources standing in for the Exchange Service (built in parallel)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import structlog
from prometheus_client import CollectorRegistry

from omegafarm.education import EducationService, EducationSettings

FIXTURE_CONTENT = Path(__file__).parent / "fixtures" / "content"


class Clock:
    """A clock the test moves by hand (FSRS due dates depend on it)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class PaperOrders:
    """The far side of ``PaperOrderSource``: the Exchange Service's paper account, which is
    being built in parallel; this in-test list of order dicts is that edge."""

    def __init__(self) -> None:
        self.orders: dict[str, list[dict[str, object]]] = {}

    def place(self, symbol: str, **order: object) -> None:
        self.orders.setdefault(symbol, []).append(dict(order))

    async def fetch_orders(self, symbol: str) -> Sequence[Mapping[str, object]]:
        return list(self.orders.get(symbol, []))


class Candles:
    """The far side of ``CandleSource``: a deterministic random walk per symbol."""

    def __init__(self, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        close = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.004, 400)))
        ts = 1_700_000_000_000 + 3_600_000 * np.arange(400)
        self.rows = np.column_stack(
            [ts, close, close * 1.002, close * 0.998, close, np.full(400, 5.0)]
        )

    async def fetch_candles(
        self, symbol: str, timeframe: str, limit: int
    ) -> Sequence[Sequence[float]]:
        return self.rows[-limit:].tolist()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``omega`` configures structlog to the stderr CliRunner captured and then closes; put
    the configuration back after each test so later log lines do not write to a closed file."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "progress" / "education.sqlite3"


@pytest.fixture
def settings(db_path: Path) -> EducationSettings:
    return EducationSettings(content_dir=FIXTURE_CONTENT, db_path=db_path)


@pytest.fixture
async def service(settings: EducationSettings, clock: Clock) -> AsyncIterator[EducationService]:
    async with EducationService(settings, clock=clock, metrics_registry=CollectorRegistry()) as svc:
        yield svc
