"""RFC 9457 problem details for every error, and the one place our errors become statuses.

Each handler answers ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail`` and ``instance``. Details of our own errors are passed through the log redactor
(an exchange message might quote a URL with a key in it); anything unexpected becomes a bare
500 whose details stay in the server log. No stack trace ever reaches a client.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from omegafarm.api._routes import allowed_methods
from omegafarm.core.errors import (
    ConfigError,
    NotFoundError,
    OmegaError,
    ServiceStateError,
    TransientError,
    ValidationError,
)
from omegafarm.core.logging import Redactor
from omegafarm.exchange import errors as xerr
from omegafarm.security import AuthenticationError, LastAdminError, PermissionDeniedError

PROBLEM_MEDIA_TYPE = "application/problem+json"
_log = structlog.get_logger("omegafarm", service="api")
_redactor = Redactor()

# Most specific first: the first matching class decides the status.
_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (xerr.ExchangeAuthenticationError, 502),  # the exchange refused our key, not the caller's
    (AuthenticationError, 401),
    (LastAdminError, 409),
    (PermissionDeniedError, 403),
    (xerr.OrderNotFoundError, 404),
    (xerr.BadSymbolError, 404),
    (xerr.InsufficientFundsError, 422),
    (xerr.InvalidOrderError, 422),
    (xerr.BadRequestError, 422),
    (xerr.NotSupportedError, 501),
    (xerr.RateLimitedError, 503),
    (NotFoundError, 404),
    (ValidationError, 422),
    (ServiceStateError, 503),
    (TransientError, 503),
    (xerr.ExchangeCallError, 502),
    (ConfigError, 500),
)


def problem(
    status: int,
    detail: str,
    instance: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem document response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _title(status),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def status_of(exc: BaseException) -> int:
    """The HTTP status for one of our errors."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def install_problem_handlers(app: FastAPI) -> None:
    """Errors become problem details; unexpected ones are logged and answered with a bare 500."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:  # Starlette names only the first route's methods
            headers = {
                **(headers or {}),
                "Allow": ", ".join(allowed_methods(request.app, request.url.path)),
            }
        return problem(exc.status_code, str(exc.detail), request.url.path, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        detail = _redactor.redact_text("; ".join(parts))
        return problem(422, detail, request.url.path, title="Invalid request")

    @app.exception_handler(OmegaError)
    async def ours(request: Request, exc: OmegaError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500 and status not in (501, 503):
            _log.warning("request_failed", path=request.url.path, error_class=type(exc).__name__)
        headers = None
        retry_after = getattr(exc, "retry_after_s", None)
        if status == 503 and isinstance(retry_after, int | float) and retry_after > 0:
            headers = {"Retry-After": str(max(1, round(retry_after)))}
        if status == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="omega"'}
        detail = _redactor.redact_text(str(exc)) if status != 500 else "internal error"
        return problem(status, detail, request.url.path, headers=headers)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        _log.error("request_crashed", path=request.url.path, error_class=type(exc).__name__)
        return problem(
            500,
            "the server could not complete the request",
            request.url.path,
            title="Internal error",
        )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
