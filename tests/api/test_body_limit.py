"""A request body over ``api.max_body_bytes`` (64 KiB by default) is a 413 problem, answered
before the body is read whole: at once for a declared Content-Length, as soon as the count
passes the limit for a chunked body. Raw sockets, so the client decides what it sends."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import httpx

from tests.api.conftest import Farm

LIMIT = 64 * 1024


async def _exchange(farm: Farm, head: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` and ``body`` (never the rest of it), then read the whole answer."""
    url = urlsplit(farm.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(head.encode() + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)  # the server closes: 413
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    raw_headers, _, payload = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in raw_headers.decode().split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, payload


async def test_a_declared_length_over_the_limit_is_refused_before_any_byte_is_sent(
    farm: Farm,
) -> None:
    head = (
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: farm\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * LIMIT}\r\n\r\n"
    )
    status, headers, payload = await _exchange(farm, head, b"")  # not one byte of the body
    assert status == 413
    assert headers["content-type"].startswith("application/problem+json")
    assert "max_body_bytes" in json.loads(payload)["detail"]


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(farm: Farm) -> None:
    head = (
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: farm\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * (LIMIT + 1)
    first_chunk_only = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"  # no final 0-chunk
    status, _, payload = await _exchange(farm, head, first_chunk_only)
    assert status == 413
    assert json.loads(payload)["status"] == 413


async def test_a_body_under_the_limit_is_served(farm: Farm) -> None:
    async with farm.client() as http:
        response = await http.post(
            "/api/v1/auth/login", json={"user": "viewer", "password": "x" * 1000}
        )
    assert response.status_code == 401  # read, parsed and checked: just the wrong password
    assert isinstance(response, httpx.Response)
