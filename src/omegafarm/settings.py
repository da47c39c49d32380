"""The root settings tree: one section per service, composed here and nowhere else.

Precedence: defaults < TOML config file (``--config`` or ``OMEGA_CONFIG``) < environment
(``OMEGA_REDIS__URL``, ``OMEGA_API__PORT``...) < explicit arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from omegafarm.api.config import ApiSettings
from omegafarm.core.config import LogSettings, OmegaSettings, config_file_from_env, load_settings
from omegafarm.store.config import RedisSettings


class Settings(OmegaSettings):
    """Everything ``omega`` can be configured with."""

    log: LogSettings = Field(default_factory=LogSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)


def load(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """The effective settings for this process."""
    return load_settings(
        Settings, config_file=config_file or config_file_from_env(), overrides=overrides
    )
