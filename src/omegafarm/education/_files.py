"""Read the files of a content folder (lessons, glossary, tutorials) into a library.

Every file passes through the pydantic models of ``_schema``; problems are collected as
:class:`LintIssue` values naming the file and the key, so the linter can report all of them at
once and :func:`load_content` can refuse a broken folder with one readable error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydantic
import yaml

from omegafarm.education import _schema
from omegafarm.education._paths import SHIPPED_CONTENT_DIR as SHIPPED_CONTENT_DIR
from omegafarm.education.models import ContentLibrary, GlossaryEntry, Lesson, Tutorial


@dataclass(frozen=True)
class LintIssue:
    """One problem in the content: which file, which key, what is wrong."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"


def _pydantic_issues(file: str, exc: pydantic.ValidationError, prefix: str = "") -> list[LintIssue]:
    issues = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        issues.append(LintIssue(file, f"{prefix}{key}" if key else prefix.rstrip("."), err["msg"]))
    return issues


def split_front_matter(text: str) -> tuple[str, str]:
    """Split ``---\\nYAML\\n---\\nbody`` into (yaml, body); raises ValueError without it."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValueError("file does not start with a '---' front matter line")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :]).strip() + "\n"
    raise ValueError("front matter is not closed by a '---' line")


# libyaml's C parser when present (about 10x faster: it is most of `omega learn` start-up)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path, text: str, issues: list[LintIssue], label: str) -> object | None:
    try:
        data: object = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506  # a safe loader
    except yaml.YAMLError as exc:
        issues.append(LintIssue(label, "", f"invalid YAML: {exc}".replace("\n", " ")))
        return None
    return data


def _read_lesson(path: Path, root: Path, issues: list[LintIssue]) -> Lesson | None:
    label = str(path.relative_to(root))
    try:
        front_text, body = split_front_matter(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        issues.append(LintIssue(label, "front matter", str(exc)))
        return None
    raw = _read_yaml(path, front_text, issues, label)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        issues.append(LintIssue(label, "front matter", "must be a mapping of keys"))
        return None
    try:
        front = _schema.LessonFront.model_validate(raw)
    except pydantic.ValidationError as exc:
        issues.extend(_pydantic_issues(label, exc))
        return None
    if front.id != path.stem:
        issues.append(LintIssue(label, "id", f"id {front.id!r} differs from file name"))
    if not body.strip():
        issues.append(LintIssue(label, "body", "lesson body is empty"))
    return front.to_domain(body)


def _read_glossary(path: Path, root: Path, issues: list[LintIssue]) -> list[GlossaryEntry]:
    label = str(path.relative_to(root))
    if not path.is_file():
        issues.append(LintIssue(label, "", "glossary file is missing"))
        return []
    raw = _read_yaml(path, path.read_text(encoding="utf-8"), issues, label)
    if raw is None:
        return []
    if not isinstance(raw, list):
        issues.append(LintIssue(label, "", "must be a YAML list of entries"))
        return []
    entries = []
    for index, item in enumerate(raw):
        try:
            entries.append(_schema.GlossaryItem.model_validate(item).to_domain())
        except pydantic.ValidationError as exc:
            term_id = item.get("id", index) if isinstance(item, dict) else index
            issues.extend(_pydantic_issues(label, exc, prefix=f"[{term_id}]."))
    return entries


def _read_tutorial(path: Path, root: Path, issues: list[LintIssue]) -> Tutorial | None:
    label = str(path.relative_to(root))
    raw = _read_yaml(path, path.read_text(encoding="utf-8"), issues, label)
    if raw is None:
        return None
    try:
        tutorial = _schema.TutorialModel.model_validate(raw).to_domain()
    except pydantic.ValidationError as exc:
        issues.extend(_pydantic_issues(label, exc))
        return None
    if tutorial.id != path.stem:
        issues.append(LintIssue(label, "id", f"id {tutorial.id!r} differs from file name"))
    return tutorial


def read_library(root: Path) -> tuple[ContentLibrary, list[LintIssue]]:
    """Read every file under ``root``; return what parsed and the per-file issues."""
    issues: list[LintIssue] = []
    if not root.is_dir():
        issues.append(LintIssue(str(root), "", "content folder does not exist"))
        return ContentLibrary({}, {}, {}), issues
    lessons: dict[str, Lesson] = {}
    for path in sorted((root / "lessons").glob("*.md")):
        lesson = _read_lesson(path, root, issues)
        if lesson is not None:
            lessons[lesson.id] = lesson
    glossary: dict[str, GlossaryEntry] = {}
    for entry in _read_glossary(root / "glossary.yaml", root, issues):
        if entry.id in glossary:
            issues.append(LintIssue("glossary.yaml", f"[{entry.id}]", "duplicate term id"))
        glossary[entry.id] = entry
    tutorials: dict[str, Tutorial] = {}
    for path in sorted((root / "tutorials").glob("*.yaml")):
        tutorial = _read_tutorial(path, root, issues)
        if tutorial is not None:
            tutorials[tutorial.id] = tutorial
    return ContentLibrary(lessons, glossary, tutorials), issues
