"""The root settings tree: one section per service, composed here and nowhere else.

Precedence: defaults < TOML config file (``--config`` or ``OMEGA_CONFIG``) < environment
(``OMEGA_REDIS__URL``, ``OMEGA_API__PORT``...) < explicit arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from omegafarm.api.config import AlertSettings, ApiSettings
from omegafarm.bots.config import FarmSettings
from omegafarm.core.config import LogSettings, OmegaSettings, config_file_from_env, load_settings
from omegafarm.core.tracing import TracingSettings
from omegafarm.cosmic.config import CosmicSettings
from omegafarm.education.config import EducationSettings
from omegafarm.exchange.config import ExchangeSettings, VaultSettings
from omegafarm.security.config import SecuritySettings
from omegafarm.store.config import RedisSettings


class Settings(OmegaSettings):
    """Everything ``omega`` can be configured with."""

    log: LogSettings = Field(default_factory=LogSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    exchange: ExchangeSettings = Field(default_factory=ExchangeSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    cosmic: CosmicSettings = Field(default_factory=CosmicSettings)
    education: EducationSettings = Field(default_factory=EducationSettings)
    bots: FarmSettings = Field(default_factory=FarmSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)

    env_aliases: ClassVar[dict[str, str]] = {  # the vault's variables, older than the tree
        "OMEGA_VAULT_PATH": "vault.path",
        "OMEGA_MASTER_KEY": "vault.master_key",
        "OMEGA_MASTER_KEY_FILE": "vault.master_key_file",
        "OMEGA_VAULT_PASSPHRASE": "vault.passphrase",
    }


def load(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """The effective settings for this process."""
    return load_settings(
        Settings, config_file=config_file or config_file_from_env(), overrides=overrides
    )
