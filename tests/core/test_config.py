from __future__ import annotations

from pathlib import Path

import pytest

from omegafarm.core.errors import ConfigError
from omegafarm.settings import load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "omega.toml"
    path.write_text(text)
    return path


def test_defaults_apply_without_file_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMEGA_API__PORT", raising=False)
    settings = load()
    assert settings.api.port == 8000
    assert settings.api.host == "127.0.0.1"
    assert settings.redis.url is None


def test_file_overrides_defaults(tmp_path: Path) -> None:
    settings = load(write(tmp_path, "[api]\nport = 9001\n[redis]\nfarm = 'alpha'\n"))
    assert settings.api.port == 9001
    assert settings.redis.farm == "alpha"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMEGA_API__PORT", "9002")
    settings = load(write(tmp_path, "[api]\nport = 9001\n"))
    assert settings.api.port == 9002


def test_arguments_override_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMEGA_API__PORT", "9002")
    settings = load(write(tmp_path, "[api]\nport = 9001\n"), {"api": {"port": 9003}})
    assert settings.api.port == 9003


def test_config_file_can_come_from_omega_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMEGA_CONFIG", str(write(tmp_path, "[redis]\nfarm = 'beta'\n")))
    assert load().redis.farm == "beta"


def test_bad_value_in_file_names_key_file_and_allowed_range(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 70000\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "api.port" in message
    assert str(path) in message
    assert "65535" in message


def test_bad_value_in_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMEGA_API__PORT", "eighty")
    with pytest.raises(ConfigError) as info:
        load()
    assert "api.port" in str(info.value)
    assert "environment variable OMEGA_API__PORT" in str(info.value)


def test_unknown_key_is_rejected_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.prot: .*not known"):
        load(write(tmp_path, "[api]\nprot = 1\n"))


def test_wrong_choice_lists_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"log\.format.*'console' or 'json'"):
        load(write(tmp_path, "[log]\nformat = 'xml'\n"))


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[api\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml")


def test_public_bind_without_tls_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without TLS"):
        load(overrides={"api": {"host": "0.0.0.0"}})


def test_secret_values_are_masked_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMEGA_REDIS__URL", "http://user:hunter2-secret@host")
    with pytest.raises(ConfigError) as info:
        load()
    assert "hunter2-secret" not in str(info.value)
    assert "redis.url" in str(info.value)


def test_an_older_variable_name_ranks_below_the_tree_and_above_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "[vault]\npath = '/from/file.json'\n")
    monkeypatch.setenv("OMEGA_VAULT_PATH", "/from/old/variable.json")
    assert load(config).vault.path == Path("/from/old/variable.json")
    monkeypatch.setenv("OMEGA_VAULT__PATH", "/from/tree/variable.json")
    assert load(config).vault.path == Path("/from/tree/variable.json")


def test_an_empty_older_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMEGA_VAULT__PASSPHRASE", raising=False)
    monkeypatch.setenv("OMEGA_VAULT_PASSPHRASE", "")
    assert load().vault.passphrase is None
