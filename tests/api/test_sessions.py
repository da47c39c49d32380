"""Browser sessions and tokens over real HTTP: login, cookie flags, CSRF, logout, revocation,
rate limits (429 with Retry-After) and the audit entries they leave."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from omegafarm.security import read_file
from tests.api.conftest import PASSWORD, Farm, start_farm


def _cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name (raw header text, flags included)."""
    out = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        out[name] = header
    return out


async def _login(http: httpx.AsyncClient, user: str = "trader") -> tuple[str, str]:
    response = await http.post("/api/v1/auth/login", json={"user": user, "password": PASSWORD})
    assert response.status_code == 200, response.text
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar["omega_session"].value, jar["omega_csrf"].value


def _actions(farm: Farm) -> list[tuple[str, str]]:
    return [(e["action"], e["outcome"]) for e in read_file(farm.security.audit.path) if e]


async def test_login_sets_secure_httponly_strict_session_cookie(farm: Farm) -> None:
    async with farm.client() as http:
        response = await http.post(
            "/api/v1/auth/login", json={"user": "viewer", "password": PASSWORD}
        )
    assert response.status_code == 200
    cookies = _cookies(response)
    session = cookies["omega_session"].lower()
    assert "httponly" in session and "secure" in session and "samesite=strict" in session
    csrf = cookies["omega_csrf"].lower()
    assert "secure" in csrf and "samesite=strict" in csrf and "httponly" not in csrf
    assert response.json()["role"] == "viewer"
    assert ("login", "ok") in _actions(farm)


async def test_wrong_password_is_401_and_audited(farm: Farm) -> None:
    async with farm.client() as http:
        response = await http.post(
            "/api/v1/auth/login", json={"user": "viewer", "password": "not-the-password"}
        )
        unknown = await http.post(
            "/api/v1/auth/login", json={"user": "ghost", "password": "whatever-it-is"}
        )
    assert response.status_code == 401
    assert unknown.status_code == 401
    assert response.json()["detail"] == unknown.json()["detail"]  # no user enumeration
    assert "set-cookie" not in response.headers
    assert ("login", "denied") in _actions(farm)


async def test_session_reads_without_csrf_but_writes_need_the_csrf_header(farm: Farm) -> None:
    async with farm.client() as http:
        session, csrf = await _login(http)
        cookie = f"omega_session={session}; omega_csrf={csrf}"
        me = await http.get("/api/v1/auth/me", headers={"Cookie": cookie})
        body = {"topic": "order-books", "status": "started"}
        missing = await http.post(
            "/api/v1/education/progress", json=body, headers={"Cookie": cookie}
        )
        wrong = await http.post(
            "/api/v1/education/progress",
            json=body,
            headers={"Cookie": cookie, "X-CSRF-Token": "0" * 64},
        )
        forged_pair = await http.post(
            "/api/v1/education/progress",
            json=body,
            headers={
                "Cookie": f"omega_session={session}; omega_csrf={'1' * 64}",
                "X-CSRF-Token": "1" * 64,
            },
        )
        good = await http.post(
            "/api/v1/education/progress",
            json=body,
            headers={"Cookie": cookie, "X-CSRF-Token": csrf},
        )
    assert me.status_code == 200 and me.json() == {
        "user": "trader",
        "role": "trader",
        "via": "session",
    }
    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert forged_pair.status_code == 403  # double submit is signed: a planted pair fails
    assert good.status_code == 200, good.text
    assert ("csrf_rejected", "denied") in _actions(farm)


async def test_bearer_tokens_need_no_csrf(farm: Farm) -> None:
    async with farm.client("viewer") as http:
        response = await http.post(
            "/api/v1/education/progress", json={"topic": "order-books", "status": "started"}
        )
    assert response.status_code == 200


async def test_logout_ends_the_session(farm: Farm) -> None:
    async with farm.client() as http:
        session, csrf = await _login(http, "viewer")
        cookie = f"omega_session={session}; omega_csrf={csrf}"
        out = await http.post(
            "/api/v1/auth/logout", headers={"Cookie": cookie, "X-CSRF-Token": csrf}
        )
        after = await http.get("/api/v1/auth/me", headers={"Cookie": cookie})
    assert out.status_code == 200
    assert after.status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer omg_000000000000_" + "A" * 43,
        "Bearer garbage",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
    ids=["unknown-token", "malformed", "wrong-scheme", "empty"],
)
async def test_bad_credentials_are_401_problems(farm: Farm, authorization: str) -> None:
    async with farm.client() as http:
        response = await http.get("/api/v1/auth/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_admin_creates_and_revokes_a_token_over_the_api(farm: Farm) -> None:
    async with farm.client("admin") as admin:
        created = await admin.post("/api/v1/admin/tokens", json={"user": "viewer", "label": "x"})
        token = created.json()["token"]
        async with farm.client() as http:
            ok = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            revoked = await admin.delete(f"/api/v1/admin/tokens/{created.json()['prefix']}")
            after = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        listed = await admin.get("/api/v1/admin/tokens", params={"user": "viewer"})
    assert created.status_code == 201
    assert ok.status_code == 200 and ok.json()["user"] == "viewer"
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert after.status_code == 401
    assert token not in listed.text
    assert ("token_create", "ok") in _actions(farm) and ("token_revoke", "ok") in _actions(farm)


@pytest_asyncio.fixture(loop_scope="session")
async def strict_farm(tmp_path: Path, redis_url: str) -> AsyncIterator[Farm]:
    """A small API with tight limits: 2 requests at once, then 1 per minute."""
    running, _ = await start_farm(
        tmp_path,
        redis_url,
        full=False,
        rate_limit_per_min=3,
        rate_limit_burst=2,
        login_attempts_per_min=2,
        # every request checks the database: these tests count requests and stop Redis under
        # a running farm (the invalidation subscription then leaks a pooled connection; known)
        credential_cache_ttl_s=0,
    )
    yield running
    await running.registry.stop_all()


async def test_rate_limit_answers_429_with_retry_after(strict_farm: Farm) -> None:
    async with strict_farm.client("viewer") as http:
        codes = [(await http.get("/api/v1/auth/me")).status_code for _ in range(4)]
        limited = await http.get("/api/v1/auth/me")
    async with strict_farm.client("trader") as other:  # buckets are per credential
        other_ok = await other.get("/api/v1/auth/me")
    assert codes[:2] == [200, 200]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert other_ok.status_code == 200


async def test_password_guessing_meets_429(strict_farm: Farm) -> None:
    async with strict_farm.client() as http:
        codes = [
            (
                await http.post(
                    "/api/v1/auth/login", json={"user": "admin", "password": f"guess-{i}"}
                )
            ).status_code
            for i in range(4)
        ]
    assert codes[0] == 401
    assert 429 in codes


async def test_without_redis_auth_still_works_and_the_audit_file_still_grows(
    strict_farm: Farm,
) -> None:
    await strict_farm.redis.shutdown()  # rate limits and the audit mirror are gone
    async with strict_farm.client("viewer") as http:
        codes = [(await http.get("/api/v1/auth/me")).status_code for _ in range(4)]
        denied = await http.get("/api/v1/admin/users")
    async with strict_farm.client() as anon:
        anonymous = await anon.get("/api/v1/auth/me")
    assert codes == [200, 200, 200, 200]  # the limiter fails open...
    assert denied.status_code == 403  # ...authorization does not
    assert anonymous.status_code == 401
    assert ("access_denied", "denied") in _actions(strict_farm)
    assert strict_farm.security.audit.mirror_failures >= 1
    assert strict_farm.security.audit.verify_file().ok
