"""Secrets never leak: passwords, tokens, session ids and the server secret stay out of logs,
responses (except the one response that hands a new secret over), /metrics and the audit log."""

from __future__ import annotations

import logging

import httpx
import pytest
from structlog.testing import capture_logs

from tests.api.conftest import Farm

NEW_PASSWORD = "Tr0ub4dor&3-very-secret"  # the secret under test
WRONG_PASSWORD = "wr0ng-but-still-secret-42"
BOGUS_TOKEN = "omg_0123456789ab_" + "Zq9" * 14 + "Z"  # well-formed, unknown


def _text(response: httpx.Response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"{response.status_code}\n{headers}\n{response.text}"


async def test_secrets_never_reach_logs_responses_metrics_or_audit(
    farm: Farm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with capture_logs() as events:
        async with farm.client("admin") as admin:
            seen.append(
                _text(
                    await admin.post(
                        "/api/v1/admin/users",
                        json={"name": "sam", "role": "viewer", "password": NEW_PASSWORD},
                    )
                )
            )
            created = await admin.post("/api/v1/admin/tokens", json={"user": "sam"})
            token = created.json()["token"]
            seen.append(_text(await admin.get("/api/v1/admin/tokens")))
            seen.append(_text(await admin.get("/api/v1/admin/users")))
            seen.append(_text(await admin.get("/api/v1/admin/audit", params={"limit": 1000})))
        async with farm.client() as anon:
            login = await anon.post(
                "/api/v1/auth/login", json={"user": "sam", "password": NEW_PASSWORD}
            )
            session = login.cookies.get("omega_session") or login.headers["set-cookie"]
            seen.append(
                _text(
                    await anon.post(
                        "/api/v1/auth/login", json={"user": "sam", "password": WRONG_PASSWORD}
                    )
                )
            )
            seen.append(
                _text(
                    await anon.get(
                        "/api/v1/auth/me", headers={"Authorization": f"Bearer {BOGUS_TOKEN}"}
                    )
                )
            )
            seen.append(
                _text(
                    await anon.post(
                        "/api/v1/exchange/orders",
                        headers={"Authorization": f"Bearer {token}"},
                        json={"symbol": "BTC/USDT", "type": "market", "side": "buy", "amount": 1},
                    )
                )
            )
            seen.append(
                _text(
                    await anon.post(
                        "/api/v1/auth/login",
                        json={"user": "sam", "password": NEW_PASSWORD, "token": token},
                    )
                )
            )  # a 422 must not echo the submitted input
            seen.append(_text(await anon.get("/metrics")))
            seen.append(_text(await anon.get("/health")))
    server_secret = (farm.security.settings.resolved_data_dir() / "server.key").read_text()
    token_secret = token.split("_", 2)[2]
    session_secret = session.split("omega_session=")[-1].split(";")[0].split("_", 2)[2]
    secrets = {
        "password": NEW_PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "token": token_secret,
        "bogus token": BOGUS_TOKEN.split("_", 2)[2],
        "session": session_secret,
        "server secret": server_secret.strip(),
    }
    assert created.status_code == 201 and login.status_code == 200
    server_records = [  # the test's own HTTP client (httpx/httpcore) is not the server
        r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    ]
    logs = "\n".join(str(e) for e in events) + "\n"
    logs += "\n".join(f"{r.name} {r.getMessage()}" for r in server_records)
    audit = farm.security.audit.path.read_text()
    responses = "\n".join(seen)
    assert len(events) > 0 and len(responses) > 1000
    for name, secret in secrets.items():
        assert len(secret) >= 20, name
        assert secret not in logs, f"{name} reached the logs"
        assert secret not in responses, f"{name} reached a response"
        assert secret not in audit, f"{name} reached the audit log"
