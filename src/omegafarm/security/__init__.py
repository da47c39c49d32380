"""security: users, roles, API tokens, browser sessions, CSRF and the hash-chained audit log.

Shared by the API and the CLI. Imports only ``store`` and ``core``.
"""

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
