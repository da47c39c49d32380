"""The dashboard: static HTML, CSS and JavaScript shipped in the package (no build step).

The pages themselves are public; every piece of data they show comes from the API with the
session cookie, so a visitor who is not logged in only sees the login form. A strict
Content-Security-Policy allows scripts, styles and connections to this origin only: HTTP(S)
through ``'self'`` and the WebSocket feed through ``ws(s)://`` and the very host and port the
page was loaded from (``'self'`` alone does not cover WebSockets in every browser).
"""

from __future__ import annotations

import re
from importlib.resources import files

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from omegafarm.api.auth import PUBLIC

router = APIRouter(tags=["dashboard"], include_in_schema=False, dependencies=[Depends(PUBLIC)])
_STATIC = files("omegafarm.api") / "static"
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'{ws}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")


def csp(request: Request) -> str:
    """The policy for a page served to ``request``: connections to its own origin only."""
    host = request.headers.get("host", "")
    if not _HOST.match(host):  # no usable Host: same-origin HTTP only, no WebSocket
        return _CSP.format(ws="")
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return _CSP.format(ws=f" {scheme}://{host}")


_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    # TradingView lightweight-charts (Apache-2.0), vendored by scripts/vendor-lightweight-charts.sh
    "vendor/lightweight-charts.js": "text/javascript; charset=utf-8",
    "vendor/lightweight-charts.LICENSE": "text/plain; charset=utf-8",
    "vendor/lightweight-charts.VERSION": "text/plain; charset=utf-8",
}


def _asset(name: str, request: Request) -> Response:
    body = (_STATIC / name).read_bytes()
    return Response(
        body, media_type=_TYPES[name], headers={"Content-Security-Policy": csp(request)}
    )


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/")
async def index(request: Request) -> Response:
    return _asset("index.html", request)


@router.get("/dashboard/app.js")
async def script(request: Request) -> Response:
    return _asset("app.js", request)


@router.get("/dashboard/style.css")
async def style(request: Request) -> Response:
    return _asset("style.css", request)


@router.get("/dashboard/vendor/{name}")
async def vendored(name: str, request: Request) -> Response:
    """The vendored charting library, its licence and its pinned version (nothing else)."""
    path = f"vendor/{name}"
    if path not in _TYPES:
        raise HTTPException(404, f"no dashboard file {path!r}")
    return _asset(path, request)
