"""Human passwords as argon2id hashes, verified off the event loop with bounded concurrency.

One verification costs ~130 ms of CPU and 64 MiB of memory with the default parameters, so at
most ``max_concurrent`` run at a time (a login flood queues instead of exhausting memory) and
each runs in a worker thread so the event loop keeps serving. An unknown user is checked
against a dummy hash so that the answer takes as long as for a known one.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from omegafarm.core.errors import ValidationError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


class PasswordHasher:
    """argon2id hashing with a concurrency bound."""

    def __init__(
        self, *, memory_kib: int, time_cost: int, parallelism: int, max_concurrent: int
    ) -> None:
        self._argon = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._limit = asyncio.Semaphore(max_concurrent)
        self._dummy: str | None = None  # made on first need: a CLI run never pays for it

    def hash(self, password: str) -> str:
        """The argon2id hash (PHC string) of ``password``; checks the length first."""
        check_password_policy(password)
        return self._argon.hash(password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash`` (None: an unknown user, always False)."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        async with self._limit:
            return await asyncio.to_thread(self._verify, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        return self._argon.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        if stored_hash is None and self._dummy is None:
            self._dummy = self._argon.hash("not a password: equalizes timing for unknown users")
        try:
            self._argon.verify(stored_hash or self._dummy or "", password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return stored_hash is not None


def check_password_policy(password: str) -> None:
    """Raise ValidationError when ``password`` is too short or too long (NIST SP 800-63B)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
