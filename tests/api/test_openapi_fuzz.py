"""schemathesis against /openapi.json: generated requests to every operation, as admin, never
get a 5xx (other than a 503 that names a service which is not running) nor a stack trace.

Bounded: a few examples per operation, so the whole module stays well under a minute. The
generator runs in a worker thread (schemathesis calls with ``requests``) while the server
keeps running on this event loop.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.api.conftest import Farm

schemathesis = pytest.importorskip("schemathesis", reason="test dependency: schemathesis>=4")

EXAMPLES_PER_OPERATION = 6


def _fuzz(url: str, schema_doc: dict, token: str) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_dict(schema_doc)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: object) -> None:
            nonlocal calls
            response = case.call(  # type: ignore[attr-defined]
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            calls += 1
            text = response.text
            if "Traceback" in text or 'File "' in text:
                failures.append(f"{case.operation.label}: stack trace in the response")  # type: ignore[attr-defined]
            if response.status_code >= 500 and not (
                response.status_code in (501, 503) and "not running" in text
            ):
                label = case.operation.label  # type: ignore[attr-defined]
                failures.append(f"{label}: {response.status_code} {text[:200]}")

        run()
    return calls, failures


@pytest.mark.slow
async def test_generated_requests_never_get_a_server_error(farm: Farm) -> None:
    async with farm.client() as http:
        schema_doc = (await http.get("/openapi.json")).json()
    calls, failures = await asyncio.to_thread(_fuzz, farm.url, schema_doc, farm.tokens["admin"])
    assert calls >= len(schema_doc["paths"])
    assert failures == [], "\n".join(failures)
