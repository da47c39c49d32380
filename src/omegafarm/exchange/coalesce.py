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


class _Flight:
    """One call in progress; ``future`` exists once somebody waits for it."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: asyncio.Future[Any] | None = None

    def joined(self) -> asyncio.Future[Any]:
        if self.future is None:
            self.future = asyncio.get_running_loop().create_future()
            self.future.add_done_callback(_mark_retrieved)
        return self.future


class SingleFlight:
    """In-process coalescing of identical concurrent calls, keyed by the caller.

    :meth:`run` is the whole protocol. A hot path can also run it in its own coroutine, one
    frame fewer: :meth:`claim` the key (None: a call of that key runs, :meth:`run` joins it),
    await the call, then :meth:`finish` the flight with its outcome, whatever it is.
    """

    def __init__(self) -> None:
        self._inflight: dict[Hashable, _Flight] = {}

    def in_flight(self) -> int:
        """How many distinct calls are running now."""
        return len(self._inflight)

    def claim(self, key: Hashable) -> _Flight | None:
        """Start the call of ``key`` here (its flight), or None when one is running already."""
        if key in self._inflight:
            return None
        flight = self._inflight[key] = _Flight()
        return flight

    def finish(
        self,
        key: Hashable,
        flight: _Flight,
        result: object = None,
        exc: BaseException | None = None,
    ) -> None:
        """The claimed call of ``key`` ended with ``result`` (or raised ``exc``): hand that to
        whoever joined; a cancelled call makes them run it again."""
        del self._inflight[key]
        future = flight.future
        if future is None:
            return
        if exc is None:
            future.set_result(result)
        elif isinstance(exc, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(exc)

    async def run(self, key: Hashable, call: Callable[[], Awaitable[Any]]) -> Any:
        """The outcome of ``call()``, shared with every caller of the same ``key`` meanwhile."""
        while (flight := self._inflight.get(key)) is not None:
            shared = flight.joined()
            try:
                return await asyncio.shield(shared)
            except asyncio.CancelledError:
                if not shared.cancelled():
                    raise  # this caller was cancelled itself
                # the caller that ran it was cancelled: run it again
        flight = self._inflight[key] = _Flight()
        try:
            result = await call()
        except BaseException as exc:
            self.finish(key, flight, exc=exc)
            raise
        self.finish(key, flight, result)
        return result
