"""``omega learn`` and ``omega discord`` through the real typer app, answers piped on stdin."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from omegafarm.cli import app

from .conftest import FIXTURE_CONTENT


@pytest.fixture
def learn(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    base = ["learn", "--content-dir", str(FIXTURE_CONTENT), "--db", str(tmp_path / "p.sqlite3")]

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, [*base, *args], input=stdin)

    return invoke


def test_search_prints_ranked_hits(learn) -> None:  # type: ignore[no-untyped-def]
    result = learn("search", "limit orders")
    assert result.exit_code == 0, result.output
    assert result.output.index("limit-orders") < result.output.index("what-is-a-market")


def test_search_reports_typo_corrections(learn) -> None:  # type: ignore[no-untyped-def]
    result = learn("search", "retracment")
    assert result.exit_code == 0
    assert "retracment → retracement" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("search", ""), "empty"),
        (("search", "x" * 500), "limit is 200"),
        (("search", "order", "--category", "astrology"), "unknown category"),
        (("lesson", "no-such-lesson"), "no lesson"),
        (("glossary", "no-such-term"), "no glossary term"),
        (("tutorial", "no-such-tutorial"), "no tutorial"),
        (("progress", "--user", "bad user!"), "invalid user"),
    ],
    ids=["empty", "huge", "category", "lesson", "term", "tutorial", "user"],
)
def test_user_errors_exit_2_with_one_line(learn, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = learn(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_lesson_done_then_progress_shows_it_and_recommends_next(learn) -> None:  # type: ignore[no-untyped-def]
    shown = learn("lesson", "what-is-a-market", "--user", "carol", "--done")
    assert shown.exit_code == 0
    assert "A market is where buyers and sellers meet" in shown.output
    progress = learn("progress", "--user", "carol")
    assert progress.exit_code == 0
    assert "lessons 1/4 completed" in progress.output
    assert "limit-orders" in progress.output  # unlocked by its prerequisite


def test_glossary_lists_and_shows_terms(learn) -> None:  # type: ignore[no-untyped-def]
    listing = learn("glossary")
    assert listing.exit_code == 0
    assert "Retracement" in listing.output
    one = learn("glossary", "Spread")
    assert "lowest ask" in one.output


def test_tutorial_walk_through_with_piped_answers(learn) -> None:  # type: ignore[no-untyped-def]
    answers = "2\nbuy market 0.01\n\n1\n20\n"  # the empty line skips the failed order step
    result = learn("tutorial", "first-order", "--user", "dave", stdin=answers)
    assert result.exit_code == 0, result.output
    assert "Correct. A buy limit fills" in result.output
    assert "The current swing of BTC/USDT" in result.output
    assert "No limit buy order" in result.output  # a market order does not pass a limit step
    assert "done: 2/4 steps right (50%)" in result.output
    progress = learn("progress", "--user", "dave")
    assert "tutorials 1/1" in progress.output


def test_tutorial_stops_cleanly_when_input_ends(learn) -> None:  # type: ignore[no-untyped-def]
    result = learn("tutorial", "first-order", stdin="")
    assert result.exit_code == 2
    assert "no more input" in result.output


def test_quiz_asks_and_judges_from_stdin(learn) -> None:  # type: ignore[no-untyped-def]
    result = learn("quiz", "first-order", "--user", "erin", stdin="2\n")
    assert result.exit_code == 0, result.output
    assert "correct" in result.output


def test_lint_reports_a_clean_fixture(learn) -> None:  # type: ignore[no-untyped-def]
    result = learn("lint")
    assert result.exit_code == 0
    assert "content is clean" in result.output


def test_discord_without_token_variable_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMEGA_TEST_DISCORD_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["discord", "--token-env", "OMEGA_TEST_DISCORD_TOKEN"])
    assert result.exit_code == 2
    assert "OMEGA_TEST_DISCORD_TOKEN is not set" in result.output
