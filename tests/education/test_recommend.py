"""Recommendations respect prerequisites and level; glossary reviews follow FSRS."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from omegafarm.education import EducationService, EducationSettings

from .conftest import Clock


async def test_new_user_gets_only_lessons_without_prerequisites(service: EducationService) -> None:
    recs = await service.recommend_content("newbie")
    assert [(r.kind, r.id) for r in recs] == [
        ("lesson", "what-is-a-market"),
        ("lesson", "risk-per-trade"),
    ]
    assert all("no prerequisites" in r.reason for r in recs)


async def test_completing_a_prerequisite_unlocks_the_next_lesson(service: EducationService) -> None:
    await service.track_progress("alice", "what-is-a-market", status="completed")
    recs = await service.recommend_content("alice")
    lessons = [r.id for r in recs if r.kind == "lesson"]
    assert "limit-orders" in lessons
    assert "fibonacci-retracements" not in lessons  # its prerequisite is not done
    reason = next(r.reason for r in recs if r.id == "limit-orders")
    assert "What is a market" in reason


async def test_every_recommended_item_has_its_prerequisites_done(service: EducationService) -> None:
    done: set[str] = set()
    for lesson in ("what-is-a-market", "limit-orders"):
        await service.track_progress("alice", lesson, status="completed")
        done.add(lesson)
        for rec in await service.recommend_content("alice"):
            if rec.kind in ("lesson", "tutorial"):
                item = (
                    service.get_content(rec.id)
                    if rec.kind == "lesson"
                    else service.get_tutorial(rec.id)
                )
                assert set(item.prerequisites) <= done
                assert rec.id not in done


async def test_started_lesson_comes_first(service: EducationService) -> None:
    await service.track_progress("alice", "risk-per-trade", status="started")
    recs = await service.recommend_content("alice")
    assert recs[0].id == "risk-per-trade"
    assert "started" in recs[0].reason


async def test_level_rises_after_enough_lessons(service: EducationService) -> None:
    before = await service.progress_summary("alice")
    for lesson in ("what-is-a-market", "limit-orders", "risk-per-trade"):
        await service.track_progress("alice", lesson, status="completed")
    after = await service.progress_summary("alice")
    assert (before.level, after.level) == ("beginner", "intermediate")
    recs = await service.recommend_content("alice")
    fib = next(r for r in recs if r.id == "fibonacci-retracements")
    assert "matches your level (intermediate)" in fib.reason


async def test_completed_lesson_terms_are_due_then_scheduled_by_fsrs(
    service: EducationService, clock: Clock
) -> None:
    await service.track_progress("alice", "what-is-a-market", status="completed")
    reviews = [r for r in await service.recommend_content("alice") if r.kind == "glossary"]
    assert {r.id for r in reviews} == {"order-book", "spread"}
    assert all("new term" in r.reason for r in reviews)

    due = await service.review_term("alice", "spread", "good")
    assert due > clock.now
    reviews = [r.id for r in await service.recommend_content("alice") if r.kind == "glossary"]
    assert reviews == ["order-book"]

    clock.now = due
    reviews_later = [r for r in await service.recommend_content("alice") if r.kind == "glossary"]
    assert "spread" in {r.id for r in reviews_later}


async def test_easy_review_schedules_later_than_again(service: EducationService) -> None:
    easy = await service.review_term("alice", "spread", "easy")
    again = await service.review_term("bob", "spread", 1)
    assert easy > again


async def test_a_learner_following_recommendations_reaches_every_shipped_lesson(
    tmp_path: Path, clock: Clock
) -> None:
    settings = EducationSettings(db_path=tmp_path / "walk.sqlite3")
    async with EducationService(settings, clock=clock, metrics_registry=CollectorRegistry()) as svc:
        lessons = svc.library.lessons
        done: set[str] = set()
        levels = []
        for _ in range(len(lessons)):
            recs = [r for r in await svc.recommend_content("walker") if r.kind == "lesson"]
            if not recs:
                break
            nxt = recs[0].id
            assert set(lessons[nxt].prerequisites) <= done, nxt
            await svc.track_progress("walker", nxt, status="completed")
            done.add(nxt)
            levels.append((await svc.progress_summary("walker")).level)
    assert done == set(lessons)
    assert levels[0] == "beginner"
    assert levels[-1] == "advanced"
