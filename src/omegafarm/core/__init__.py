"""Core: BaseService, configuration, logging, metrics, health and the error tree.

Imports nothing else from omegafarm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.core.errors import (
        ConfigError,
        DependencyUnavailableError,
        NotFoundError,
        OmegaError,
        SecurityError,
        ServiceError,
        ServiceStateError,
        StoreError,
        StoreUnavailableError,
        TransientError,
        ValidationError,
        is_transient,
    )
    from omegafarm.core.health import Check, Health, HealthState, aggregate
    from omegafarm.core.service import BaseService, ErrorDecision, ServiceState
    from omegafarm.core.supervisor import Supervisor, TaskStatus
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.core.errors": (
                "ConfigError",
                "DependencyUnavailableError",
                "NotFoundError",
                "OmegaError",
                "SecurityError",
                "ServiceError",
                "ServiceStateError",
                "StoreError",
                "StoreUnavailableError",
                "TransientError",
                "ValidationError",
                "is_transient",
            ),
            "omegafarm.core.health": (
                "Check",
                "Health",
                "HealthState",
                "aggregate",
            ),
            "omegafarm.core.service": (
                "BaseService",
                "ErrorDecision",
                "ServiceState",
            ),
            "omegafarm.core.supervisor": (
                "Supervisor",
                "TaskStatus",
            ),
        },
    )

__all__ = [
    "BaseService",
    "Check",
    "ConfigError",
    "DependencyUnavailableError",
    "ErrorDecision",
    "Health",
    "HealthState",
    "NotFoundError",
    "OmegaError",
    "SecurityError",
    "ServiceError",
    "ServiceState",
    "ServiceStateError",
    "StoreError",
    "StoreUnavailableError",
    "Supervisor",
    "TaskStatus",
    "TransientError",
    "ValidationError",
    "aggregate",
    "is_transient",
]
