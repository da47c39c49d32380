"""What the exchange package does while Redis is away: step aside, say so, try again later.

The shared market-data cache and the shared rate limiter both keep working without Redis (the
cache asks the exchange directly, the limiter limits locally at a share of the budget). Both
follow the same rule, kept here once: on a Redis failure, log it once and report the reason
(the service's ``health()`` shows it), use the local path for ``retry_redis_s``, then try Redis
again; the first success logs the recovery and clears the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

_log = structlog.get_logger("omegafarm", service="exchange")


class RedisFallback:
    """The degraded/recovered state of one Redis-backed helper."""

    def __init__(
        self,
        *,
        retry_redis_s: float,
        reason: Callable[[str], str],
        degraded_event: str,
        recovered_event: str,
        **log_fields: object,
    ) -> None:
        self._retry_redis_s = retry_redis_s
        self._reason = reason
        self._degraded_event = degraded_event
        self._recovered_event = recovered_event
        self._log_fields = log_fields
        self._since: float | None = None
        self.reason = ""

    @property
    def degraded(self) -> bool:
        """True while the local path is used because Redis failed."""
        return self._since is not None

    def use_redis(self) -> bool:
        """Whether to try Redis now (always, unless it failed less than ``retry_redis_s`` ago)."""
        since = self._since
        return since is None or time.monotonic() - since >= self._retry_redis_s

    def degrade(self, problem: str) -> None:
        """Redis failed with ``problem``: step aside for ``retry_redis_s``."""
        if self._since is None:
            _log.warning(self._degraded_event, reason=problem, **self._log_fields)
        self._since = time.monotonic()
        self.reason = self._reason(problem)

    def recover(self) -> None:
        """Redis answered: back on the shared path."""
        if self._since is not None:
            _log.info(self._recovered_event, **self._log_fields)
            self._since = None
            self.reason = ""
