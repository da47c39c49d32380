"""``omega learn``: lessons, glossary, search, progress and interactive tutorials in the terminal.

Thin: each command builds the Education Service, calls it and renders with rich. Tutorials run
against an in-process paper exchange (synthetic market, no network) so order and Fibonacci steps
can be done and verified right here; answers are read from stdin, so a walk-through also works
with the answers piped in.
"""

from __future__ import annotations

import asyncio
import getpass
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from omegafarm.cli._app import console, fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError, ValidationError
from omegafarm.education import (
    CandleSource,
    EducationService,
    EducationSettings,
    PaperOrderCheck,
    PaperOrderSource,
    QuizCheck,
    SearchResult,
    Status,
    Tutorial,
    lint_content,
)

if TYPE_CHECKING:  # the paper exchange imports ccxt: loaded only when a tutorial runs
    from omegafarm.exchange.paper import PaperExchange

T = TypeVar("T")

app = typer.Typer(
    help="Learn trading and this platform: lessons, tutorials, glossary.", no_args_is_help=True
)

UserOpt = Annotated[
    str | None, typer.Option("--user", "-u", help="User name or discord:<id> (default: you).")
]


@app.callback()
def _learn(
    ctx: typer.Context,
    db: Annotated[Path | None, typer.Option("--db", help="Progress database file.")] = None,
    content_dir: Annotated[
        Path | None, typer.Option("--content-dir", help="Content folder (default: shipped).")
    ] = None,
) -> None:
    ctx.ensure_object(dict).update(education_db=db, education_content=content_dir)


def _settings(ctx: typer.Context, **extra: Any) -> EducationSettings:
    obj = ctx.ensure_object(dict)
    quiet = None if obj.get("log_level") else {"log": {"level": "warning"}}
    root = load_settings_or_exit(ctx, quiet)
    base = getattr(root, "education", None)
    data = base.model_dump() if isinstance(base, EducationSettings) else {}
    for key, value in (
        ("db_path", obj.get("education_db")),
        ("content_dir", obj.get("education_content")),
    ):
        if value is not None:
            data[key] = value
    return EducationSettings.model_validate({**data, **extra})


def _run(
    settings: EducationSettings,
    action: Callable[[EducationService], Awaitable[T]],
    orders: PaperOrderSource | None = None,
    candles: CandleSource | None = None,
) -> T:
    async def main() -> T:
        async with EducationService(settings, orders=orders, candles=candles) as service:
            return await action(service)

    try:
        return asyncio.run(main())
    except OmegaError as exc:
        raise fail(str(exc)) from None


def _user(user: str | None) -> str:
    if user:
        return user
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "me"
    return re.sub(r"[^A-Za-z0-9_.@-]", "-", name).lstrip("-._@") or "me"


def _highlight(snippet: str) -> str:
    parts = escape(snippet).split("**")
    return "".join(f"[bold yellow]{p}[/]" if i % 2 else p for i, p in enumerate(parts))


def render_search(result: SearchResult) -> None:
    """Print search hits as a table, with corrections noted."""
    if result.corrections:
        fixed = ", ".join(f"{a} → {b}" for a, b in result.corrections)
        console.print(f"[dim]searched with corrections: {escape(fixed)}[/]")
    if result.matched_any:
        console.print("[dim]no document has every word; showing documents with any of them[/]")
    if not result.hits:
        console.print(f"nothing found for {escape(result.query)!r}")
        return
    table = Table("kind", "id", "title", "match", show_lines=True)
    for hit in result.hits:
        table.add_row(
            hit.kind, hit.id, escape(hit.title), _highlight(hit.snippet.replace("\n", " "))
        )
    console.print(table)


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to look for (typos are forgiven).")],
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    difficulty: Annotated[
        str | None, typer.Option(help="beginner, intermediate or advanced.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="lesson, tutorial or glossary.")] = None,
    limit: Annotated[int, typer.Option(help="How many results.")] = 10,
) -> None:
    """Full-text search over lessons, tutorials and the glossary."""

    async def act(svc: EducationService) -> SearchResult:
        return svc.search_content(query, category, difficulty, limit, kind)  # type: ignore[arg-type]  # validated by the service

    render_search(_run(_settings(ctx), act))


@app.command("lesson")
def lesson(
    ctx: typer.Context,
    lesson_id: Annotated[str, typer.Argument(metavar="ID", help="Lesson id, e.g. order-books.")],
    user: UserOpt = None,
    done: Annotated[bool, typer.Option("--done", help="Mark the lesson completed.")] = False,
) -> None:
    """Show a lesson (and record that you started or finished it)."""

    async def act(svc: EducationService) -> None:
        found = svc.get_content(lesson_id)
        status = Status.COMPLETED if done else Status.STARTED
        await svc.track_progress(_user(user), found.id, status)
        meta = f"{found.category} · {found.difficulty} · {found.minutes} min"
        console.print(f"[bold]{escape(found.title)}[/]  [dim]{meta}[/]")
        console.print(Markdown(found.body))
        if done:
            console.print(f"[green]marked {found.id} completed[/]")

    _run(_settings(ctx), act)


@app.command("glossary")
def glossary(
    ctx: typer.Context,
    term: Annotated[str | None, typer.Argument(help="A term or term id; omit to list all.")] = None,
) -> None:
    """Look up a glossary term, or list the whole glossary."""

    async def act(svc: EducationService) -> None:
        if term is None:
            table = Table("id", "term", "definition")
            for entry in svc.get_glossary():
                table.add_row(entry.id, escape(entry.term), escape(entry.definition))
            console.print(table)
            return
        entry = svc.get_term(term)
        console.print(f"[bold]{escape(entry.term)}[/] [dim]({entry.id})[/]")
        console.print(escape(entry.definition))
        if entry.related:
            console.print(f"[dim]related:[/] {', '.join(entry.related)}")
        if entry.lessons:
            console.print(f"[dim]lessons:[/] {', '.join(entry.lessons)}")

    _run(_settings(ctx), act)


@app.command("progress")
def progress(ctx: typer.Context, user: UserOpt = None) -> None:
    """Your progress, level, reviews due and what to do next."""
    who = _user(user)

    async def act(svc: EducationService) -> None:
        summary = await svc.progress_summary(who)
        recs = await svc.recommend_content(who)
        score = "-" if summary.average_score is None else f"{summary.average_score:.0%}"
        console.print(
            f"[bold]{escape(summary.user)}[/]: level {summary.level}; lessons "
            f"{summary.lessons_completed}/{summary.lessons_total} completed "
            f"({summary.lessons_started} started); tutorials "
            f"{summary.tutorials_completed}/{summary.tutorials_total}; average score {score}; "
            f"{summary.minutes_completed} min learned; {summary.reviews_due} review(s) due"
        )
        table = Table("category", "completed")
        for category, (done, total) in summary.by_category.items():
            table.add_row(category, f"{done}/{total}")
        console.print(table)
        if recs:
            nxt = Table("next", "id", "why", title="Recommended")
            for rec in recs:
                nxt.add_row(rec.kind, rec.id, escape(rec.reason))
            console.print(nxt)

    _run(_settings(ctx), act)


@app.command("quiz")
def quiz(
    ctx: typer.Context, topic: Annotated[str | None, typer.Argument()] = None, user: UserOpt = None
) -> None:
    """One quiz question (a glossary term due for review, or from TOPIC); answer on stdin."""
    who = _user(user)

    async def act(svc: EducationService) -> None:
        question = await svc.next_quiz(who, topic)
        console.print(f"[bold]{escape(question.question)}[/]")
        for number, choice in enumerate(question.choices, 1):
            console.print(f"  {number}. {escape(choice)}")
        answer = _ask(f"Your answer (1-{len(question.choices)})")
        outcome = await svc.answer_quiz(who, answer)
        mark = (
            "[green]correct[/]"
            if outcome.correct
            else f"[red]wrong[/]: {escape(outcome.right_choice)}"
        )
        console.print(f"{mark}. {escape(outcome.why)}")

    _run(_settings(ctx), act)


@app.command("lint")
def lint(ctx: typer.Context) -> None:
    """Check a content folder: front matter, links, prerequisites, cycles."""
    folder = ctx.ensure_object(dict).get("education_content")
    issues = lint_content(folder)
    for issue in issues:
        console.print(escape(str(issue)), highlight=False)
    if issues:
        raise fail(f"{len(issues)} problem(s) in the content")
    console.print("[green]content is clean[/]")


def _ask(prompt: str) -> str:
    try:
        return input(f"{prompt}: ")
    except EOFError:
        raise fail("no more input; the walk-through stopped") from None


async def _place_order(paper: PaperExchange, check: PaperOrderCheck, text: str) -> None:
    """Parse ``buy limit 61000 [0.01]`` (or ``sell market [0.01]``) and submit it."""
    words = text.lower().split()
    if len(words) < 2 or words[0] not in ("buy", "sell") or words[1] not in ("limit", "market"):
        raise ValidationError(
            "an order reads like: buy limit 61000 0.01  (side type [price] [amount])"
        )
    numbers = [float(w.replace(",", "")) for w in words[2:] if re.fullmatch(r"[\d.,]+", w)]
    price = numbers[0] if words[1] == "limit" and numbers else None
    amount = numbers[-1] if len(numbers) > (1 if price is not None else 0) else 0.01
    try:
        await paper.create_order(check.symbol, words[1], words[0], amount, price)
    except Exception as exc:  # the exchange's own (ccxt) errors; the cli may not import ccxt
        raise ValidationError(f"the paper exchange refused the order: {exc}") from exc


async def _walk_step(
    svc: EducationService, paper: PaperExchange, who: str, tutorial: Tutorial, index: int
) -> bool:
    step = tutorial.steps[index]
    console.rule(f"Step {index + 1}/{len(tutorial.steps)}: {escape(step.title)}")
    console.print(Markdown(step.explanation))
    check = step.check
    context = await svc.prepare_step(who, tutorial.id, index)
    if context:
        console.print(escape(context))
    if isinstance(check, QuizCheck):
        console.print(f"[bold]{escape(check.question)}[/]")
        for number, choice in enumerate(check.choices, 1):
            console.print(f"  {number}. {escape(choice)}")
        prompt = f"Your answer (1-{len(check.choices)})"
    elif isinstance(check, PaperOrderCheck):
        console.print(f"[bold]{escape(check.instruction)}[/]")
        prompt = "Your order (e.g. buy limit 61000 0.01)"
    else:
        console.print(f"[bold]{escape(check.instruction)}[/]")
        prompt = "Your answer"
    for _attempt in range(3):
        answer = _ask(prompt)
        try:
            if isinstance(check, PaperOrderCheck):
                await _place_order(paper, check, answer)
            result = await svc.check_step(who, tutorial.id, index, answer)
        except OmegaError as exc:
            console.print(f"[yellow]{escape(str(exc))}[/]")
            continue
        colour = "green" if result.passed else "red"
        console.print(f"[{colour}]{escape(result.message)}[/]")
        return result.passed
    return False


@app.command("tutorial")
def tutorial(
    ctx: typer.Context,
    tutorial_id: Annotated[str, typer.Argument(metavar="ID", help="Tutorial id.")],
    user: UserOpt = None,
) -> None:
    """Walk through a tutorial step by step (answers are read from stdin)."""
    from omegafarm.exchange.paper import PaperExchange  # heavy (ccxt); only tutorials need it

    who = _user(user)
    exchange = PaperExchange()
    settings = _settings(ctx, candles_timeframe=exchange.timeframe)

    async def act(svc: EducationService) -> None:
        try:
            found = svc.get_tutorial(tutorial_id)
            meta = f"{found.minutes} min · {len(found.steps)} steps"
            console.print(f"[bold]{escape(found.title)}[/]  [dim]{meta}[/]")
            passed = 0
            for index in range(len(found.steps)):
                passed += await _walk_step(svc, exchange, who, found, index)
            score = passed / len(found.steps)
            await svc.track_progress(who, found.id, Status.COMPLETED, quiz_score=score)
            console.print(f"[bold]done[/]: {passed}/{len(found.steps)} steps right ({score:.0%})")
        finally:
            await exchange.close()

    from omegafarm.education.sources import OhlcvCandles

    _run(settings, act, orders=exchange, candles=OhlcvCandles(exchange))
