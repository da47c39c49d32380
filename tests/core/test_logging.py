from __future__ import annotations

import io
import json
import logging

import structlog

from omegafarm.core.logging import MASK, configure_logging


def capture(fmt: str = "json", secrets: tuple[str, ...] = ()) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(fmt=fmt, secrets=secrets, stream=stream)  # type: ignore[arg-type]
    return stream


def test_configured_secret_never_reaches_a_log_line() -> None:
    secret = "s3cr3t-Value-42"
    stream = capture(secrets=(secret,))
    log = structlog.get_logger("test", service="exchange")
    log.info("order_submitted", note=f"used key {secret}", nested={"deep": [secret]})
    log.warning(f"event mentioning {secret}")
    logging.getLogger("uvicorn.error").error("stdlib line with %s", secret)
    try:
        raise ValueError(f"bad request signed with {secret}")
    except ValueError:
        log.exception("request_failed")
    output = stream.getvalue()
    assert secret not in output
    assert output.count(MASK) >= 4


def test_secret_looking_values_and_keys_are_masked() -> None:
    stream = capture()
    log = structlog.get_logger("test")
    api_secret = "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7s"
    log.info(
        "connected", api_key="short", detail=f"header X-MBX-APIKEY {api_secret}", password="pw"
    )
    log.info("url", target="redis://user:password=hunter2@host")
    output = stream.getvalue()
    assert api_secret not in output
    assert "short" not in output
    assert '"password": "***"' in output
    assert "hunter2" not in output


def test_every_record_carries_the_service_name() -> None:
    stream = capture()
    structlog.get_logger("test", service="cosmic").info("analysed")
    structlog.get_logger("test").info("plain")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["service"] for r in records] == ["cosmic", "omega"]
    assert all("timestamp" in r and r["level"] == "info" for r in records)


def test_console_format_is_human_readable() -> None:
    stream = capture(fmt="console")
    structlog.get_logger("test", service="redis").info("redis_connected", embedded=True)
    line = stream.getvalue()
    assert "redis_connected" in line
    assert "service=redis" in line
    assert not line.lstrip().startswith("{")


def test_file_paths_and_plain_words_are_not_taken_for_secrets() -> None:
    stream = capture()
    path = "/tmp/pytest-of-root/pytest-12/test_after_kill_9_the_next_up_starts_cleanly_wi0/redis"
    structlog.get_logger("test").info(
        "started", data_dir=path, note="an_ordinary_identifier_with_many_words_1"
    )
    output = stream.getvalue()
    assert path in output
    assert "an_ordinary_identifier_with_many_words_1" in output
