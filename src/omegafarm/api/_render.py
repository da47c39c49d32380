"""Service lookup at request time and conversion of our result objects to JSON.

Services come from the registry when a request arrives, so a farm without (say) the bot farm
still serves everything else and answers 503 for the missing part.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import Any, TypeVar

import numpy as np
from fastapi import HTTPException
from starlette.requests import HTTPConnection

from omegafarm.core.service import BaseService, ServiceState

S = TypeVar("S", bound=BaseService[Any])
_RUNNING = (ServiceState.RUNNING, ServiceState.DEGRADED)


def service(request: HTTPConnection, name: str, cls: type[S], *, what: str | None = None) -> S:
    """The running service ``name`` of type ``cls``, or a 503 problem that says why."""
    registry = request.app.state.registry
    label = what or f"{name} service"
    if name not in registry:
        raise HTTPException(503, f"{label} not running: it is not configured in this farm")
    found = registry.get(name)
    if not isinstance(found, cls):
        raise HTTPException(503, f"{label} not running: unexpected service type")
    if found.state not in _RUNNING:
        raise HTTPException(503, f"{label} not running: state is {found.state}")
    return found


def jsonable(value: Any, *, drop: frozenset[str] = frozenset({"info"})) -> Any:
    """Plain JSON data from dataclasses, numpy, Decimal (as text), enums and dates.

    Non-finite floats become None; fields named in ``drop`` (raw exchange payloads) go away.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name), drop=drop)
            for f in dataclasses.fields(value)
            if f.name not in drop and not f.name.startswith("_")
        }
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, drop=drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, drop=drop) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.name
    return str(value)
