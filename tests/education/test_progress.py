"""Progress: persisted in SQLite, survives a restart, completed is sticky, bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from omegafarm.core.errors import ConfigError, ServiceStateError, ValidationError
from omegafarm.education import EducationService, EducationSettings, Status, UnknownTopicError

from .conftest import FIXTURE_CONTENT, Clock


async def test_progress_survives_a_restart(settings: EducationSettings, clock: Clock) -> None:
    async with EducationService(
        settings, clock=clock, metrics_registry=CollectorRegistry()
    ) as first:
        await first.track_progress("alice", "what-is-a-market", status="completed", quiz_score=0.8)
        await first.track_progress("discord:1234", "limit-orders")
    async with EducationService(
        settings, clock=clock, metrics_registry=CollectorRegistry()
    ) as second:
        alice = await second.progress_summary("alice")
        bob = await second.progress_summary("discord:1234")
    assert alice.lessons_completed == 1
    assert alice.average_score == pytest.approx(0.8)
    assert [r.topic for r in alice.records] == ["what-is-a-market"]
    assert bob.lessons_started == 1
    assert bob.lessons_completed == 0


async def test_completed_is_sticky_and_best_score_kept(
    service: EducationService, clock: Clock
) -> None:
    await service.track_progress("alice", "limit-orders", status="completed", quiz_score=0.9)
    clock.advance(hours=1)
    record = await service.track_progress("alice", "limit-orders", status="started", quiz_score=0.5)
    assert record.status is Status.COMPLETED
    assert record.quiz_score == pytest.approx(0.5)
    assert record.best_score == pytest.approx(0.9)
    assert record.attempts == 2


async def test_summary_counts_minutes_and_categories(service: EducationService) -> None:
    await service.track_progress("alice", "what-is-a-market", status="completed")
    await service.track_progress("alice", "risk-per-trade", status="completed")
    summary = await service.progress_summary("alice")
    assert summary.minutes_completed == 4 + 6
    assert summary.by_category["market-basics"] == (1, 1)
    assert summary.by_category["order-types"] == (0, 1)
    assert summary.lessons_total == 4
    assert summary.reviews_due == 2  # order-book and spread, linked from what-is-a-market


async def test_topic_may_be_typed_as_words(service: EducationService) -> None:
    record = await service.track_progress("alice", "Limit Orders")
    assert record.topic == "limit-orders"


@pytest.mark.parametrize(
    ("user", "topic", "kwargs", "error", "message"),
    [
        ("alice", "no-such-lesson", {}, UnknownTopicError, "no lesson or tutorial"),
        ("alice", "spread", {}, UnknownTopicError, "is a glossary term"),
        ("alice", "limit-orders", {"status": "finished"}, ValidationError, "status"),
        ("alice", "limit-orders", {"quiz_score": 1.5}, ValidationError, "fraction"),
        ("", "limit-orders", {}, ValidationError, "invalid user"),
        ("discord:abc", "limit-orders", {}, ValidationError, "invalid user"),
        ("x" * 200, "limit-orders", {}, ValidationError, "invalid user"),
        ("alice", "", {}, ValidationError, "topic"),
    ],
    ids=[
        "unknown",
        "glossary-not-lesson",
        "status",
        "score",
        "empty-user",
        "bad-discord",
        "long-user",
        "empty-topic",
    ],
)
async def test_bad_progress_input_is_a_clear_error(
    service: EducationService,
    user: str,
    topic: str,
    kwargs: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        await service.track_progress(user, topic, **kwargs)  # type: ignore[arg-type]


async def test_unknown_lesson_suggests_close_ids(service: EducationService) -> None:
    with pytest.raises(UnknownTopicError, match="did you mean: limit-orders"):
        service.get_content("limit-ordrs")


async def test_calls_before_start_raise_service_state_error(settings: EducationSettings) -> None:
    svc = EducationService(settings, metrics_registry=CollectorRegistry())
    with pytest.raises(ServiceStateError):
        svc.search_content("order")


async def test_health_and_metrics_report_content(service: EducationService) -> None:
    health = await service.health()
    assert health.ready
    assert service.get_metrics()["lessons"] == 4


async def test_unusable_database_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings = EducationSettings(content_dir=FIXTURE_CONTENT, db_path=blocker / "db.sqlite3")
    svc = EducationService(settings, metrics_registry=CollectorRegistry())
    with pytest.raises(ConfigError, match="cannot open the education progress database"):
        await svc.initialize()
