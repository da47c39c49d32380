"""api: the FastAPI application, the service that serves it, and alerting."""

from omegafarm.api.alerting import AlertEvent, AlertingService
from omegafarm.api.app import create_app
from omegafarm.api.config import AlertRule, AlertSettings, ApiSettings
from omegafarm.api.server import ApiService

__all__ = [
    "AlertEvent",
    "AlertRule",
    "AlertSettings",
    "AlertingService",
    "ApiService",
    "ApiSettings",
    "create_app",
]
