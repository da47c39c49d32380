"""Settings of the Redis Client Service (section ``[redis]``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class RedisSettings(BaseModel):
    """Where Redis is and how to talk to it.

    With ``url`` unset the service starts the embedded Valkey server (data in ``data_dir``).
    ``url`` accepts ``redis://``, ``rediss://`` (TLS) and ``unix://`` URLs; it is a secret
    because it usually carries a password.
    """

    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = None
    farm: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    data_dir: Path | None = None
    max_connections: int = Field(default=64, ge=1, le=10_000)
    socket_timeout_s: float = Field(default=5.0, gt=0, le=300)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=300)
    reconnect_max_backoff_s: float = Field(default=5.0, gt=0, le=300)
    start_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = value.get_secret_value().split("://", 1)[0]
        if scheme not in ("redis", "rediss", "unix", "valkey", "valkeys"):
            raise ValueError(f"scheme {scheme!r} is not one of redis, rediss, unix")
        return value
