"""Roles, ordered: every route declares the least role it needs.

viewer reads; trader also places/cancels orders and starts/stops bots; admin also manages
users, tokens and configuration. A higher role includes every right of the lower ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from omegafarm.core.errors import ValidationError


class Role(IntEnum):
    """viewer < trader < admin."""

    VIEWER = 1
    TRADER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The lower-case name used in configuration, the CLI and the API."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """``"trader"`` -> ``Role.TRADER``; anything else is a ValidationError."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValidationError(
                f"unknown role {text!r}: use one of viewer, trader, admin"
            ) from None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, their role, and how they proved it (token or session)."""

    user: str
    role: Role
    via: str  # "token" or "session"
    credential_id: str  # the token's or session's public prefix, never the secret

    def allows(self, needed: Role) -> bool:
        """Whether this principal holds at least ``needed``."""
        return self.role >= needed
