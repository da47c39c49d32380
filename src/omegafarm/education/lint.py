"""The content linter: cross-file checks that no single file can make on its own.

It finds broken ``lesson:``/``glossary:``/``tutorial:`` links, unknown prerequisites,
glossary entries pointing at missing terms or lessons, and cycles in the prerequisite graph
(a cycle would make some lessons impossible to recommend). ``lint_content`` runs the file
checks of ``_files`` plus these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from omegafarm.education._files import SHIPPED_CONTENT_DIR, LintIssue, read_library
from omegafarm.education.models import Check, ContentLibrary, QuizCheck

LINK_RE = re.compile(r"\[([^\]\n]+)\]\((lesson|glossary|tutorial):([^)\s]*)\)")


def iter_links(markdown: str) -> Iterator[tuple[str, str, str]]:
    """Yield (text, kind, target) for every internal link in a Markdown text."""
    for match in LINK_RE.finditer(markdown):
        yield match.group(1), match.group(2), match.group(3)


def _check_texts(check: Check) -> Iterable[str]:
    if isinstance(check, QuizCheck):
        return (check.question, check.why, *check.choices)
    return (check.instruction,)


def _link_issues(library: ContentLibrary, file: str, key: str, text: str) -> list[LintIssue]:
    known: dict[str, set[str]] = {
        "lesson": set(library.lessons),
        "glossary": set(library.glossary),
        "tutorial": set(library.tutorials),
    }
    return [
        LintIssue(file, key, f"broken link [{label}]({kind}:{target}): no such {kind}")
        for label, kind, target in iter_links(text)
        if target not in known[kind]
    ]


def _reference_issues(library: ContentLibrary) -> list[LintIssue]:
    issues: list[LintIssue] = []
    for lesson in library.lessons.values():
        file = f"lessons/{lesson.id}.md"
        issues += _link_issues(library, file, "body", lesson.body)
        for prereq in lesson.prerequisites:
            if prereq not in library.lessons:
                issues.append(LintIssue(file, "prerequisites", f"unknown lesson {prereq!r}"))
            elif prereq == lesson.id:
                issues.append(LintIssue(file, "prerequisites", "a lesson cannot require itself"))
    for entry in library.glossary.values():
        key = f"[{entry.id}]"
        issues += _link_issues(library, "glossary.yaml", f"{key}.definition", entry.definition)
        issues += [
            LintIssue("glossary.yaml", f"{key}.related", f"unknown term {term!r}")
            for term in entry.related
            if term not in library.glossary
        ]
        issues += [
            LintIssue("glossary.yaml", f"{key}.lessons", f"unknown lesson {lesson!r}")
            for lesson in entry.lessons
            if lesson not in library.lessons
        ]
    for tutorial in library.tutorials.values():
        file = f"tutorials/{tutorial.id}.yaml"
        for prereq in tutorial.prerequisites:
            if prereq not in library.lessons:
                issues.append(LintIssue(file, "prerequisites", f"unknown lesson {prereq!r}"))
        for index, step in enumerate(tutorial.steps):
            for text in (step.explanation, *_check_texts(step.check)):
                issues += _link_issues(library, file, f"steps.{index}", text)
    return issues


def find_cycles(graph: dict[str, tuple[str, ...]]) -> list[list[str]]:
    """Return one cycle (as a path a → … → a) per strongly tangled region of ``graph``."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    cycles: list[list[str]] = []
    for root in sorted(graph):
        if colour[root] != white:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        path = [root]
        colour[root] = grey
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = black
                stack.pop()
                path.pop()
            elif colour.get(child, black) == grey:
                cycles.append([*path[path.index(child) :], child])
            elif colour.get(child, black) == white:
                colour[child] = grey
                path.append(child)
                stack.append((child, iter(graph[child])))
    return cycles


def lint_library(library: ContentLibrary) -> list[LintIssue]:
    """Cross-file checks over an already read library."""
    issues = _reference_issues(library)
    graph = {
        lesson.id: tuple(p for p in lesson.prerequisites if p in library.lessons)
        for lesson in library.lessons.values()
    }
    for cycle in find_cycles(graph):
        issues.append(
            LintIssue(f"lessons/{cycle[0]}.md", "prerequisites", "cycle: " + " -> ".join(cycle))
        )
    return issues


def lint_content(root: Path | None = None) -> list[LintIssue]:
    """Every problem in a content folder (default: the shipped one); empty means clean."""
    library, issues = read_library(root if root is not None else SHIPPED_CONTENT_DIR)
    return issues + lint_library(library)
