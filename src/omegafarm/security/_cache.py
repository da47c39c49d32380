"""The in-process cache of verified credentials, and how revocations reach every process.

Verifying a bearer token or session id costs a SQLite lookup and an HMAC on every request;
the API answers most requests from this cache instead. An entry lives at most ``ttl_s``
seconds (and never past the credential's own expiry). Revoking a token or session, removing a
user or changing a role drops the entries at once in the process that did it and publishes an
invalidation on the Redis channel :data:`CHANNEL`; every other process drops them when the
message arrives (milliseconds). Pub/sub is fire-and-forget, so the cache is used only while
this process is subscribed: after a lost connection it is cleared and stays off until the
subscription is back, and ``ttl_s`` bounds anything else that could go wrong.

A verification that raced with an invalidation must not re-insert a revoked credential: every
invalidation bumps a generation number, and :meth:`CredentialCache.put` drops an entry whose
verification began in an older generation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from omegafarm.security.roles import Principal
from omegafarm.store import keys

CHANNEL = keys.CREDENTIALS_INVALIDATED
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    until_s: float  # monotonic deadline
    expires_ms: int | None  # the credential's own expiry (wall clock)


class CredentialCache:
    """Credential value -> verified principal, for a short while (see the module docstring)."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.enabled = False  # True only while the invalidation channel is subscribed
        self.generation = 0
        self.hits = 0
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, value: str, now_ms: int) -> Principal | None:
        """The cached principal for this exact credential value, if still valid."""
        if not self.enabled:
            return None
        entry = self._entries.get(value)
        if entry is None:
            return None
        if entry.until_s <= self._clock() or (
            entry.expires_ms is not None and entry.expires_ms <= now_ms
        ):
            del self._entries[value]
            return None
        self.hits += 1
        return entry.principal

    def put(
        self, value: str, principal: Principal, expires_ms: int | None, generation: int
    ) -> None:
        """Remember a credential verified since ``generation`` (dropped if stale by now)."""
        if not self.enabled or self.ttl_s <= 0 or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # a flood of distinct valid credentials: start over
        self._entries[value] = _Entry(principal, self._clock() + self.ttl_s, expires_ms)

    def drop(self, *, prefix: str | None = None, user: str | None = None) -> int:
        """Forget the entries of one credential prefix and/or of one user; how many went."""
        self.generation += 1
        gone = [
            key
            for key, entry in self._entries.items()
            if entry.principal.credential_id == prefix or entry.principal.user == user
        ]
        for key in gone:
            del self._entries[key]
        return len(gone)

    def clear(self) -> None:
        """Forget everything (the invalidation channel was lost)."""
        self.generation += 1
        self._entries.clear()
