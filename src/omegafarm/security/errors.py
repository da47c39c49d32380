"""Security errors, under ``core.SecurityError`` (the first two are defined in core, shared
with the exchange package)::

    SecurityError
    ├── AuthenticationError       no credential, or a wrong or expired one (HTTP 401)
    ├── PermissionDeniedError     authenticated, but the role is too low (HTTP 403)
    ├── CredentialStoreError      the users/tokens database cannot be used
    └── LastAdminError            the change would leave no admin (HTTP 409)

Messages never contain a secret: at most a token's public prefix or a user name.
"""

from __future__ import annotations

from omegafarm.core.errors import AuthenticationError, PermissionDeniedError, SecurityError

__all__ = ["AuthenticationError", "CredentialStoreError", "PermissionDeniedError"]


class CredentialStoreError(SecurityError):
    """The credential database failed."""


class LastAdminError(SecurityError):
    """Demoting or removing this user would leave the farm without an admin."""
