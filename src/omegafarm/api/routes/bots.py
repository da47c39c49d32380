"""Bot routes: list, status, start, stop, metrics, trades and farm status.

They call the service registered as ``"bots"`` through the small port below (duck-typed,
so the bot farm owns its own types); without that service every route answers 503
"bot farm not running", and a method the farm lacks answers 501.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from omegafarm.api._render import jsonable
from omegafarm.api.auth import TRADER, VIEWER, security_service
from omegafarm.core.service import ServiceState
from omegafarm.security import Principal

router = APIRouter(prefix="/api/v1/bots", tags=["bots"])
BotId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

# The port: method names the bot farm service is expected to offer.
PORT = (
    "farm_status",
    "list_bots",
    "bot_status",
    "bot_metrics",
    "bot_trades",
    "start_bot",
    "stop_bot",
)


async def _call(request: Request, method: str, *args: str) -> Any:
    registry = request.app.state.registry
    farm = registry.get("bots") if "bots" in registry else None
    if farm is None or farm.state not in (ServiceState.RUNNING, ServiceState.DEGRADED):
        raise HTTPException(503, "bot farm not running")
    fn = getattr(farm, method, None)
    if fn is None:
        raise HTTPException(501, f"the bot farm does not offer {method}")
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return jsonable(result)


@router.get("/farm", dependencies=[Depends(VIEWER)], summary="Farm status")
async def farm_status(request: Request) -> Any:
    return await _call(request, "farm_status")


@router.get("", dependencies=[Depends(VIEWER)], summary="Every bot")
async def list_bots(request: Request) -> Any:
    return await _call(request, "list_bots")


@router.get("/{bot_id}", dependencies=[Depends(VIEWER)], summary="One bot's status")
async def bot_status(request: Request, bot_id: BotId) -> Any:
    return await _call(request, "bot_status", bot_id)


@router.get("/{bot_id}/metrics", dependencies=[Depends(VIEWER)], summary="A bot's metrics")
async def bot_metrics(request: Request, bot_id: BotId) -> Any:
    return await _call(request, "bot_metrics", bot_id)


@router.get("/{bot_id}/trades", dependencies=[Depends(VIEWER)], summary="A bot's trades")
async def bot_trades(request: Request, bot_id: BotId) -> Any:
    return await _call(request, "bot_trades", bot_id)


@router.post("/{bot_id}/start", summary="Start a bot (trader)")
async def start_bot(
    request: Request, bot_id: BotId, who: Annotated[Principal | None, Depends(TRADER)]
) -> Any:
    result = await _call(request, "start_bot", bot_id)
    await security_service(request).audit.append(
        "bot_start", actor=who.user if who else "?", bot=bot_id
    )
    return result


@router.post("/{bot_id}/stop", summary="Stop a bot (trader)")
async def stop_bot(
    request: Request, bot_id: BotId, who: Annotated[Principal | None, Depends(TRADER)]
) -> Any:
    result = await _call(request, "stop_bot", bot_id)
    await security_service(request).audit.append(
        "bot_stop", actor=who.user if who else "?", bot=bot_id
    )
    return result
