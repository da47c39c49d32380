"""api: the FastAPI application, the service that serves it, and alerting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.api.alerting import AlertEvent, AlertingService
    from omegafarm.api.app import create_app
    from omegafarm.api.config import AlertRule, AlertSettings, ApiSettings
    from omegafarm.api.server import ApiService
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.api.alerting": (
                "AlertEvent",
                "AlertingService",
            ),
            "omegafarm.api.app": ("create_app",),
            "omegafarm.api.config": (
                "AlertRule",
                "AlertSettings",
                "ApiSettings",
            ),
            "omegafarm.api.server": ("ApiService",),
        },
    )

__all__ = [
    "AlertEvent",
    "AlertRule",
    "AlertSettings",
    "AlertingService",
    "ApiService",
    "ApiSettings",
    "create_app",
]
