"""Settings of authentication, authorization and the audit log (section ``[security]``)."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from omegafarm.store import keys


def default_data_dir() -> Path:
    """Where users, tokens, the server secret and the audit file live unless configured."""
    return platformdirs.user_data_path("omegafarm") / "security"


class SecuritySettings(BaseModel):
    """Users, tokens, sessions, password hashing, API rate limits and the audit log.

    ``server_secret`` keys the HMAC of every stored token digest; when unset a random one is
    created once in ``data_dir/server.key`` (mode 0600). Argon2id parameters default to the
    RFC 9106 low-memory profile (64 MiB, 3 passes, 4 lanes). ``credential_cache_ttl_s``: how
    long a process may answer from its cache of verified credentials (0: never); revocations
    reach every process through Redis pub/sub at once, this only bounds a lost message.
    """

    model_config = ConfigDict(extra="forbid")

    data_dir: Path | None = None
    server_secret: SecretStr | None = None
    audit_file: Path | None = None
    audit_stream: str = keys.AUDIT_STREAM
    session_ttl_s: float = Field(default=8 * 3600, gt=0, le=30 * 24 * 3600)
    token_ttl_s: float | None = Field(default=None, gt=0)
    cookie_secure: bool = True
    argon2_memory_kib: int = Field(default=65536, ge=8, le=4 * 1024 * 1024)
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)
    max_concurrent_password_checks: int = Field(default=2, ge=1, le=64)
    rate_limit_per_min: float = Field(default=600.0, gt=1)
    rate_limit_burst: float = Field(default=60.0, gt=0)
    login_attempts_per_min: float = Field(default=10.0, gt=1)
    credential_cache_ttl_s: float = Field(default=10.0, ge=0, le=300)

    def resolved_data_dir(self) -> Path:
        """``data_dir`` or the per-user default."""
        return (self.data_dir or default_data_dir()).expanduser()

    def resolved_audit_file(self) -> Path:
        """``audit_file`` or ``<data_dir>/audit.jsonl``."""
        return self.audit_file or self.resolved_data_dir() / "audit.jsonl"
