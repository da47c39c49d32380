"""Text helpers shared by the index and the query parser: one tokenizer for both sides.

The query tokenizer must agree with SQLite's ``unicode61 remove_diacritics 2`` tokenizer, or a
word the index holds could never be found; both fold case and strip accents, and split on
anything that is not a letter or digit.
"""

from __future__ import annotations

import re
import unicodedata

_WORD_RE = re.compile(r"[^\W_]+")
_LINK_RE = re.compile(r"\[([^\]\n]+)\]\((?:lesson|glossary|tutorial):[^)\s]*\)")
_MARKUP_RE = re.compile(r"[*_`#>|~]+")
_SPACE_RE = re.compile(r"[ \t]+")

# Words dropped from a query when other words remain: they are in nearly every document.
STOPWORDS = frozenset(
    "a an and are as at be by do does for from how i in is it of on or the to what when where "  # noqa: SIM905  # a word list reads best as one string
    "which who why with you your vs versus".split()
)


def fold(text: str) -> str:
    """Lower-case and strip accents, as the index tokenizer does."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The searchable words of ``text``, folded, in order."""
    return _WORD_RE.findall(fold(text))


def plain_text(markdown: str) -> str:
    """Markdown → text for indexing and snippets: links keep their label, markup goes."""
    text = _LINK_RE.sub(r"\1", markdown)
    text = re.sub(r"\]\([^)\s]*\)", "]", text).replace("[", "").replace("]", "")
    text = _MARKUP_RE.sub(" ", text)
    lines = (_SPACE_RE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and set(line) != {"-"})


def light_stem(word: str) -> str:
    """A cautious suffix strip (orders → order, strategies → strateg) to widen prefix matches."""
    for suffix in ("ies", "ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap counts 1); returns ``limit + 1`` past limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def trigrams(word: str) -> set[str]:
    """Padded character trigrams of a word, the candidate key for typo correction."""
    padded = f"^{word}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}
