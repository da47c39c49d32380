"""Settings of the Redis Client Service (section ``[redis]``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SCHEMES = (
    "redis", "rediss", "unix", "valkey", "valkeys",
    "redis+sentinel", "rediss+sentinel", "valkey+sentinel", "valkeys+sentinel",
    "redis+cluster", "rediss+cluster", "valkey+cluster", "valkeys+cluster",
)  # fmt: skip


class RedisSettings(BaseModel):
    """Where Redis is and how to talk to it.

    With ``url`` unset the service starts the embedded Valkey server (data in ``data_dir``).
    ``url`` accepts ``redis://``, ``rediss://`` (TLS) and ``unix://`` URLs; it is a secret
    because it usually carries a password. High availability (see docs/store.md):

    * Sentinel: ``redis+sentinel://[:password@]host:port[,host:port...]/master_name[/db]``, or
      ``sentinels = ["host:port", ...]`` with ``master_name`` (and ``password`` for the master,
      ``sentinel_password`` if the sentinels require one);
    * Cluster: ``redis+cluster://[:password@]host:port[,host:port...]``, or ``cluster = true``
      with a ``redis://`` URL of any node.
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
    cluster: bool = False
    sentinels: list[str] = Field(default_factory=list)
    master_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    password: SecretStr | None = None
    sentinel_password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = value.get_secret_value().split("://", 1)[0]
        if scheme not in SCHEMES:
            raise ValueError(
                f"scheme {scheme!r} is not one of redis, rediss, unix, redis+sentinel,"
                " redis+cluster (or their valkey/TLS spellings)"
            )
        return value

    @field_validator("sentinels")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for item in value:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"sentinel {item!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _one_topology(self) -> RedisSettings:
        scheme = "" if self.url is None else self.url.get_secret_value().split("://", 1)[0]
        if self.sentinels and not self.master_name:
            raise ValueError("sentinels are set but master_name is not: name the master group")
        if self.sentinels and self.url is not None:
            raise ValueError("set either url or sentinels, not both")
        if self.cluster and (self.sentinels or scheme.endswith("+sentinel")):
            raise ValueError("cluster = true cannot be combined with sentinels")
        if self.cluster and self.url is None:
            raise ValueError("cluster = true needs a url of one cluster node")
        if (self.password is not None or self.master_name) and not self.sentinels:
            raise ValueError(
                "password and master_name go with sentinels; with a url, put them in the url"
            )
        if self.sentinel_password is not None and self.topology != "sentinel":
            raise ValueError("sentinel_password needs sentinels or a redis+sentinel:// url")
        if self.cluster and scheme == "unix":
            raise ValueError("cluster = true needs a redis:// URL (cluster nodes talk TCP)")
        return self

    @property
    def topology(self) -> str:
        """``embedded``, ``standalone``, ``sentinel`` or ``cluster``."""
        scheme = "" if self.url is None else self.url.get_secret_value().split("://", 1)[0]
        if self.sentinels or scheme.endswith("+sentinel"):
            return "sentinel"
        if self.cluster or scheme.endswith("+cluster"):
            return "cluster"
        return "embedded" if self.url is None else "standalone"
