"""Bearer tokens and session ids: random 256-bit secrets with a public lookup prefix.

A token reads ``omg_<prefix>_<secret>`` (a session id ``oms_<prefix>_<secret>``): ``prefix`` is
12 random hex digits that find the row, ``secret`` 32 random bytes in base64url. Only
HMAC-SHA256(server secret, whole token) is stored, so a stolen database reveals no usable
token, and checking one is a dictionary lookup plus one HMAC (microseconds, unlike a password).
Digests are compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_KIND = "omg"  # noqa: S105  # a token type tag, not a secret
SESSION_KIND = "oms"
_PATTERN = re.compile(r"^(omg|oms)_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedSecret:
    """A freshly made token or session id: ``value`` is shown once and never stored."""

    kind: str
    prefix: str
    value: str

    def __repr__(self) -> str:
        return f"IssuedSecret(kind={self.kind!r}, prefix={self.prefix!r}, value='***')"


def issue(kind: str = TOKEN_KIND) -> IssuedSecret:
    """A new random token (``omg``) or session id (``oms``)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return IssuedSecret(kind, prefix, f"{kind}_{prefix}_{secret}")


def parse(value: str) -> tuple[str, str] | None:
    """``(kind, prefix)`` of a well-formed token, else None (no secret is ever echoed)."""
    match = _PATTERN.match(value)
    return None if match is None else (match.group(1), match.group(2))


def digest(server_secret: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the server secret, hex."""
    return hmac.new(server_secret, value.encode(), hashlib.sha256).hexdigest()


def matches(server_secret: bytes, value: str, stored_digest: str) -> bool:
    """Constant-time comparison of ``value``'s digest with the stored one."""
    return hmac.compare_digest(digest(server_secret, value), stored_digest)


def csrf_token(server_secret: bytes, session_value: str) -> str:
    """The CSRF token bound to a session (signed double-submit: derivable, not stored)."""
    return hmac.new(server_secret, b"csrf:" + session_value.encode(), hashlib.sha256).hexdigest()
