"""security: users, roles, API tokens, browser sessions, CSRF and the hash-chained audit log.

Shared by the API and the CLI. Imports only ``store`` and ``core``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegafarm._lazy import lazy_exports

if TYPE_CHECKING:
    from omegafarm.security.audit import AuditLog, VerifyResult, read_file, verify_entries
    from omegafarm.security.config import SecuritySettings
    from omegafarm.security.errors import (
        AuthenticationError,
        CredentialStoreError,
        LastAdminError,
        PermissionDeniedError,
    )
    from omegafarm.security.roles import Principal, Role
    from omegafarm.security.service import SecurityService, Session, TokenInfo, UserInfo
    from omegafarm.security.tokens import IssuedSecret
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "omegafarm.security.audit": (
                "AuditLog",
                "VerifyResult",
                "read_file",
                "verify_entries",
            ),
            "omegafarm.security.config": ("SecuritySettings",),
            "omegafarm.security.errors": (
                "AuthenticationError",
                "CredentialStoreError",
                "LastAdminError",
                "PermissionDeniedError",
            ),
            "omegafarm.security.roles": (
                "Principal",
                "Role",
            ),
            "omegafarm.security.service": (
                "SecurityService",
                "Session",
                "TokenInfo",
                "UserInfo",
            ),
            "omegafarm.security.tokens": ("IssuedSecret",),
        },
    )

__all__ = [
    "AuditLog",
    "AuthenticationError",
    "CredentialStoreError",
    "IssuedSecret",
    "LastAdminError",
    "PermissionDeniedError",
    "Principal",
    "Role",
    "SecurityService",
    "SecuritySettings",
    "Session",
    "TokenInfo",
    "UserInfo",
    "VerifyResult",
    "read_file",
    "verify_entries",
]
