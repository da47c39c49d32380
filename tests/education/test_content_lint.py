"""The content linter over the shipped content, and over broken content it must reject."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omegafarm.education import SHIPPED_CONTENT_DIR, ContentError, lint_content, load_content
from omegafarm.education.lint import find_cycles

from .conftest import FIXTURE_CONTENT


def test_shipped_content_passes_the_linter() -> None:
    issues = lint_content(SHIPPED_CONTENT_DIR)
    assert [str(i) for i in issues] == []


def test_shipped_content_has_the_promised_size() -> None:
    library = load_content()
    assert len(library.lessons) >= 40
    assert len(library.glossary) >= 150
    assert len(library.tutorials) >= 1


def test_fixture_content_is_clean() -> None:
    assert lint_content(FIXTURE_CONTENT) == []


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, root)
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("lessons/limit-orders.md", "(glossary:limit-order)", "(glossary:nope)", "broken link"),
        (
            "lessons/limit-orders.md",
            "(tutorial:first-order)",
            "(tutorial:gone)",
            "no such tutorial",
        ),
        ("lessons/limit-orders.md", "[what-is-a-market]", "[missing-lesson]", "unknown lesson"),
        ("lessons/limit-orders.md", "difficulty: beginner", "difficulty: expert", "difficulty"),
        ("lessons/limit-orders.md", "category: order-types", "category: astrology", "category"),
        ("lessons/limit-orders.md", "minutes: 5\n", "", "minutes"),
        ("lessons/limit-orders.md", "id: limit-orders", "id: limit-order-x", "differs from file"),
        ("lessons/limit-orders.md", "tags: [limit", "tags: [[limit", "invalid YAML"),
        ("glossary.yaml", "related: [swing]", "related: [nothing]", "unknown term"),
        ("glossary.yaml", "lessons: [limit-orders]", "lessons: [gone]", "unknown lesson"),
        ("tutorials/first-order.yaml", "answer: 1", "answer: 7", "not an index"),
        ("tutorials/first-order.yaml", "type: quiz", "type: dance", "check"),
        ("tutorials/first-order.yaml", "side: buy", "side: hold", "side"),
    ],
    ids=[
        "broken-glossary-link",
        "broken-tutorial-link",
        "unknown-prerequisite",
        "bad-difficulty",
        "bad-category",
        "missing-minutes",
        "id-not-file-name",
        "bad-yaml",
        "unknown-related-term",
        "glossary-unknown-lesson",
        "quiz-answer-out-of-range",
        "unknown-check-type",
        "bad-order-side",
    ],
)
def test_linter_names_file_and_key_of_each_problem(
    broken: Path, file: str, old: str, new: str, expected: str
) -> None:
    _edit(broken / file, old, new)
    issues = [str(i) for i in lint_content(broken)]
    assert any(file in i and expected in i for i in issues), issues
    with pytest.raises(ContentError, match=expected):
        load_content(broken)


def test_linter_finds_a_prerequisite_cycle(broken: Path) -> None:
    _edit(
        broken / "lessons/what-is-a-market.md",
        "prerequisites: []",
        "prerequisites: [fibonacci-retracements]",
    )
    issues = [str(i) for i in lint_content(broken)]
    assert any("cycle" in i and "fibonacci-retracements" in i for i in issues), issues


def test_lesson_without_front_matter_is_reported(broken: Path) -> None:
    (broken / "lessons" / "bare.md").write_text("# no front matter\n")
    issues = [str(i) for i in lint_content(broken)]
    assert any("lessons/bare.md" in i and "front matter" in i for i in issues)


def test_find_cycles_returns_the_loop_path() -> None:
    cycles = find_cycles({"a": ("b",), "b": ("c",), "c": ("a",), "d": ()})
    assert cycles == [["a", "b", "c", "a"]]
    assert find_cycles({"a": (), "b": ("a",)}) == []


def test_missing_content_folder_is_a_content_error(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="does not exist"):
        load_content(tmp_path / "nowhere")
