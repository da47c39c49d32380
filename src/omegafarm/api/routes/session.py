"""Browser sessions: log in with a password, log out, and who am I.

The session cookie is ``Secure; HttpOnly; SameSite=Strict``; the CSRF cookie is readable by
the page's script (not HttpOnly) so that it can echo it in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from omegafarm.api.auth import (
    CSRF_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    VIEWER,
    client_address,
    security_service,
    spend_login_attempt,
)
from omegafarm.security import AuthenticationError, Principal

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Login(BaseModel):
    """User name and password."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=1, max_length=1024)


@router.post("/login", dependencies=[Depends(PUBLIC)], summary="Open a browser session")
async def login(request: Request, body: Login) -> JSONResponse:
    service = security_service(request)
    await spend_login_attempt(request, service)
    try:
        session = await service.login(
            body.user, body.password.get_secret_value(), source=client_address(request)
        )
    except AuthenticationError as exc:
        raise HTTPException(401, str(exc)) from None
    p = session.principal
    response = JSONResponse(
        {
            "user": p.user,
            "role": p.role.label,
            "csrf_token": session.csrf,
            "expires_ms": session.expires_ms,
        }
    )
    max_age = int(service.settings.session_ttl_s)
    secure = service.settings.cookie_secure
    response.set_cookie(
        SESSION_COOKIE,
        session.cookie.value,
        max_age=max_age,
        secure=secure,
        httponly=True,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf,
        max_age=max_age,
        secure=secure,
        httponly=False,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout", summary="End the browser session")
async def logout(
    request: Request, who: Annotated[Principal | None, Depends(VIEWER)]
) -> JSONResponse:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await security_service(request).logout(cookie)
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=True, samesite="strict")
    return response


@router.get("/me", summary="Who the caller is")
async def me(who: Annotated[Principal | None, Depends(VIEWER)]) -> dict[str, Any]:
    if who is None:  # VIEWER always yields a principal; this keeps the type honest
        raise HTTPException(401, "authentication required")
    return {"user": who.user, "role": who.role.label, "via": who.via}
