"""api: the FastAPI application and the service that serves it."""

from omegafarm.api.app import create_app
from omegafarm.api.config import ApiSettings
from omegafarm.api.server import ApiService

__all__ = ["ApiService", "ApiSettings", "create_app"]
