"""The dashboard is served without a build step, under a strict CSP, and every API path its
script calls exists in the route table. (A headless-browser test is not here: Chromium is
not installed in this environment.)"""

from __future__ import annotations

import re
from importlib.resources import files

import fastapi.routing

from omegafarm.api import create_app
from omegafarm.core.registry import ServiceRegistry
from tests.api.conftest import Farm


async def test_root_redirects_to_the_dashboard_with_a_strict_csp(farm: Farm) -> None:
    async with farm.client() as http:
        root = await http.get("/")
        page = await http.get("/dashboard/")
        script = await http.get("/dashboard/app.js")
        style = await http.get("/dashboard/style.css")
    assert root.status_code == 307 and root.headers["location"] == "/dashboard/"
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
    assert connect == f"connect-src 'self' ws://{farm.url.split('://', 1)[1]}"
    assert '<script src="/dashboard/app.js"' in page.text and "<script>" not in page.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.status_code == 200


def test_every_api_path_the_script_calls_is_a_route() -> None:
    script = (files("omegafarm.api") / "static" / "app.js").read_text()
    called = set(re.findall(r"[\"`](/api/v1/[a-z/]+)", script))
    app = create_app(ServiceRegistry([]))
    routes = [rc.path for rc in fastapi.routing.iter_route_contexts(app.routes)]
    patterns = [re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", p) + "/?$") for p in routes]
    assert len(called) >= 10
    for path in called:
        trimmed = path.rstrip("/")
        assert any(
            p.match(trimmed) or r.startswith(trimmed + "/")
            for p, r in zip(patterns, routes, strict=True)
        ), path


async def test_the_vendored_chart_library_is_served_with_its_licence_and_pinned_version(
    farm: Farm,
) -> None:
    vendor = files("omegafarm.api") / "static" / "vendor"
    version = (vendor / "lightweight-charts.VERSION").read_text().strip()
    async with farm.client() as http:
        lib = await http.get("/dashboard/vendor/lightweight-charts.js")
        licence = await http.get("/dashboard/vendor/lightweight-charts.LICENSE")
        other = await http.get("/dashboard/vendor/evil.js")
        page = await http.get("/dashboard/")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert lib.status_code == 200 and f"Lightweight Charts™ v{version}" in lib.text[:300]
    assert lib.headers["content-type"].startswith("text/javascript")
    assert "Apache License" in licence.text and "Version 2.0" in licence.text
    assert other.status_code == 404
    assert '<script src="/dashboard/vendor/lightweight-charts.js"' in page.text
    assert "https://" not in re.sub(r'<a href="https://[^"]+"', "", page.text)  # no CDN


async def test_a_lesson_comes_as_sanitised_html_with_dashboard_links(farm: Farm) -> None:
    async with farm.client("viewer") as http:
        lesson = await http.get("/api/v1/education/html/lessons/order-books")
        term = await http.get("/api/v1/education/html/glossary/order-book")
        missing = await http.get("/api/v1/education/html/lessons/no-such-lesson")
    html = lesson.json()["html"]
    assert lesson.json()["title"] == "How an order book works"
    assert "<h2>Bids and asks</h2>" in html and "<table>" in html
    assert 'href="#/learn/glossary/order-book"' in html and "glossary:" not in html
    assert 'href="#/learn/lesson/paper-exchange"' in html
    assert term.status_code == 200 and "<p>" in term.json()["html"]
    assert missing.status_code == 404


async def test_csp_connects_to_the_origin_the_page_was_loaded_from_only(farm: Farm) -> None:
    async with farm.client() as http:
        named = await http.get("/dashboard/", headers={"Host": "farm.example:8443"})
        injected = await http.get("/dashboard/", headers={"Host": "x; script-src *"})
    assert "connect-src 'self' ws://farm.example:8443;" in named.headers["content-security-policy"]
    policy = injected.headers["content-security-policy"]
    assert "connect-src 'self';" in policy and "script-src *" not in policy
    assert "ws:" not in policy.replace("ws://", "") and " wss:" not in policy
