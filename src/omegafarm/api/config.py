"""Settings of the HTTP API (section ``[api]``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ApiSettings(BaseModel):
    """Where the API listens. Loopback by default; a public address needs TLS or a flag."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    allow_public: bool = False
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    stop_timeout_s: float = Field(default=3.0, gt=0, le=60)
    ws_queue_size: int = Field(default=256, ge=1, le=100_000)

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
