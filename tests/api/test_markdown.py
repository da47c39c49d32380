"""Lessons become safe HTML: raw HTML is escaped, links are rewritten or dropped."""

from __future__ import annotations

import pytest

from omegafarm.api._markdown import dashboard_href, to_html


def test_raw_html_in_a_lesson_comes_out_as_text() -> None:
    html = to_html('Hi <script>alert(1)</script> <img src=x onerror="alert(2)">')
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        pytest.param("lesson:slippage", "#/learn/lesson/slippage", id="lesson"),
        pytest.param("glossary:order-book", "#/learn/glossary/order-book", id="glossary"),
        pytest.param("https://example.org/x", "https://example.org/x", id="external"),
        pytest.param("ftp://example.org/x", None, id="other-scheme"),
        pytest.param("lesson:Bad Id", None, id="bad-id"),
    ],
)
def test_links_point_into_the_dashboard_or_nowhere(href: str, expected: str | None) -> None:
    assert dashboard_href(href) == expected


def test_script_links_are_not_links_and_external_ones_open_safely() -> None:
    html = to_html("[a](javascript:alert(1)) [b](https://example.org) [c](ftp://x)")
    assert 'href="javascript' not in html
    assert 'target="_blank" rel="noopener noreferrer"' in html
    assert "<a>c</a>" in html


def test_pipe_tables_and_headings_render() -> None:
    html = to_html("## Title\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n")
    assert "<h2>Title</h2>" in html and "<table>" in html and '<td class="align-right">2' in html
