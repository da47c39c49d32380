"""Security errors, under ``core.SecurityError``::

    SecurityError
    ├── AuthenticationError       no credential, or a wrong or expired one (HTTP 401)
    ├── PermissionDeniedError     authenticated, but the role is too low (HTTP 403)
    ├── CredentialStoreError      the users/tokens database cannot be used
    └── LastAdminError            the change would leave no admin (HTTP 409)

Messages never contain a secret: at most a token's public prefix or a user name.
"""

from __future__ import annotations

from omegafarm.core.errors import SecurityError


class AuthenticationError(SecurityError):
    """The caller could not be identified."""


class PermissionDeniedError(SecurityError):
    """The caller is known but may not do this."""


class CredentialStoreError(SecurityError):
    """The credential database failed."""


class LastAdminError(SecurityError):
    """Demoting or removing this user would leave the farm without an admin."""
