"""Authentication, authorization, CSRF and per-credential rate limits for every route.

Every route carries exactly one :class:`Access` dependency naming the least role it needs
(``PUBLIC`` for health, docs and login); the role-matrix test walks the route table and fails
on a route without one. A caller proves who they are with ``Authorization: Bearer omg_...``
or with the browser session cookie; with the cookie, unsafe methods also need the CSRF token
in the ``X-CSRF-Token`` header, equal to the ``omega_csrf`` cookie (signed double submit).
Each authenticated request spends one unit of its credential's GCRA bucket in Redis; an
empty bucket answers 429 with ``Retry-After`` (never a wait: the API must not queue). To keep
a Redis round trip off most requests, a process reserves a few units at once (an eighth of
the burst, at most 64) and spends them locally for up to a second; units are reserved in Redis
before they are spent, so a credential never gets more than its limit across processes, at
worst a few fewer.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import structlog
from fastapi import HTTPException
from starlette.requests import HTTPConnection

from omegafarm.core.errors import ServiceStateError, StoreError
from omegafarm.core.service import ServiceState
from omegafarm.security import AuthenticationError, Principal, Role, SecurityService
from omegafarm.store import RateSpec, keys

SESSION_COOKIE = "omega_session"
CSRF_COOKIE = "omega_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RUNNING = (ServiceState.RUNNING, ServiceState.DEGRADED)
_log = structlog.get_logger("omegafarm", service="api")


def security_service(request: HTTPConnection) -> SecurityService:
    """The running SecurityService, or 503 (the API cannot tell who anyone is without it)."""
    registry = request.app.state.registry
    if "security" in registry:
        service = registry.get("security")
        if isinstance(service, SecurityService) and service.state in _RUNNING:
            return service
    raise HTTPException(503, "security service not running: nobody can be authenticated")


def client_address(request: HTTPConnection) -> str:
    """The client's address: the TCP peer's, or, when the peer is one of the configured
    ``api.trusted_proxies``, the address that proxy forwarded (uvicorn rewrites the scope for
    those peers only; by default no peer is trusted and X-Forwarded-For is ignored)."""
    return request.client.host if request.client else "unknown"


class Access:
    """A route's declared access level: ``role`` None is public; else at least ``role``."""

    def __init__(self, role: Role | None) -> None:
        self.role = role

    def __repr__(self) -> str:
        return f"Access({'public' if self.role is None else self.role.label})"

    async def __call__(self, request: HTTPConnection) -> Principal | None:
        if self.role is None:
            return None
        service = security_service(request)
        principal = await _authenticate(request, service)
        await _spend_request_unit(request, service, principal.credential_id)
        if not principal.allows(self.role):
            await service.audit.append(
                "access_denied",
                actor=principal.user,
                outcome="denied",
                path=request.url.path,
                method=_method(request),
                needed=self.role.label,
            )
            raise HTTPException(403, f"this needs the {self.role.label} role")
        request.state.principal = principal
        return principal


PUBLIC = Access(None)
VIEWER = Access(Role.VIEWER)
TRADER = Access(Role.TRADER)
ADMIN = Access(Role.ADMIN)


def presented_credential(conn: HTTPConnection) -> tuple[str, str]:
    """The credential a request presents and its kind: a bearer token (``omg``) from the
    Authorization header, else the session cookie (``oms``); AuthenticationError if neither."""
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise AuthenticationError("use 'Authorization: Bearer <token>'")
        return value.strip(), "omg"
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise AuthenticationError("authentication required: a Bearer token or a session")
    return cookie, "oms"


async def _authenticate(request: HTTPConnection, service: SecurityService) -> Principal:
    try:
        value, kind = presented_credential(request)
        principal = service.authenticate(value, kind)
        if kind == "omg":  # a bearer token: no cookie, so no CSRF or Origin question
            return principal
        cookie = value
    except AuthenticationError as exc:
        _log.info("authentication_failed", path=request.url.path, reason=str(exc))
        await _spend_rate_limit(service, keys.authfail_bucket(client_address(request)), 1.0)
        await service.audit.append(
            "auth_failed",
            actor=client_address(request),
            outcome="denied",
            path=request.url.path,
            reason=str(exc),
        )
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    if request.scope["type"] == "websocket":
        if not _same_origin(request):  # browsers cannot add headers to a WebSocket handshake
            await service.audit.append(
                "csrf_rejected", actor=principal.user, outcome="denied", path=request.url.path
            )
            raise HTTPException(403, "cross-origin WebSocket with a session cookie")
    elif _method(request) not in SAFE_METHODS and not service.csrf_ok(
        cookie, request.headers.get(CSRF_HEADER), request.cookies.get(CSRF_COOKIE)
    ):
        await service.audit.append(
            "csrf_rejected", actor=principal.user, outcome="denied", path=request.url.path
        )
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header for this session")
    return principal


def _method(conn: HTTPConnection) -> str:
    return str(conn.scope.get("method", "GET"))


def _same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get("origin")
    host = conn.headers.get("host")
    return origin is not None and host is not None and origin.split("://", 1)[-1] == host


BATCH_MAX_UNITS = 64
BATCH_LIFETIME_S = 1.0


@dataclass
class _Batch:
    units: int
    until_s: float


class RateBudget:
    """Units of per-credential buckets this process reserved in Redis and not yet spent."""

    def __init__(self) -> None:
        self._batches: dict[str, _Batch] = {}
        self.fetching: dict[str, asyncio.Task[None]] = {}  # one batch request per bucket

    def take(self, bucket: str, now_s: float) -> int | None:
        """Spend one locally reserved unit of ``bucket``: the units left, or None if none."""
        batch = self._batches.get(bucket)
        if batch is None or batch.units <= 0 or batch.until_s <= now_s:
            return None
        batch.units -= 1
        return batch.units

    def add(self, bucket: str, units: int, now_s: float) -> None:
        """Keep ``units`` just reserved for later requests of ``bucket``."""
        if len(self._batches) > 10_000:
            self._batches.clear()
        batch = self._batches.get(bucket)
        left = batch.units if batch is not None and batch.until_s > now_s else 0
        self._batches[bucket] = _Batch(left + units, now_s + BATCH_LIFETIME_S)


def rate_budget(request: HTTPConnection) -> RateBudget:
    """This app's :class:`RateBudget`."""
    budget = getattr(request.app.state, "rate_budget", None)
    if not isinstance(budget, RateBudget):
        budget = request.app.state.rate_budget = RateBudget()
    return budget


async def _spend_request_unit(
    request: HTTPConnection, service: SecurityService, credential_id: str
) -> None:
    """One unit of the credential's bucket: from the local batch, else from Redis.

    When half a batch is left the next one is reserved in the background, so a steady
    client rarely waits for Redis; requests that find the batch empty while it is being
    reserved wait for that one round trip instead of making their own.
    """
    bucket = keys.api_bucket(credential_id)
    budget = rate_budget(request)
    if take_reserved_unit(budget, service, bucket):
        return
    if bucket in budget.fetching:
        await asyncio.shield(budget.fetching[bucket])
        if take_reserved_unit(budget, service, bucket):
            return
    size = _batch_size(service)
    if size > 1 and await _spend_rate_limit(service, bucket, float(size), refuse=False):
        budget.add(bucket, size - 1, time.monotonic())
        return
    await _spend_rate_limit(service, bucket, 1.0)  # the bucket is (nearly) empty: exact check


def _batch_size(service: SecurityService) -> int:
    return max(1, min(BATCH_MAX_UNITS, int(service.settings.rate_limit_burst // 8)))


def take_reserved_unit(budget: RateBudget, service: SecurityService, bucket: str) -> bool:
    """Spend one unit this process already reserved in Redis for ``bucket`` (False: none
    left, nothing spent). When half a batch is gone, the next is reserved in the background."""
    left = budget.take(bucket, time.monotonic())
    if left is None:
        return False
    size = _batch_size(service)
    if size > 1 and left <= size // 2 and bucket not in budget.fetching:
        task = asyncio.create_task(_reserve_batch(service, budget, bucket, size))
        budget.fetching[bucket] = task
        task.add_done_callback(lambda _: budget.fetching.pop(bucket, None))
    return True


async def _reserve_batch(
    service: SecurityService, budget: RateBudget, bucket: str, size: int
) -> None:
    """Reserve the next batch in the background; a short bucket simply leaves none."""
    try:
        if await _spend_rate_limit(service, bucket, float(size), refuse=False):
            budget.add(bucket, size, time.monotonic())
    except Exception as exc:  # a background task must not die unnoticed: log it
        _log.warning("rate_limit_prefetch_failed", error_class=type(exc).__name__)


async def _spend_rate_limit(
    service: SecurityService, bucket: str, cost: float, *, refuse: bool = True
) -> bool:
    """``cost`` units of ``bucket``; when it is short, 429 with Retry-After (or False when
    not ``refuse``). No Redis: no limit."""
    redis = service.redis
    if redis is None or redis.state not in _RUNNING:
        return True
    s = service.settings
    spec = RateSpec(limit=s.rate_limit_per_min, period_s=60.0, burst=s.rate_limit_burst)
    try:
        reservation = await redis.ratelimit_acquire(bucket, spec, cost, max_wait_s=0)
    except (ServiceStateError, StoreError) as exc:  # abuse protection fails open; auth does not
        _log.warning("rate_limit_unavailable", bucket=bucket.split(":", 1)[0], error=str(exc))
        return True
    if not reservation.reserved and not refuse:
        return False
    if not reservation.reserved:
        retry_after = max(1, math.ceil(reservation.wait_s))
        raise HTTPException(
            429, "rate limit reached; retry later", headers={"Retry-After": str(retry_after)}
        )
    return True


async def spend_login_attempt(request: HTTPConnection, service: SecurityService) -> None:
    """Login attempts per client address: a password guesser meets 429 quickly."""
    redis = service.redis
    if redis is None or redis.state not in _RUNNING:
        return
    per_min = service.settings.login_attempts_per_min
    spec = RateSpec(limit=per_min, period_s=60.0, burst=max(1.0, per_min / 2))
    reservation = await redis.ratelimit_acquire(
        keys.login_bucket(client_address(request)), spec, 1.0, max_wait_s=0
    )
    if not reservation.reserved:
        retry_after = max(1, math.ceil(reservation.wait_s))
        raise HTTPException(
            429, "too many login attempts; retry later", headers={"Retry-After": str(retry_after)}
        )
