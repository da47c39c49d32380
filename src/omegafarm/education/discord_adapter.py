"""Discord delivery: slash commands /learn, /glossary, /search, /progress and /quiz.

The handlers are thin adapters over :class:`EducationService`: they turn a Discord user id into
``discord:<id>``, call the service and answer with plain text that fits Discord's 2,000
character limit. They depend only on the small :class:`Interaction` Protocol below (the part of
``discord.Interaction`` they use), so tests call them with a constructed interaction and no
network. ``build_client`` wires them into a real discord.py client.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from omegafarm.core.errors import OmegaError
from omegafarm.education.models import SearchResult
from omegafarm.education.service import EducationService

MAX_MESSAGE_CHARS = 2000


class InteractionUser(Protocol):
    """The invoking user; only the numeric id is used."""

    @property
    def id(self) -> int: ...


class InteractionResponse(Protocol):
    """The reply channel of an interaction."""

    async def send_message(self, content: str | None = None, *, ephemeral: bool = False) -> Any:
        """Send the one reply an interaction allows."""
        ...


class Interaction(Protocol):
    """The part of ``discord.Interaction`` the handlers use."""

    @property
    def user(self) -> InteractionUser: ...

    @property
    def response(self) -> InteractionResponse: ...


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Shorten ``text`` to Discord's message limit, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def format_search(result: SearchResult) -> str:
    """Search hits as a short Markdown list."""
    if not result.hits:
        return f"Nothing found for “{result.query}”."
    lines = []
    if result.corrections:
        lines.append("*Searched for: " + ", ".join(b for _, b in result.corrections) + "*")
    for hit in result.hits:
        snippet = " ".join(hit.snippet.split())
        lines.append(f"**{hit.title}** (`{hit.kind}:{hit.id}`): {snippet}")
    return "\n".join(lines)


class DiscordHandlers:
    """Slash-command handlers; each answers exactly once and never raises for user errors."""

    def __init__(self, service: EducationService) -> None:
        self._service = service

    @staticmethod
    def user_of(interaction: Interaction) -> str:
        """The service's user id for a Discord user."""
        return f"discord:{int(interaction.user.id)}"

    async def _answer(
        self, interaction: Interaction, make: Callable[[str], Awaitable[str]]
    ) -> None:
        try:
            text = await make(self.user_of(interaction))
        except OmegaError as exc:
            await interaction.response.send_message(clip(f"⚠️ {exc}"), ephemeral=True)
            return
        await interaction.response.send_message(clip(text), ephemeral=True)

    async def learn(self, interaction: Interaction, topic: str | None = None) -> None:
        """/learn [topic]: show a lesson, or recommend what to learn next."""

        async def make(user: str) -> str:
            svc = self._service
            if topic is None:
                recs = await svc.recommend_content(user)
                if not recs:
                    return "You have finished everything. Well done!"
                lines = [f"• `{r.kind}:{r.id}` **{r.title}**: {r.reason}" for r in recs]
                return "**Next for you**\n" + "\n".join(lines)
            lesson = svc.get_content(topic)
            await svc.track_progress(user, lesson.id)
            head = f"**{lesson.title}** ({lesson.difficulty}, {lesson.minutes} min)\n"
            tail = f"\n\n*Full lesson: `omega learn lesson {lesson.id}`*"
            return head + clip(lesson.body, MAX_MESSAGE_CHARS - len(head) - len(tail)) + tail

        await self._answer(interaction, make)

    async def glossary(self, interaction: Interaction, term: str) -> None:
        """/glossary term: one definition with related terms."""

        async def make(_user: str) -> str:
            entry = self._service.get_term(term)
            related = f"\nRelated: {', '.join(entry.related)}" if entry.related else ""
            return f"**{entry.term}**: {entry.definition}{related}"

        await self._answer(interaction, make)

    async def search(self, interaction: Interaction, query: str) -> None:
        """/search query: the top five hits with snippets."""

        async def make(_user: str) -> str:
            return format_search(self._service.search_content(query, limit=5))

        await self._answer(interaction, make)

    async def progress(self, interaction: Interaction) -> None:
        """/progress: the user's summary."""

        async def make(user: str) -> str:
            s = await self._service.progress_summary(user)
            score = "–" if s.average_score is None else f"{s.average_score:.0%}"
            return (
                f"Level **{s.level}** · lessons {s.lessons_completed}/{s.lessons_total} "
                f"({s.lessons_started} started) · tutorials {s.tutorials_completed}/"
                f"{s.tutorials_total} · average score {score} · {s.reviews_due} review(s) due"
            )

        await self._answer(interaction, make)

    async def quiz(
        self, interaction: Interaction, answer: int | None = None, topic: str | None = None
    ) -> None:
        """/quiz [topic]: ask a question; /quiz answer:N answers the pending one."""

        async def make(user: str) -> str:
            if answer is not None:
                outcome = await self._service.answer_quiz(user, answer)
                verdict = (
                    "✅ Correct!" if outcome.correct else f"❌ It was **{outcome.right_choice}**."
                )
                return f"{verdict} {outcome.why}"
            question = await self._service.next_quiz(user, topic)
            choices = "\n".join(f"{n}. {c}" for n, c in enumerate(question.choices, 1))
            return f"{question.question}\n{choices}\n*Answer with `/quiz answer:<number>`*"

        await self._answer(interaction, make)


def build_client(service: EducationService) -> Any:
    """A discord.py client whose command tree routes the slash commands to the handlers."""
    with warnings.catch_warnings():
        # discord.py imports the stdlib audioop (voice support, unused here), deprecated in 3.11
        warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
        import discord  # the network edge; imported only when a bot actually runs
        from discord import app_commands

    handlers = DiscordHandlers(service)

    class _Client(discord.Client):
        def __init__(self) -> None:
            super().__init__(intents=discord.Intents.default())
            self.tree = app_commands.CommandTree(self)

        async def setup_hook(self) -> None:
            await self.tree.sync()  # registers the slash commands with Discord

    client = _Client()
    tree = client.tree

    @tree.command(name="learn", description="Read a lesson, or see what to learn next")
    async def learn(interaction: discord.Interaction, topic: str | None = None) -> None:
        await handlers.learn(interaction, topic)

    @tree.command(name="glossary", description="Look up a trading term")
    async def glossary(interaction: discord.Interaction, term: str) -> None:
        await handlers.glossary(interaction, term)

    @tree.command(name="search", description="Search lessons, tutorials and the glossary")
    async def search(interaction: discord.Interaction, query: str) -> None:
        await handlers.search(interaction, query)

    @tree.command(name="progress", description="Your learning progress")
    async def progress(interaction: discord.Interaction) -> None:
        await handlers.progress(interaction)

    @tree.command(name="quiz", description="A quiz question; answer with /quiz answer:<n>")
    async def quiz(
        interaction: discord.Interaction, answer: int | None = None, topic: str | None = None
    ) -> None:
        await handlers.quiz(interaction, answer, topic)

    return client
