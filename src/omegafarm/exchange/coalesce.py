"""Single flight: identical calls in progress at the same time share one execution.

The first caller runs the call itself; callers arriving while it runs wait for its outcome
(result or exception). If the first caller is cancelled, the waiting ones are not: the next of
them runs the call again. Used for market-data and account reads, so twenty bots asking for the
same ticker at once cost the exchange one request.

A call nobody joins costs a dict entry and nothing else: the future that carries the outcome to
waiters is made by the first waiter, not up front (most reads are never shared).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    """Read a shared outcome so asyncio does not report it as never retrieved."""
    if not future.cancelled():
        future.exception()


class SingleFlight:
    """In-process coalescing of identical concurrent calls, keyed by the caller.

    :meth:`run` is the whole protocol. ``inflight`` holds a key while its call runs, with the
    future that carries the outcome to whoever joined (None until somebody does). A hot path
    may run a call in its own coroutine, one frame fewer: when the key is absent it sets
    ``inflight[key] = None``, awaits the call, and ends with :meth:`succeed` or :meth:`fail`.
    """

    def __init__(self) -> None:
        self.inflight: dict[Hashable, asyncio.Future[Any] | None] = {}

    def in_flight(self) -> int:
        """How many distinct calls are running now."""
        return len(self.inflight)

    def succeed(self, key: Hashable, result: object) -> None:
        """The call of ``key`` returned ``result``: hand it to whoever joined."""
        future = self.inflight.pop(key)
        if future is not None:
            future.set_result(result)

    def fail(self, key: Hashable, exc: BaseException) -> None:
        """The call of ``key`` raised ``exc``: raise it in whoever joined too, except a
        cancellation, which makes the next of them run the call again."""
        future = self.inflight.pop(key)
        if future is None:
            return
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(exc)

    async def run(self, key: Hashable, call: Callable[[], Awaitable[Any]]) -> Any:
        """The outcome of ``call()``, shared with every caller of the same ``key`` meanwhile."""
        inflight = self.inflight
        while key in inflight:
            shared = inflight[key]
            if shared is None:
                shared = inflight[key] = asyncio.get_running_loop().create_future()
                shared.add_done_callback(_mark_retrieved)
            try:
                return await asyncio.shield(shared)
            except asyncio.CancelledError:
                if not shared.cancelled():
                    raise  # this caller was cancelled itself
                # the caller that ran it was cancelled: run it again
        inflight[key] = None
        try:
            result = await call()
        except BaseException as exc:
            self.fail(key, exc)
            raise
        self.succeed(key, result)
        return result
