"""Fixtures shared by the whole suite: the shared data folder and (from tests/store) Redis."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

# A runner that starts pytest as a background job of a non-interactive shell (`cmd &`) hands it
# SIGINT ignored; every `omega` child inherits that, and the tests that press Ctrl-C on a real
# process (grid, optimize, chart) see it ignored. Give the suite, and so its children, the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests (and CLI runs inside them) configure logging onto streams that then close."""
    import logging

    import structlog

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    """``omega`` in-process; the logging it configures (onto the runner's captured stream,
    closed afterwards) is put back before the fixtures that were set up earlier tear down."""
    import logging

    import structlog

    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield CliRunner()
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


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


# ---------------------------------------------------------------- Redis: the real embedded server
import uuid  # noqa: E402  # grouped with the fixtures that use it
from collections.abc import AsyncIterator  # noqa: E402

import pytest_asyncio  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from omegafarm.store import RedisClient, RedisSettings  # noqa: E402


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RedisClient]:
    """One embedded Valkey server for the whole session, owned by this client."""
    settings = RedisSettings(data_dir=tmp_path_factory.mktemp("valkey"), farm="session")
    client = RedisClient(settings, metrics_registry=CollectorRegistry())
    await client.initialize()
    yield client
    await client.shutdown()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisClient) -> str:
    """A URL of the session server (contains its password)."""
    assert redis_server.embedded is not None
    return redis_server.embedded.address.url()


@pytest_asyncio.fixture(loop_scope="session")
async def redis_client(redis_url: str) -> AsyncIterator[RedisClient]:
    """A RedisClient on the session server with a namespace (farm) of its own."""
    farm = "t" + uuid.uuid4().hex[:12]
    client = RedisClient(
        RedisSettings(url=SecretStr(redis_url), farm=farm), metrics_registry=CollectorRegistry()
    )
    await client.initialize()
    yield client
    keys = await client.scan("")
    if keys:
        await client.delete(*keys)
    await client.shutdown()
