"""Admin routes: users, API tokens and the audit log (admin role)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from omegafarm.api._render import jsonable
from omegafarm.api.auth import ADMIN, security_service
from omegafarm.security import Principal, Role, read_file

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
Admin = Annotated[Principal | None, Depends(ADMIN)]
UserName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
RoleName = Literal["viewer", "trader", "admin"]


class NewUser(BaseModel):
    """A user to create; without a password the user can only use tokens."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    role: RoleName = "viewer"
    password: SecretStr | None = Field(default=None, min_length=8, max_length=1024)


class UserChange(BaseModel):
    """A new role and/or password."""

    model_config = ConfigDict(extra="forbid")

    role: RoleName | None = None
    password: SecretStr | None = Field(default=None, min_length=8, max_length=1024)


class NewToken(BaseModel):
    """A token to create for ``user``."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    label: str = Field(default="", max_length=100)
    ttl_s: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)


def _actor(who: Principal | None) -> str:
    return who.user if who else "?"


def _user_json(user: Any) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role.label,
        "created_ms": user.created_ms,
        "has_password": user.has_password,
    }


@router.get("/users", summary="Every user")
async def users(request: Request, who: Admin) -> list[dict[str, Any]]:
    return [_user_json(u) for u in security_service(request).list_users()]


@router.post("/users", status_code=201, summary="Create a user")
async def add_user(request: Request, body: NewUser, who: Admin) -> dict[str, Any]:
    password = None if body.password is None else body.password.get_secret_value()
    service = security_service(request)
    await service.add_user(body.name, Role.parse(body.role), password, actor=_actor(who))
    return {"name": body.name, "role": body.role}


@router.patch("/users/{name}", summary="Change a user's role or password")
async def change_user(
    request: Request, name: UserName, body: UserChange, who: Admin
) -> dict[str, Any]:
    service = security_service(request)
    await service.update_user(
        name,
        actor=_actor(who),
        role=None if body.role is None else Role.parse(body.role),
        password=None if body.password is None else body.password.get_secret_value(),
        keep_an_admin=True,
    )
    return {"name": name, "updated": True}


@router.delete("/users/{name}", summary="Remove a user and their credentials")
async def remove_user(request: Request, name: UserName, who: Admin) -> dict[str, Any]:
    await security_service(request).remove_user(name, actor=_actor(who), keep_an_admin=True)
    return {"name": name, "removed": True}


@router.get("/tokens", summary="API tokens (prefixes only)")
async def tokens(
    request: Request,
    who: Admin,
    user: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = None,
) -> list[Any]:
    return [jsonable(t) for t in security_service(request).list_tokens(user)]


@router.post("/tokens", status_code=201, summary="Create a token (its value is shown once)")
async def create_token(request: Request, body: NewToken, who: Admin) -> dict[str, Any]:
    issued = await security_service(request).create_token(
        body.user, actor=_actor(who), label=body.label, ttl_s=body.ttl_s
    )
    return {"user": body.user, "prefix": issued.prefix, "token": issued.value}


@router.delete("/tokens/{prefix}", summary="Revoke a token")
async def revoke_token(
    request: Request, prefix: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")], who: Admin
) -> dict[str, Any]:
    info = await security_service(request).revoke_token(prefix, actor=_actor(who))
    data: dict[str, Any] = jsonable(info)
    return data


@router.get("/audit/verify", summary="Verify the audit chain (file and Redis mirror)")
async def audit_verify(request: Request, who: Admin) -> dict[str, Any]:
    result = await security_service(request).audit.verify()
    return {**jsonable(result), "message": result.message}


@router.get("/audit", summary="The latest audit entries")
async def audit_tail(
    request: Request, who: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[Any]:
    path = security_service(request).audit.path
    return [e for e in read_file(path)[-limit:] if e is not None]
