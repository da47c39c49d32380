"""Settings of the HTTP API (section ``[api]``) and of alerting (section ``[alerts]``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class ApiSettings(BaseModel):
    """Where the API listens. Loopback by default; a public address needs TLS or a flag.

    ``trusted_proxies``: addresses or networks (``10.0.0.0/8``) of reverse proxies whose
    ``X-Forwarded-For``/``X-Forwarded-Proto`` headers are believed. Empty (the default): no
    one's, not even loopback's, so a client cannot pick the address that the login limit and
    the audit log see. ``max_body_bytes``: a request body larger than this is refused with 413
    before it is read whole. ``ticker_local_ttl_s``: how long each process reuses a ticker it
    got from the Exchange Service's shared cache (``exchange.ticker_ttl_s``) before asking
    again (in the background, serving the old copy for as long again meanwhile).
    ``health_refresh_s``: how often the background task re-checks every service for
    ``/health`` and ``/readyz``.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    allow_public: bool = False
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    stop_timeout_s: float = Field(default=3.0, gt=0, le=60)
    ws_queue_size: int = Field(default=256, ge=1, le=100_000)
    ticker_local_ttl_s: float = Field(default=0.25, ge=0, le=60)
    trusted_proxies: list[str] = Field(default_factory=list, max_length=100)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    health_refresh_s: float = Field(default=1.0, gt=0, le=3600)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"api.trusted_proxies: {entry!r} is not an IP address or network"
                ) from None
        return value

    @model_validator(mode="after")
    def _public_needs_tls_or_consent(self) -> ApiSettings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("set both tls_certfile and tls_keyfile, or neither")
        if not is_loopback(self.host) and self.tls_certfile is None and not self.allow_public:
            raise ValueError(
                f"refusing to listen on {self.host} without TLS: set api.tls_certfile and "
                "api.tls_keyfile, or api.allow_public = true if a TLS proxy sits in front"
            )
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AlertRule(BaseModel):
    """One alert condition, true for at least ``for_s`` seconds before it fires.

    ``unavailable``: the service named ``service`` is not ready (Redis or exchange unreachable).
    ``metric``: the Prometheus samples named ``metric`` (summed over those carrying ``labels``)
    compared with ``threshold``; ``mode = "rate"`` uses their per-second increase instead
    (error rate), ``"value"`` the value itself (bot drawdown, rate-limit budget used).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: Literal["unavailable", "metric"]
    service: str | None = None
    metric: str | None = Field(default=None, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    labels: dict[str, str] = Field(default_factory=dict)
    mode: Literal["value", "rate"] = "value"
    op: Literal[">", "<"] = ">"
    threshold: float = 0.0
    for_s: float = Field(default=0.0, ge=0)
    severity: Literal["info", "warning", "critical"] = "warning"

    @model_validator(mode="after")
    def _target(self) -> AlertRule:
        if self.kind == "unavailable" and not self.service:
            raise ValueError(f"alert {self.name}: an 'unavailable' rule needs service")
        if self.kind == "metric" and not self.metric:
            raise ValueError(f"alert {self.name}: a 'metric' rule needs metric")
        return self


def _default_rules() -> list[AlertRule]:
    return [
        AlertRule(name="redis-unreachable", kind="unavailable", service="redis", for_s=30),
        AlertRule(name="exchange-unreachable", kind="unavailable", service="exchange", for_s=30),
        AlertRule(  # a deaf bot: no candle for 3 of its timeframes (see bots.staleness)
            name="bots-silent", kind="metric", metric="omega_farm_bots_silent", threshold=0.0
        ),
        AlertRule(
            name="error-rate",
            kind="metric",
            metric="omega_service_errors_total",
            mode="rate",
            threshold=1.0,
            for_s=60,
        ),
        AlertRule(
            name="ledger-divergence",
            kind="metric",
            metric="omega_farm_bots_diverged",
            threshold=0.0,
            for_s=0,
        ),
    ]


class AlertSettings(BaseModel):
    """Alert rules, how often they are evaluated and where notifications go (the log always)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    interval_s: float = Field(default=5.0, gt=0, le=3600)
    webhook_url: SecretStr | None = None
    discord_webhook_url: SecretStr | None = None
    repeat_after_s: float | None = Field(default=None, gt=0)
    notify_timeout_s: float = Field(default=5.0, gt=0, le=60)
    rules: list[AlertRule] = Field(default_factory=_default_rules)
