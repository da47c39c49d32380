"""Discord handlers called with a constructed interaction (the network edge), no network."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from omegafarm.education import EducationService
from omegafarm.education.discord_adapter import MAX_MESSAGE_CHARS, DiscordHandlers, build_client


@dataclass
class FakeUser:
    id: int


@dataclass
class FakeResponse:
    """Records what a handler sent instead of calling Discord's HTTP API."""

    sent: list[tuple[str | None, bool]] = field(default_factory=list)

    async def send_message(self, content: str | None = None, *, ephemeral: bool = False) -> None:
        if self.sent:
            raise AssertionError("an interaction can be answered only once")
        self.sent.append((content, ephemeral))


@dataclass
class FakeInteraction:
    user: FakeUser
    response: FakeResponse = field(default_factory=FakeResponse)

    @property
    def text(self) -> str:
        assert len(self.response.sent) == 1
        return self.response.sent[0][0] or ""


def interaction(user_id: int = 1234) -> FakeInteraction:
    return FakeInteraction(FakeUser(user_id))


async def test_learn_shows_a_lesson_and_records_progress(service: EducationService) -> None:
    handlers = DiscordHandlers(service)
    it = interaction()
    await handlers.learn(it, "limit-orders")
    assert it.text.startswith("**Limit orders**")
    assert it.response.sent[0][1] is True  # ephemeral
    summary = await service.progress_summary("discord:1234")
    assert summary.lessons_started == 1


async def test_learn_without_topic_recommends(service: EducationService) -> None:
    it = interaction()
    await DiscordHandlers(service).learn(it)
    assert "what-is-a-market" in it.text
    assert "no prerequisites" in it.text


async def test_glossary_and_search(service: EducationService) -> None:
    handlers = DiscordHandlers(service)
    term = interaction()
    await handlers.glossary(term, "spread")
    assert term.text.startswith("**Spread**: The difference")
    found = interaction()
    await handlers.search(found, "fibonaci")
    assert "Fibonacci retracements" in found.text


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h, i: h.learn(i, "nope"), "no lesson 'nope'"),
        (lambda h, i: h.glossary(i, "nope"), "no glossary term"),
        (lambda h, i: h.search(i, ""), "empty"),
        (lambda h, i: h.search(i, 'NEAR(" * ' * 100), "limit is 200"),
        (lambda h, i: h.quiz(i, answer=2), "no question is waiting"),
    ],
    ids=["lesson", "term", "empty-search", "huge-search", "answer-first"],
)
async def test_user_errors_become_a_warning_reply(
    service: EducationService, call, message: str
) -> None:  # type: ignore[no-untyped-def]
    it = interaction()
    await call(DiscordHandlers(service), it)
    assert it.text.startswith("⚠️")
    assert message in it.text


async def test_quiz_question_then_answer(service: EducationService) -> None:
    handlers = DiscordHandlers(service)
    ask = interaction(77)
    await handlers.quiz(ask, topic="first-order")
    assert "A buy limit at 100" in ask.text
    assert "2. 99" in ask.text
    reply = interaction(77)
    await handlers.quiz(reply, answer=2)
    assert reply.text.startswith("✅")


async def test_progress_reports_the_level(service: EducationService) -> None:
    await service.track_progress("discord:5", "limit-orders", status="completed", quiz_score=1.0)
    it = interaction(5)
    await DiscordHandlers(service).progress(it)
    assert "Level **beginner**" in it.text
    assert "lessons 1/4" in it.text
    assert "average score 100%" in it.text


async def test_replies_fit_discords_limit(service: EducationService) -> None:
    it = interaction()
    await DiscordHandlers(service).search(it, "order book limit spread market")
    assert len(it.text) <= MAX_MESSAGE_CHARS


async def test_bot_registers_the_five_slash_commands(service: EducationService) -> None:
    client = build_client(service)
    commands = {c.name: [p.name for p in c.parameters] for c in client.tree.get_commands()}
    assert commands == {
        "learn": ["topic"],
        "glossary": ["term"],
        "search": ["query"],
        "progress": [],
        "quiz": ["answer", "topic"],
    }
    await client.close()
