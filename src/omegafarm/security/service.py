"""SecurityService: users, API tokens, browser sessions, CSRF and the audit log.

The API and the CLI both go through this service, so every change to users and credentials
is validated and audited in one place. Secrets (passwords, tokens, session ids) go in and
come out exactly once (a new token is returned to be shown once); nothing here logs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from omegafarm.core.errors import NotFoundError, StoreError, ValidationError
from omegafarm.core.health import Health
from omegafarm.core.service import BaseService, ServiceState
from omegafarm.security import tokens
from omegafarm.security._cache import CHANNEL, CredentialCache
from omegafarm.security._db import CredentialDB, CredentialRow, UserRow
from omegafarm.security.audit import AuditLog
from omegafarm.security.config import SecuritySettings
from omegafarm.security.errors import AuthenticationError, LastAdminError
from omegafarm.security.passwords import PasswordHasher
from omegafarm.security.roles import Principal, Role
from omegafarm.store import RedisClient, Subscription

_LIVE = (ServiceState.RUNNING, ServiceState.DEGRADED)
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class UserInfo:
    """A user as shown to admins (no password hash)."""

    name: str
    role: Role
    created_ms: int
    has_password: bool


@dataclass(frozen=True)
class TokenInfo:
    """A token as shown to admins (its prefix, never its secret)."""

    prefix: str
    user: str
    label: str
    created_ms: int
    expires_ms: int | None
    revoked: bool


@dataclass(frozen=True)
class Session:
    """A browser session just opened: the cookie value and its CSRF token (shown once)."""

    principal: Principal
    cookie: tokens.IssuedSecret
    csrf: str
    expires_ms: int

    def __repr__(self) -> str:
        return f"Session(user={self.principal.user!r}, prefix={self.cookie.prefix!r})"


class SecurityService(BaseService[SecuritySettings]):
    """Authentication, authorization data and the audit log."""

    name = "security"

    def __init__(
        self,
        settings: SecuritySettings,
        *,
        redis: RedisClient | None = None,
        clock: Callable[[], float] = time.time,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(settings, metrics_registry=metrics_registry)
        self.depends_on = ("redis",) if redis is not None else ()  # type: ignore[misc]  # per-instance
        self._redis = redis
        self._clock = clock
        self._db: CredentialDB | None = None
        self._secret = b""
        self.credential_cache = CredentialCache(settings.credential_cache_ttl_s)
        self._listener: asyncio.Task[None] | None = None
        self.passwords = PasswordHasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            max_concurrent=settings.max_concurrent_password_checks,
        )
        self.audit = AuditLog(
            settings.resolved_audit_file(),
            redis=redis,
            stream=settings.audit_stream,
            clock=clock,
        )

    @property
    def redis(self) -> RedisClient | None:
        """The Redis client used for the audit mirror and rate limits, if any."""
        return self._redis

    async def _on_initialize(self) -> None:
        data_dir = self.settings.resolved_data_dir()
        self._secret = _server_secret(self.settings)
        self._db = CredentialDB(data_dir / "credentials.sqlite3")
        self._db.purge_expired(self._now_ms())
        if self._redis is not None and self.settings.credential_cache_ttl_s > 0:
            subscription = self._redis.subscription()
            await subscription.subscribe(CHANNEL)  # before the first request can be cached
            self._listener = asyncio.create_task(
                self._listen(subscription), name="security-invalidations"
            )

    async def _on_shutdown(self) -> None:
        self.credential_cache.enabled = False
        self.credential_cache.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._db is not None:
            self._db.close()

    async def _listen(self, first: Subscription) -> None:
        """Apply invalidations published by any process, resubscribing when the link is lost.

        The cache is on only while subscribed; every (re)subscription starts it empty, since
        messages published in between are lost.
        """
        cache = self.credential_cache
        subscription: Subscription | None = first
        failing = False
        while True:
            try:
                redis = self._redis
                if subscription is None and redis is not None and redis.state in _LIVE:
                    subscription = redis.subscription()
                    await subscription.subscribe(CHANNEL)
                if subscription is not None:
                    cache.clear()
                    cache.enabled = True
                    failing = False
                    await self._apply_invalidations(subscription)
            except StoreError as exc:  # Redis gone: no cache until subscribed again
                if not failing:  # once per outage, not once per retry
                    self.handle_error(exc, operation="credential_invalidations")
                failing = True
            finally:
                cache.enabled = False
                cache.clear()
                if subscription is not None:
                    await subscription.close()
                subscription = None
            await asyncio.sleep(1.0)

    async def _apply_invalidations(self, subscription: Subscription) -> None:
        cache = self.credential_cache
        seen_reconnects = subscription.reconnects
        while not subscription.closed:
            message = await subscription.get(timeout_s=1.0)
            if subscription.reconnects != seen_reconnects:  # messages may have been lost
                seen_reconnects = subscription.reconnects
                cache.clear()
                self.log_activity("credential_cache_cleared", reason="resubscribed")
            if message is not None and isinstance(message.data, dict):
                prefix, user = message.data.get("prefix"), message.data.get("user")
                dropped = cache.drop(
                    prefix=prefix if isinstance(prefix, str) else None,
                    user=user if isinstance(user, str) else None,
                )
                self.log_activity(
                    "credential_cache_invalidated", prefix=prefix, user=user, dropped=dropped
                )

    async def _invalidate(self, *, prefix: str | None = None, user: str | None = None) -> None:
        """Drop cached credentials here at once and tell every other process."""
        self.credential_cache.drop(prefix=prefix, user=user)
        if self._redis is None:
            return
        try:
            await self._redis.publish(CHANNEL, {"prefix": prefix, "user": user})
        except StoreError as exc:  # other processes forget it after credential_cache_ttl_s
            self.handle_error(exc, operation="credential_invalidation_publish")

    async def _check_health(self) -> Health:
        users = self.db.user_count()
        return Health(self.name, live=True, ready=True, reason=f"{users} users")

    @property
    def db(self) -> CredentialDB:
        """The credential database (after initialize)."""
        self._require_running()
        if self._db is None:  # pragma: no cover - running implies opened
            raise NotFoundError("security service has no database")
        return self._db

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ------------------------------------------------------------------ users
    async def add_user(self, name: str, role: Role, password: str | None, *, actor: str) -> None:
        """Create a user (password optional: token-only users have none)."""
        if not USER_NAME.match(name):
            raise ValidationError(f"user name {name!r} is invalid: 1-64 of a-z, 0-9, '_', '.', '-'")
        hashed = None if password is None else self.passwords.hash(password)
        if not self.db.insert_user(UserRow(name, int(role), hashed, self._now_ms())):
            await self.audit.append("user_add", actor=actor, outcome="failed", user=name)
            raise ValidationError(f"user {name!r} already exists")
        await self.audit.append("user_add", actor=actor, user=name, role=role.label)

    async def update_user(
        self,
        name: str,
        *,
        actor: str,
        role: Role | None = None,
        password: str | None = None,
        keep_an_admin: bool = False,
    ) -> None:
        """Change a user's role and/or password.

        ``keep_an_admin`` (the API sets it): refuse with :class:`LastAdminError` to demote the
        last admin. The CLI leaves it off: whoever runs it on the farm's machine already owns
        the credential file, and it stays the way back.
        """
        hashed = None if password is None else self.passwords.hash(password)
        try:
            updated = self.db.update_user(
                name,
                role=None if role is None else int(role),
                password_hash=hashed,
                keep_role=int(Role.ADMIN) if keep_an_admin else None,
            )
        except LastAdminError:
            await self.audit.append("user_update", actor=actor, outcome="denied", user=name)
            raise
        if not updated:
            raise NotFoundError(f"no user named {name!r}")
        if role is not None:
            await self._invalidate(user=name)
        await self.audit.append(
            "user_update",
            actor=actor,
            user=name,
            role=None if role is None else role.label,
            password_changed=password is not None,
        )

    async def remove_user(self, name: str, *, actor: str, keep_an_admin: bool = False) -> None:
        """Delete a user with all their tokens and sessions (``keep_an_admin``: as above)."""
        try:
            removed = self.db.delete_user(
                name, keep_role=int(Role.ADMIN) if keep_an_admin else None
            )
        except LastAdminError:
            await self.audit.append("user_remove", actor=actor, outcome="denied", user=name)
            raise
        if not removed:
            raise NotFoundError(f"no user named {name!r}")
        await self._invalidate(user=name)
        await self.audit.append("user_remove", actor=actor, user=name)

    def list_users(self) -> list[UserInfo]:
        """Every user, by name."""
        return [
            UserInfo(u.name, Role(u.role), u.created_ms, u.password_hash is not None)
            for u in self.db.users()
        ]

    # ------------------------------------------------------------------ tokens
    async def create_token(
        self, user: str, *, actor: str, label: str = "", ttl_s: float | None = None
    ) -> tokens.IssuedSecret:
        """A new API token for ``user``: its value is returned once and never stored."""
        if self.db.user(user) is None:
            raise NotFoundError(f"no user named {user!r}")
        ttl = ttl_s if ttl_s is not None else self.settings.token_ttl_s
        issued = tokens.issue(tokens.TOKEN_KIND)
        now = self._now_ms()
        self.db.insert_credential(
            CredentialRow(
                issued.prefix,
                issued.kind,
                user,
                tokens.digest(self._secret, issued.value),
                label[:100],
                now,
                None if ttl is None else now + int(ttl * 1000),
                False,
            )
        )
        await self.audit.append("token_create", actor=actor, user=user, prefix=issued.prefix)
        self.log_activity("token_created", user=user, prefix=issued.prefix, actor=actor)
        return issued

    async def revoke_token(self, prefix: str, *, actor: str) -> TokenInfo:
        """Revoke a token (or session) by its public prefix."""
        row = self.db.revoke(prefix)
        if row is None:
            raise NotFoundError(f"no token with prefix {prefix!r}")
        await self._invalidate(prefix=prefix)
        await self.audit.append("token_revoke", actor=actor, user=row.user, prefix=prefix)
        return _token_info(row)

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        """API tokens (of one user, or all), oldest first."""
        return [_token_info(r) for r in self.db.credentials(tokens.TOKEN_KIND, user)]

    # ------------------------------------------------------------------ authentication
    def cached_principal(self, value: str, kind: str) -> Principal | None:
        """The principal behind ``value`` if this process verified it recently and nothing
        invalidated it since (the credential cache; no SQLite, no HMAC), else None."""
        cached = self.credential_cache.get(value, self._now_ms())
        return cached if cached is not None and value.startswith(kind) else None

    def authenticate(self, value: str, kind: str) -> Principal:
        """The principal behind a bearer token (``omg``) or session id (``oms``)."""
        cached = self.cached_principal(value, kind)
        if cached is not None:
            return cached
        now_ms = self._now_ms()
        generation = self.credential_cache.generation
        parsed = tokens.parse(value)
        if parsed is None or parsed[0] != kind:
            raise AuthenticationError("malformed credential")
        found = self.db.credential_with_role(parsed[1])
        if found is None:
            raise AuthenticationError("unknown credential")
        row, role = found
        if row.kind != kind or not tokens.matches(self._secret, value, row.digest):
            raise AuthenticationError("unknown credential")
        if row.revoked:
            raise AuthenticationError(f"credential {row.prefix} was revoked")
        if row.expires_ms is not None and row.expires_ms <= now_ms:
            raise AuthenticationError(f"credential {row.prefix} has expired")
        via = "token" if kind == tokens.TOKEN_KIND else "session"
        principal = Principal(row.user, Role(role), via, row.prefix)
        self.credential_cache.put(value, principal, row.expires_ms, generation)
        return principal

    async def login(self, name: str, password: str, *, source: str) -> Session:
        """Check a password (argon2id, bounded) and open a browser session."""
        user = self.db.user(name) if USER_NAME.match(name) else None
        ok = await self.passwords.verify(None if user is None else user.password_hash, password)
        if user is None or not ok:
            await self.audit.append("login", actor=name[:64], outcome="denied", source=source)
            self._log.warning("login_failed", user=name[:64], source=source)
            raise AuthenticationError("wrong user name or password")
        issued = tokens.issue(tokens.SESSION_KIND)
        now = self._now_ms()
        expires = now + int(self.settings.session_ttl_s * 1000)
        self.db.insert_credential(
            CredentialRow(
                issued.prefix,
                issued.kind,
                user.name,
                tokens.digest(self._secret, issued.value),
                source[:100],
                now,
                expires,
                False,
            )
        )
        await self.audit.append("login", actor=user.name, source=source, session=issued.prefix)
        self.log_activity("login_succeeded", user=user.name, session=issued.prefix)
        principal = Principal(user.name, Role(user.role), "session", issued.prefix)
        return Session(principal, issued, self.csrf_for(issued.value), expires)

    async def logout(self, session_value: str) -> None:
        """End a session (unknown or malformed ids are ignored)."""
        parsed = tokens.parse(session_value)
        if parsed is None or parsed[0] != tokens.SESSION_KIND:
            return
        row = self.db.credential(parsed[1])
        if row is not None and tokens.matches(self._secret, session_value, row.digest):
            self.db.revoke(row.prefix)
            await self._invalidate(prefix=row.prefix)
            await self.audit.append("logout", actor=row.user, session=row.prefix)

    def csrf_for(self, session_value: str) -> str:
        """The CSRF token bound to a session id."""
        return tokens.csrf_token(self._secret, session_value)

    def csrf_ok(self, session_value: str, header: str | None, cookie: str | None) -> bool:
        """Double-submit check: header equals cookie and both equal the session's token."""
        if not header or not cookie:
            return False
        expected = self.csrf_for(session_value)
        return hmac.compare_digest(header, cookie) and hmac.compare_digest(header, expected)

    def _extra_metrics(self) -> dict[str, Any]:
        return {
            "audit_mirror_failures": self.audit.mirror_failures,
            "credential_cache_entries": len(self.credential_cache),
            "credential_cache_hits": self.credential_cache.hits,
        }


def _token_info(row: CredentialRow) -> TokenInfo:
    return TokenInfo(row.prefix, row.user, row.label, row.created_ms, row.expires_ms, row.revoked)


def _server_secret(settings: SecuritySettings) -> bytes:
    """The configured secret, or the one in ``data_dir/server.key`` (created on first use)."""
    if settings.server_secret is not None:
        value = settings.server_secret.get_secret_value().encode()
        if len(value) < 32:
            raise ValidationError("security.server_secret needs at least 32 characters")
        return value
    path = settings.resolved_data_dir() / "server.key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with path.open("x") as f:  # first process wins; the others read its key
            path.chmod(0o600)
            f.write(secrets.token_hex(32))
    except FileExistsError:
        pass
    return path.read_text().strip().encode()
