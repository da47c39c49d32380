"""The OpenAPI document is a contract a client can be generated from: each operation names
how to authenticate and every error status it can answer, as a problem document."""

from __future__ import annotations

from typing import Any

import pytest

from omegafarm.api import create_app
from omegafarm.core.registry import ServiceRegistry
from tests.api.conftest import Farm

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    doc = create_app(ServiceRegistry([])).openapi()
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
    ]


def test_both_security_schemes_are_declared() -> None:
    doc = create_app(ServiceRegistry([])).openapi()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == "omega_session"


@pytest.mark.parametrize(("method", "path", "op"), _operations(), ids=lambda v: str(v)[:40])
def test_every_operation_declares_its_security_and_its_problem_statuses(
    method: str, path: str, op: dict[str, Any]
) -> None:
    public = path in ("/livez", "/readyz", "/health", "/metrics", "/api/v1/auth/login")
    assert op["security"] == ([] if public else [{"bearer": []}, {"session": []}])
    errors = {int(code): body for code, body in op["responses"].items() if int(code) >= 400}
    expected = {500} | (set() if public else {401, 403, 429, 503})
    if op.get("parameters") or op.get("requestBody"):
        expected.add(422)
    if op.get("requestBody"):
        expected |= {400, 413}
    assert expected <= errors.keys()
    for code, body in errors.items():
        if (path, code) in (("/health", 503), ("/readyz", 503)):
            continue  # these answer the health document itself
        assert body["content"] == {"application/problem+json": {"schema": PROBLEM}}, code
    if 429 in errors:
        assert "Retry-After" in errors[429]["headers"]


async def test_a_wrong_method_names_every_allowed_one(farm: Farm) -> None:
    async with farm.client("admin") as http:
        response = await http.put("/api/v1/admin/users")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"].startswith("application/problem+json")
