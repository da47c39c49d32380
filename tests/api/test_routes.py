"""The service routes over real HTTP against the paper exchange, cosmic and education."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omegafarm.security import read_file
from tests.api.conftest import Farm

SYMBOL = "BTC/USDT"


async def test_trader_places_lists_and_cancels_a_paper_order_and_it_is_audited(
    farm: Farm,
) -> None:
    order = {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": "0.01", "price": "1000"}
    async with farm.client("trader") as http:
        created = await http.post("/api/v1/exchange/orders", json=order)
        order_id = created.json()["id"]
        listed = await http.get("/api/v1/exchange/orders", params={"symbol": SYMBOL})
        cancelled = await http.delete(
            f"/api/v1/exchange/orders/{order_id}", params={"symbol": SYMBOL}
        )
    assert created.status_code == 201, created.text
    assert Decimal(created.json()["price"]) == 1000  # money travels as decimal text
    assert order_id in [o["id"] for o in listed.json()]
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "canceled"
    entries = [e for e in read_file(farm.security.audit.path) if e]
    actions = [(e["action"], e["actor"], e["details"].get("order_id")) for e in entries]
    assert ("order_create", "trader", order_id) in actions
    assert ("order_cancel", "trader", order_id) in actions


async def test_a_rejected_order_is_a_422_problem_and_audited_as_failed(farm: Farm) -> None:
    order = {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": "0.000001", "price": "1"}
    async with farm.client("trader") as http:
        response = await http.post("/api/v1/exchange/orders", json=order)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    failed = [e for e in read_file(farm.security.audit.path) if e and e["outcome"] == "failed"]
    assert any(e["action"] == "order_create" for e in failed)


@pytest.mark.parametrize(
    "body",
    [
        {"symbol": "BTC/USDT", "type": "limit", "side": "buy", "amount": "-1", "price": "1"},
        {"symbol": "btc", "type": "limit", "side": "buy", "amount": "1", "price": "1"},
        {"symbol": "BTC/USDT", "type": "stop", "side": "buy", "amount": "1"},
        {"symbol": "BTC/USDT", "type": "market", "side": "buy", "amount": "NaN"},
        {"symbol": "BTC/USDT", "type": "market", "side": "buy", "amount": "1", "extra": 1},
    ],
    ids=["negative", "bad-symbol", "bad-type", "nan", "extra-field"],
)
async def test_invalid_order_bodies_are_422_with_the_field_named(farm: Farm, body: dict) -> None:
    async with farm.client("trader") as http:
        response = await http.post("/api/v1/exchange/orders", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body")


async def test_ticker_comes_from_the_exchange_service_with_no_cache_of_its_own(
    farm: Farm,
) -> None:
    async with farm.client("viewer") as http:
        answer = await http.get("/api/v1/exchange/ticker", params={"symbol": SYMBOL})
    assert answer.status_code == 200
    assert answer.json()["symbol"] == SYMBOL
    assert Decimal(answer.json()["last"]) > 0
    assert await farm.redis.scan("cache:api:") == []  # the service's cache is the only one


@pytest.mark.parametrize("kind", ["fibonacci", "patterns", "cycles", "harmony", "resonance"])
async def test_analysis_routes_answer_for_a_paper_symbol(farm: Farm, kind: str) -> None:
    async with farm.client("viewer") as http:
        response = await http.get(
            f"/api/v1/analysis/{kind}", params={"symbol": SYMBOL, "timeframe": "1m", "limit": 200}
        )
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        body = response.json()
        assert body["symbol"] == SYMBOL and body["candles"] > 0 and "result" in body


async def test_education_search_lesson_progress_and_unknown_topic(farm: Farm) -> None:
    async with farm.client("viewer") as http:
        found = await http.get("/api/v1/education/search", params={"q": "order book"})
        lesson = await http.get("/api/v1/education/lessons/order-books")
        missing = await http.get("/api/v1/education/lessons/no-such-lesson")
        done = await http.post(
            "/api/v1/education/progress", json={"topic": "order-books", "status": "completed"}
        )
        summary = await http.get("/api/v1/education/progress")
    assert found.status_code == 200 and found.json()["hits"]
    assert lesson.status_code == 200 and lesson.json()["id"] == "order-books"
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert done.status_code == 200
    assert summary.json()["user"] == "viewer" and summary.json()["lessons_completed"] >= 1


async def test_bot_routes_say_the_farm_is_not_running(farm: Farm) -> None:
    async with farm.client("trader") as http:
        listed = await http.get("/api/v1/bots")
        start = await http.post("/api/v1/bots/alpha/start")
    assert listed.status_code == 503 and listed.json()["detail"] == "bot farm not running"
    assert start.status_code == 503


async def test_admin_manages_users_over_the_api(farm: Farm) -> None:
    async with farm.client("admin") as http:
        added = await http.post(
            "/api/v1/admin/users", json={"name": "zed", "role": "trader", "password": "x" * 12}
        )
        dup = await http.post("/api/v1/admin/users", json={"name": "zed"})
        changed = await http.patch("/api/v1/admin/users/zed", json={"role": "viewer"})
        listed = await http.get("/api/v1/admin/users")
        removed = await http.delete("/api/v1/admin/users/zed")
        verify = await http.get("/api/v1/admin/audit/verify")
    assert added.status_code == 201
    assert dup.status_code == 422
    assert changed.status_code == 200
    assert {"name": "zed", "role": "viewer"}.items() <= next(
        u for u in listed.json() if u["name"] == "zed"
    ).items()
    assert removed.status_code == 200
    assert verify.json()["ok"] is True


async def test_security_headers_on_every_response(farm: Farm) -> None:
    async with farm.client() as http:
        response = await http.get("/livez")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
