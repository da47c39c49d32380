"""The fast paths (``omegafarm.api._fast``): the cached ticker answers exactly what the route
would, and every request it cannot vouch for reaches the route, which refuses or answers it
with all its checks; the health probes answer the background snapshot. Real farm: Redis, security, paper exchange, API on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from fastapi.routing import APIRoute
from opentelemetry.trace import SpanKind

from omegafarm.api import ApiService
from omegafarm.api._fast import _ROLE, TICKER_PATH, FastPathStats
from omegafarm.core.tracing import capture_spans
from tests.api.conftest import PASSWORD, Farm, start_farm
from tests.api.test_role_matrix import declared_access, flat_routes

SYMBOL = "BTC/USDT"
PARAMS = {"symbol": SYMBOL}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fast_farm(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[tuple[Farm, ApiService]]:
    """A farm whose per-process ticker copy stays fresh for the whole module (60 s), so that
    every answer after the first is the same bytes."""
    running, api = await start_farm(
        tmp_path_factory.mktemp("fast"), redis_url, api={"ticker_local_ttl_s": 60}
    )
    yield running, api
    await running.registry.stop_all()


def _stats(api: ApiService) -> FastPathStats:
    assert api.app is not None
    stats: FastPathStats = api.app.state.fast_path
    return stats


def _comparable(headers: object) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in dict(headers).items() if k not in ("date",))  # type: ignore[call-overload]


async def test_the_route_and_the_fast_path_answer_the_same_bytes_and_headers(
    fast_farm: tuple[Farm, ApiService],
) -> None:
    farm, api = fast_farm
    async with farm.client("viewer") as http:
        # a fresh symbol: nothing in memory yet, so the route answers (and fills the copy)
        before = _stats(api).hits
        by_route = await http.get(TICKER_PATH, params={"symbol": "ETH/USDT"})
        assert _stats(api).hits == before
        fast = [await http.get(TICKER_PATH, params={"symbol": "ETH/USDT"}) for _ in range(5)]
    assert _stats(api).hits == before + 5
    assert by_route.status_code == 200 and by_route.json()["symbol"] == "ETH/USDT"
    for answer in fast:
        assert answer.status_code == 200
        assert answer.content == by_route.content
        assert _comparable(answer.headers) == _comparable(by_route.headers)
    assert by_route.headers["x-content-type-options"] == "nosniff"  # the security headers
    assert by_route.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("who", "params", "status"),
    [
        (None, PARAMS, 401),  # anonymous
        ("garbage", PARAMS, 401),  # not a token of ours
        ("viewer", {"symbol": "btc/usdt"}, 422),  # the route's pattern
        ("viewer", {"symbol": SYMBOL + "\n"}, 422),
        ("viewer", {}, 422),
        ("viewer", {"symbol": SYMBOL, "extra": "1"}, 200),  # not exactly symbol=: the route
        ("viewer", {"symbol": [SYMBOL, SYMBOL]}, 200),
    ],
    ids=["anonymous", "bad-token", "lower-case", "newline", "no-symbol", "extra", "twice"],
)
async def test_requests_the_fast_path_cannot_vouch_for_are_the_routes(
    fast_farm: tuple[Farm, ApiService], who: str | None, params: dict, status: int
) -> None:
    farm, api = fast_farm
    async with farm.client("viewer") as http:
        assert (await http.get(TICKER_PATH, params=PARAMS)).status_code == 200  # warm
    headers = {"Authorization": "Bearer omg_nope_nope"} if who == "garbage" else {}
    before = _stats(api).hits
    async with farm.client(who if who in farm.tokens else None) as http:
        answer = await http.get(TICKER_PATH, params=params, headers=headers)
    assert answer.status_code == status, answer.text
    assert _stats(api).hits == before  # nothing was answered from memory
    if status != 200:
        assert answer.headers["content-type"].startswith("application/problem+json")


async def test_a_revoked_token_is_refused_at_once_even_on_the_fast_path(
    fast_farm: tuple[Farm, ApiService],
) -> None:
    farm, api = fast_farm
    issued = await farm.security.create_token("viewer", actor="test")
    headers = {"Authorization": f"Bearer {issued.value}"}
    async with farm.client() as http:
        first = await http.get(TICKER_PATH, params=PARAMS, headers=headers)
        before = _stats(api).hits
        second = await http.get(TICKER_PATH, params=PARAMS, headers=headers)
        assert _stats(api).hits == before + 1  # the verified token is served from memory
        await farm.security.revoke_token(issued.prefix, actor="test")
        refused = await http.get(TICKER_PATH, params=PARAMS, headers=headers)
    assert (first.status_code, second.status_code, refused.status_code) == (200, 200, 401)
    assert "revoked" in refused.json()["detail"]


async def test_a_session_cookie_takes_the_fast_path_too(
    fast_farm: tuple[Farm, ApiService],
) -> None:
    farm, api = fast_farm
    async with farm.client() as http:
        login = await http.post("/api/v1/auth/login", json={"user": "viewer", "password": PASSWORD})
    assert login.status_code == 200, login.text
    cookie = {"Cookie": f"omega_session={login.cookies['omega_session']}"}
    async with farm.client() as http:
        first = await http.get(TICKER_PATH, params=PARAMS, headers=cookie)
        before = _stats(api).hits
        second = await http.get(TICKER_PATH, params=PARAMS, headers=cookie)
    assert (first.status_code, second.status_code) == (200, 200)
    assert _stats(api).hits == before + 1


def test_the_fast_path_asks_for_the_role_the_route_declares(
    fast_farm: tuple[Farm, ApiService],
) -> None:
    _, api = fast_farm
    assert api.app is not None
    routes = flat_routes(api.app)
    (route,) = [r for r in routes if isinstance(r, APIRoute) and r.path == TICKER_PATH]
    assert declared_access(route).role is _ROLE


async def test_the_rate_limit_holds_on_the_fast_path(tmp_path: Path, redis_url: str) -> None:
    # burst 16: batches of 2 reserved in Redis ahead of need; 17/min: one more unit a minute
    farm, api = await start_farm(
        tmp_path,
        redis_url,
        api={"ticker_local_ttl_s": 60},
        rate_limit_per_min=17,
        rate_limit_burst=16,
    )
    try:
        async with farm.client("viewer") as http:
            codes = [(await http.get(TICKER_PATH, params=PARAMS)).status_code for _ in range(30)]
    finally:
        await farm.registry.stop_all()
    assert _stats(api).hits > 0  # the fast path answered some of them
    assert codes.count(200) <= 17  # never more than the burst (+1 refilled within a minute)
    assert codes[-1] == 429


async def test_a_fast_answer_is_still_a_traced_server_span(tmp_path: Path, redis_url: str) -> None:
    with capture_spans("api") as spans:
        farm, api = await start_farm(tmp_path, redis_url, api={"ticker_local_ttl_s": 60}, full=True)
        try:
            async with farm.client("viewer") as http:
                for _ in range(3):
                    assert (await http.get(TICKER_PATH, params=PARAMS)).status_code == 200
        finally:
            await farm.registry.stop_all()
        finished = spans.get_finished_spans()
    assert _stats(api).hits == 2
    servers = [s for s in finished if s.kind is SpanKind.SERVER]
    assert [s.name for s in servers] == [f"HTTP GET {TICKER_PATH}"] * 3
    assert all(
        dict(s.attributes or {})
        == {
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "http.route": TICKER_PATH,
        }
        for s in servers
    )


async def test_health_probes_are_answered_from_the_background_snapshot(
    fast_farm: tuple[Farm, ApiService],
) -> None:
    farm, api = fast_farm
    assert api.app is not None
    monitor = api.app.state.health_monitor
    snapshot = await monitor.check(timeout_s=None)  # as the background task's round does
    before = _stats(api).hits
    async with farm.client() as http:
        health = await http.get("/health")
        ready = await http.get("/readyz")
    assert _stats(api).hits == before + 2
    assert (health.status_code, health.content) == (snapshot.health.status, snapshot.health.body)
    assert health.headers["content-type"] == "application/health+json"
    assert health.json()["status"] == "pass"
    assert (ready.status_code, ready.content) == (snapshot.ready.status, snapshot.ready.body)
    assert ready.headers["content-type"] == "application/json"
    assert health.headers["x-content-type-options"] == "nosniff"  # the security headers apply
