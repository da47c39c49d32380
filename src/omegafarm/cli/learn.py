"""``omega learn``: lessons, glossary, search, progress and interactive tutorials in the terminal.

Thin: each command builds the Education Service, calls it and renders with rich. Tutorials run
against an in-process paper exchange (synthetic market, no network) so order and Fibonacci steps
can be done and verified right here (beside a running ``omega up``, on the farm's own paper
exchange through its API); answers are read from stdin, so a walk-through also works with the
answers piped in.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from omegafarm.cli._app import (
    configures_logging_itself,
    console,
    fail,
    load_settings_or_exit,
    nothing_layered,
)
from omegafarm.core.errors import OmegaError, ValidationError

if TYPE_CHECKING:  # imported where used: `learn search` needs neither the service nor markdown
    from omegafarm.cli._tutorial_market import TutorialMarket  # the paper exchange: ccxt
    from omegafarm.education import (
        CandleSource,
        EducationService,
        EducationSettings,
        PaperOrderCheck,
        PaperOrderSource,
        SearchResult,
        Tutorial,
    )
    from omegafarm.education.query import SearchConfig

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


def _settings(ctx: typer.Context, *, configure: bool = True, **extra: Any) -> EducationSettings:
    from omegafarm.education.config import EducationSettings

    obj = ctx.ensure_object(dict)
    quiet = None if obj.get("log_level") else {"log": {"level": "warning"}}
    root = load_settings_or_exit(ctx, quiet, sections=("education",), configure=configure)
    base = getattr(root, "education", None)
    data = base.model_dump() if isinstance(base, EducationSettings) else {}
    for key, value in (
        ("db_path", obj.get("education_db")),
        ("content_dir", obj.get("education_content")),
    ):
        if value is not None:
            data[key] = value
    return EducationSettings.model_validate({**data, **extra})


def _search_settings(ctx: typer.Context) -> SearchConfig:
    """What a search reads of the settings: with no config file and no ``OMEGA_*`` variable,
    the defaults (and ``--content-dir``), built without pydantic; else the layered load,
    logging left alone."""
    obj = ctx.ensure_object(dict)
    if nothing_layered(obj.get("config")):
        from omegafarm.education.query import SearchSettings

        return SearchSettings(content_dir=obj.get("education_content"))
    return _settings(ctx, configure=False)


def _run(
    settings: EducationSettings,
    action: Callable[[EducationService], Awaitable[T]],
    orders: PaperOrderSource | None = None,
    candles: CandleSource | None = None,
) -> T:
    import asyncio

    from omegafarm.education.service import EducationService

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
    import getpass

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
    from omegafarm.cli._tables import wrapping_table

    rows = [
        [hit.kind, hit.id, escape(hit.title), _highlight(hit.snippet.replace("\n", " "))]
        for hit in result.hits
    ]
    console.print(wrapping_table(["kind", "id", "title", "match"], rows, show_lines=True))


@app.command("search")
@configures_logging_itself
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
    from omegafarm.education import query as search_index  # the saved index: no service

    # Logging (structlog) is configured only when the saved index must be built: opening it
    # and querying logs nothing.
    settings = _search_settings(ctx)
    try:
        found = search_index.search(
            settings, query, category, difficulty, limit, kind,  # type: ignore[arg-type]  # checked by check_search
            before_build=lambda: _settings(ctx),
        )  # fmt: skip
    except OmegaError as exc:
        raise fail(str(exc)) from None
    render_search(found)


@app.command("lesson")
def lesson(
    ctx: typer.Context,
    lesson_id: Annotated[str, typer.Argument(metavar="ID", help="Lesson id, e.g. order-books.")],
    user: UserOpt = None,
    done: Annotated[bool, typer.Option("--done", help="Mark the lesson completed.")] = False,
) -> None:
    """Show a lesson (and record that you started or finished it)."""

    from rich.markdown import Markdown

    from omegafarm.education.models import Status

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
            from omegafarm.cli._tables import wrapping_table

            rows = [[e.id, escape(e.term), escape(e.definition)] for e in svc.get_glossary()]
            console.print(wrapping_table(["id", "term", "definition"], rows))
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
        from rich.table import Table

        table = Table("category", "completed")
        for category, (done, total) in summary.by_category.items():
            table.add_row(category, f"{done}/{total}")
        console.print(table)
        if recs:
            from omegafarm.cli._tables import wrapping_table

            rows = [[rec.kind, rec.id, escape(rec.reason)] for rec in recs]
            console.print(wrapping_table(["next", "id", "why"], rows, title="Recommended"))

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
    from omegafarm.education.lint import lint_content

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


async def _place_order(market: TutorialMarket, check: PaperOrderCheck, text: str) -> None:
    """Parse ``buy limit 41000 [0.001]`` (or ``sell market [0.001]``) and submit it."""
    words = text.lower().split()
    if len(words) < 2 or words[0] not in ("buy", "sell") or words[1] not in ("limit", "market"):
        raise ValidationError(
            "an order reads like: buy limit 41000 0.001  (side type [price] [amount])"
        )
    numbers = [float(w.replace(",", "")) for w in words[2:] if re.fullmatch(r"[\d.,]+", w)]
    price = numbers[0] if words[1] == "limit" and numbers else None
    amount = numbers[-1] if len(numbers) > (1 if price is not None else 0) else 0.001
    await market.place(check.symbol, words[1], words[0], amount, price)


async def _order_prompt(market: TutorialMarket, check: PaperOrderCheck) -> str:
    """Print the prices the user should work from and return a prompt with a fitting example."""
    quote = await market.quote(check.symbol)
    console.print(
        f"{check.symbol} on {market.where}:\n  last {quote.price_text(quote.last)} · "
        f"bid {quote.price_text(quote.bid)} · ask {quote.price_text(quote.ask)}",
        highlight=False,
    )
    if check.order_type == "market":
        _, amount = quote.suggest(check.side)
        example = f"{check.side} market {amount}"
    else:
        away = min(1.0, (check.max_distance_pct or 2.0) / 2)
        price, amount = quote.suggest(check.side, away_pct=away)
        example = f"{check.side} limit {price} {amount}"
    console.print(f"Suggested: [bold]{escape(example)}[/]", highlight=False)
    return f"Your order (e.g. {example})"


async def _walk_step(
    svc: EducationService, market: TutorialMarket, who: str, tutorial: Tutorial, index: int
) -> bool:
    from rich.markdown import Markdown

    from omegafarm.education.models import PaperOrderCheck, QuizCheck

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
        prompt = await _order_prompt(market, check)
    else:
        console.print(f"[bold]{escape(check.instruction)}[/]")
        prompt = "Your answer"
    for attempt in range(3):
        answer = _ask(prompt)
        if attempt and not answer.strip():
            console.print("[dim]step skipped[/]")
            return False
        try:
            if isinstance(check, PaperOrderCheck):
                await _place_order(market, check, answer)
            result = await svc.check_step(who, tutorial.id, index, answer)
        except OmegaError as exc:
            console.print(f"[yellow]{escape(str(exc))}[/] [dim](try again, or Enter to skip)[/]")
            continue
        colour = "green" if result.passed else "red"
        console.print(f"[{colour}]{escape(result.message)}[/]")
        if result.passed or not isinstance(check, PaperOrderCheck):
            return result.passed
        console.print("[dim]Place another order to try again, or press Enter to skip.[/]")
    if isinstance(check, PaperOrderCheck):
        console.print("[dim]This step is not done; the next steps assume that order.[/]")
    return False


@app.command("tutorial")
def tutorial(
    ctx: typer.Context,
    tutorial_id: Annotated[str, typer.Argument(metavar="ID", help="Tutorial id.")],
    user: UserOpt = None,
    token_env: Annotated[
        str, typer.Option("--token-env", help="Variable holding a trader's API token.")
    ] = "OMEGA_TOKEN",  # noqa: S107  # the variable's name, not a secret
) -> None:
    """Walk through a tutorial step by step (answers are read from stdin).

    Beside a running ``omega up`` it trades on the farm's paper exchange through the API (a
    trader's token in ``OMEGA_TOKEN``); otherwise on a private paper exchange, and says so.
    """
    from omegafarm.cli._tutorial_market import FarmMarket, LocalMarket, farm_url, token_from_env
    from omegafarm.education.models import Status

    who = _user(user)
    root = load_settings_or_exit(ctx, {"log": {"level": "warning"}})
    url, token = farm_url(root.api), token_from_env(token_env)
    market: TutorialMarket
    if url and token:
        market = FarmMarket(url, token)
        timeframe = "1m"
    else:
        from omegafarm.exchange.paper import PaperExchange  # heavy (ccxt): only when needed

        exchange = PaperExchange()
        market, timeframe = LocalMarket(exchange), exchange.timeframe
        if url:
            console.print(
                f"[yellow]A farm runs at {url}, but ${token_env} holds no API token, so this "
                "tutorial uses its own paper exchange. To trade on the farm's market: "
                f"`omega tokens create --user NAME` (a trader) and `export {token_env}=...`.[/]"
            )
    settings = _settings(ctx, candles_timeframe=timeframe)

    async def act(svc: EducationService) -> None:
        try:
            found = svc.get_tutorial(tutorial_id)
            meta = f"{found.minutes} min · {len(found.steps)} steps"
            console.print(f"[bold]{escape(found.title)}[/]  [dim]{meta}[/]")
            passed = 0
            for index in range(len(found.steps)):
                passed += await _walk_step(svc, market, who, found, index)
            score = passed / len(found.steps)
            await svc.track_progress(who, found.id, Status.COMPLETED, quiz_score=score)
            console.print(f"[bold]done[/]: {passed}/{len(found.steps)} steps right ({score:.0%})")
        finally:
            await market.close()

    _run(settings, act, orders=market, candles=market)
