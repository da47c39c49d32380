"""Lessons and glossary entries as HTML for the dashboard, rendered on the server.

markdown-it-py (CommonMark plus tables) with raw HTML switched off, so whatever a lesson
contains, ``<script>`` and friends come out as text: the output is safe to insert as HTML. Links
are rewritten in one place: ``lesson:ID`` and ``glossary:ID`` become dashboard links
(``#/learn/lesson/ID``, ``#/learn/glossary/ID``), ``http(s)`` links open in a new tab without a
referrer, and any other scheme loses its ``href`` (markdown-it already leaves ``javascript:``,
``vbscript:``, ``file:`` and ``data:`` links as plain text). Table column alignment becomes a
class (``align-right``): the dashboard's CSP allows no inline ``style``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported at the first lesson rendered, not on omega up's start path
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

_INTERNAL = re.compile(r"^(lesson|glossary):([a-z0-9][a-z0-9-]{0,80})$")
_EXTERNAL = re.compile(r"^https?://", re.IGNORECASE)
_ALIGN = re.compile(r' style="text-align:(left|right|center)"')  # the CSP forbids inline styles


def dashboard_href(href: str) -> str | None:
    """Where a lesson's link should point on the dashboard (None: drop the link)."""
    found = _INTERNAL.match(href)
    if found:
        return f"#/learn/{found.group(1)}/{found.group(2)}"
    if _EXTERNAL.match(href) or href.startswith("#"):
        return href
    return None


def _link_open(
    self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:  # the signature markdown-it gives render rules
    token = tokens[idx]
    href = dashboard_href(str(token.attrGet("href") or ""))
    if href is None:
        token.attrs.pop("href", None)
    else:
        token.attrSet("href", href)
        if _EXTERNAL.match(href):
            token.attrSet("target", "_blank")
            token.attrSet("rel", "noopener noreferrer")
        elif href.startswith("#/learn/"):
            token.attrSet("class", "internal")
    rendered: str = self.renderToken(tokens, idx, options, env)
    return rendered


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.add_render_rule("link_open", _link_open)
    return md


def to_html(markdown: str) -> str:
    """Safe HTML of a Markdown text (see the module docstring)."""
    return _ALIGN.sub(r' class="align-\1"', str(_parser().render(markdown)))
