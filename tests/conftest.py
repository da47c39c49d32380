"""Fixtures shared by the whole suite: the shared data folder and (from tests/store) Redis."""

from __future__ import annotations

import gc
import os
import signal
import sys
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

# ------------------------------------------------------------- how many xdist workers (-n auto)
# pyproject's addopts say `-n auto --dist loadgroup`; xdist asks this hook what "auto" means.
# The whole suite or a folder: WORKERS processes (measured on 2 cores: the tests mostly wait on
# subprocesses, servers and leases, so 3 beat 2; the tests that must not share the machine are
# grouped, see xdist_group). Files or single tests: no workers (no start-up of 3 interpreters
# for a 2-second run). `-n N` on the command line, or PYTEST_XDIST_AUTO_NUM_WORKERS, decide.
WORKERS = 3


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    args = [a for a in config.args if not a.startswith("-")] or ["."]
    paths = [Path(config.invocation_params.dir, a.split("::")[0]) for a in args]
    return WORKERS if any(p.is_dir() for p in paths) else 0


# ------------------------------------------------- a failed test's leftovers stay its own errors
# pytest keeps a failed test's traceback (sys.last_*) until the next test's call, so what the
# failure left unclosed (a Redis connection, a running subprocess) is collected, and reported
# as an unraisable ResourceWarning (an error: filterwarnings = error), in some later, unrelated
# test. Collect it at the failed test's own teardown instead: it is reported there.
# OMEGA_TEST_GC=1 collects after every test: the way to find which test leaks a resource.
_GC_EVERY_TEST = os.environ.get("OMEGA_TEST_GC") == "1"


@pytest.fixture(autouse=True)
def _leftovers_reported_by_their_test() -> Iterator[None]:
    """Torn down after the test's other function fixtures, before pytest's unraisable check."""
    yield
    failed = getattr(sys, "last_value", None) is not None  # set by this test's call if it raised
    if failed:
        for name in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, name):
                delattr(sys, name)
    if failed or _GC_EVERY_TEST:
        gc.collect()


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
