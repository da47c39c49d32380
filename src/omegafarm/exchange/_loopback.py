"""The start/stop/context-manager part shared by the loopback servers of
:mod:`omegafarm.exchange.testing` (REST) and :mod:`omegafarm.exchange.testing_stream`
(WebSocket): an aiohttp app on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web


class LoopbackServer:
    """An aiohttp server on 127.0.0.1 with an ephemeral port; an async context manager.

    Subclasses add their routes in :meth:`_routes` and release what they hold in
    :meth:`_closing_hook` (run first by :meth:`stop`)."""

    _what = "the loopback server"  # named in the error if binding fails

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port = 0

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _closing_hook(self) -> None:
        """What :meth:`stop` does before the server stops (nothing here)."""

    async def start(self) -> Self:
        """Start listening."""
        app = web.Application()
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = getattr(site._server, "sockets", None)  # the bound port is only known here
        if not sockets:
            raise RuntimeError(f"{self._what} did not bind a socket")
        self._port = int(sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Release what the server holds (:meth:`_closing_hook`) and stop."""
        self._closing_hook()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
