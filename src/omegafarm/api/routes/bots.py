"""Bot routes: list, status, start, stop, metrics, trades and farm status.

They call the service registered as ``"bots"`` through the typed
:class:`~omegafarm.bots.control.BotControl` protocol; without a running bot farm every route
answers 503 "bot farm not running". Start and stop pass the caller as the acting user: the farm
writes the audit entry, as it does for ``omega bots start/stop``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from omegafarm.api._render import jsonable
from omegafarm.api.auth import TRADER, VIEWER
from omegafarm.bots.control import BotControl
from omegafarm.core.service import ServiceState
from omegafarm.security import Principal

router = APIRouter(prefix="/api/v1/bots", tags=["bots"])
BotId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def _farm(request: Request) -> BotControl:
    registry = request.app.state.registry
    farm = registry.get("bots") if "bots" in registry else None
    if farm is None or farm.state not in (ServiceState.RUNNING, ServiceState.DEGRADED):
        raise HTTPException(503, "bot farm not running")
    if not isinstance(farm, BotControl):
        raise HTTPException(503, "the service named 'bots' is not a bot farm")
    return farm


@router.get("/farm", dependencies=[Depends(VIEWER)], summary="Farm status")
async def farm_status(request: Request) -> Any:
    return jsonable(await _farm(request).farm_status())


@router.get("", dependencies=[Depends(VIEWER)], summary="Every bot")
async def list_bots(request: Request) -> Any:
    return jsonable(await _farm(request).list_bots())


@router.get("/{bot_id}", dependencies=[Depends(VIEWER)], summary="One bot's status")
async def bot_status(request: Request, bot_id: BotId) -> Any:
    return jsonable(await _farm(request).bot_status(bot_id))


@router.get("/{bot_id}/metrics", dependencies=[Depends(VIEWER)], summary="A bot's metrics")
async def bot_metrics(request: Request, bot_id: BotId) -> Any:
    return jsonable(await _farm(request).bot_metrics(bot_id))


@router.get("/{bot_id}/trades", dependencies=[Depends(VIEWER)], summary="A bot's trades")
async def bot_trades(request: Request, bot_id: BotId) -> Any:
    return jsonable(await _farm(request).bot_trades(bot_id))


@router.post("/{bot_id}/start", summary="Start a bot (trader)")
async def start_bot(
    request: Request, bot_id: BotId, who: Annotated[Principal | None, Depends(TRADER)]
) -> Any:
    return jsonable(await _farm(request).start_bot(bot_id, actor=who.user if who else "?"))


@router.post("/{bot_id}/stop", summary="Stop a bot (trader)")
async def stop_bot(
    request: Request, bot_id: BotId, who: Annotated[Principal | None, Depends(TRADER)]
) -> Any:
    return jsonable(await _farm(request).stop_bot(bot_id, actor=who.user if who else "?"))
