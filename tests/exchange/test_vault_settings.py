"""``[vault]``: one section, one ``open_vault()``, the same vault for ``omega keys`` and
``omega up``; a live exchange without usable credentials is a health warning."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from omegafarm.cli import app
from omegafarm.core.health import HealthState
from omegafarm.exchange import ExchangeService
from omegafarm.exchange.vault import VaultKeyError, open_vault
from omegafarm.runtime import build_registry
from omegafarm.settings import Settings, load

API_KEY = "vault-settings-key-7c7c"
API_SECRET = "vault-settings-secret-d1d1"
VAULT_ENV = (
    "OMEGA_MASTER_KEY",
    "OMEGA_MASTER_KEY_FILE",
    "OMEGA_VAULT_PASSPHRASE",
    "OMEGA_VAULT_PATH",
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CliRunner) -> Path:
    """A passphrase vault at a path of its own, named the way users name it."""
    for name in VAULT_ENV:
        monkeypatch.delenv(name, raising=False)
    vault = tmp_path / "keys" / "vault.json"
    monkeypatch.setenv("OMEGA_VAULT_PATH", str(vault))
    monkeypatch.setenv("OMEGA_VAULT_PASSPHRASE", "farm passphrase")
    monkeypatch.setenv("OMEGA_EXCHANGE__OHLCV_CACHE_PATH", str(tmp_path / "ohlcv.sqlite3"))
    monkeypatch.setenv("OMEGA_EXCHANGE__LOAD_MARKETS_ON_START", "false")
    monkeypatch.setenv("OMEGA_REDIS__DATA_DIR", str(tmp_path / "redis"))  # never the user's own
    logging_before = structlog.get_config()
    added = cli.invoke(
        app, ["keys", "add", "binance", "--stdin"], input=f"{API_KEY}\n{API_SECRET}\n\n"
    )
    structlog.configure(**logging_before)  # the run logged onto the runner's closed stream
    assert added.exit_code == 0, added.output
    assert vault.exists()
    return vault


async def _exchange_health(settings: Settings) -> tuple[ExchangeService, HealthState, str]:
    registry = build_registry(settings)
    exchange = registry.get("exchange")
    assert isinstance(exchange, ExchangeService)
    async with registry.get("redis"), exchange:  # the exchange's dependency first, as in up
        health = await exchange.health()
        return exchange, health.state, health.reason


def test_the_old_variables_fill_the_vault_section_and_stay_secret(env: Path) -> None:
    settings = load()
    assert settings.vault.path == env
    assert settings.vault.passphrase is not None
    assert "farm passphrase" not in repr(settings.vault)
    assert [r.exchange for r in open_vault(settings.vault).records()] == ["binance"]


async def test_omega_up_opens_the_passphrase_vault_omega_keys_made(env: Path) -> None:
    settings = load(overrides={"exchange": {"exchange_id": "binance"}})
    _, state, reason = await _exchange_health(settings)
    assert state is HealthState.PASS, reason
    assert "public endpoints only" not in reason


async def test_a_live_exchange_with_a_wrong_passphrase_is_a_health_warning(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMEGA_VAULT_PASSPHRASE", "not the passphrase")
    settings = load(overrides={"exchange": {"exchange_id": "binance"}})
    _, state, reason = await _exchange_health(settings)
    assert state is HealthState.WARN
    assert "public endpoints only" in reason
    assert "wrong passphrase" in reason


async def test_a_live_exchange_without_its_key_in_the_vault_is_a_health_warning(
    env: Path,
) -> None:
    settings = load(overrides={"exchange": {"exchange_id": "kraken"}})
    _, state, reason = await _exchange_health(settings)
    assert state is HealthState.WARN
    assert "no key default/kraken/kraken in vault" in reason


async def test_the_paper_exchange_needs_no_vault(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMEGA_VAULT_PASSPHRASE")
    _, state, reason = await _exchange_health(load())
    assert state is HealthState.PASS, reason


def test_no_master_key_at_all_names_every_way_to_give_one(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMEGA_VAULT_PASSPHRASE")
    with pytest.raises(VaultKeyError, match=r"vault\.master_key_file, vault\.master_key or vault"):
        open_vault(load().vault)
