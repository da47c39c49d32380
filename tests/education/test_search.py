"""Search over the fixture content: ranking, prefixes, typos, snippets, filters, bad input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omegafarm.core.errors import ValidationError
from omegafarm.education import BadQueryError, EducationService
from omegafarm.education._text import words
from omegafarm.education.search import IndexDoc, SearchIndex


def test_fts5_is_available() -> None:
    assert SearchIndex.fts5_available()


async def test_title_match_ranks_first(service: EducationService) -> None:
    result = service.search_content("limit orders")
    assert result.hits[0].id == "limit-orders"
    assert result.hits[0].kind == "lesson"
    assert result.corrections == ()


async def test_prefix_matches_a_word_start(service: EducationService) -> None:
    result = service.search_content("fibon")
    assert result.hits[0].id == "fibonacci-retracements"


async def test_typo_is_corrected_and_reported(service: EducationService) -> None:
    result = service.search_content("retracment")
    assert ("retracment", "retracement") in result.corrections
    assert {h.id for h in result.hits} >= {"fibonacci-retracements", "retracement"}


async def test_snippet_highlights_matched_words(service: EducationService) -> None:
    hit = service.search_content("stop loss").hits[0]
    assert hit.id == "risk-per-trade"
    assert "**stop**" in hit.snippet.lower()


async def test_filters_by_category_difficulty_and_kind(service: EducationService) -> None:
    by_cat = service.search_content("order", category="order-types")
    assert by_cat.hits
    assert all(h.category == "order-types" for h in by_cat.hits)
    by_level = service.search_content("swing", difficulty="intermediate")
    assert [h.id for h in by_level.hits] == ["fibonacci-retracements"]
    terms = service.search_content("order", kind="glossary")
    assert terms.hits
    assert all(h.kind == "glossary" for h in terms.hits)


async def test_tutorials_are_searchable(service: EducationService) -> None:
    result = service.search_content("first limit order", kind="tutorial")
    assert [h.id for h in result.hits] == ["first-order"]


async def test_no_common_document_falls_back_to_any_word(service: EducationService) -> None:
    result = service.search_content("fibonacci spread")
    assert result.matched_any
    assert {"fibonacci-retracements", "spread"} <= {h.id for h in result.hits}


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "NEAR(",
        'order" OR "x',
        "title:order",
        "order AND",
        "NOT order",
        "-order",
        "^order",
        "order*",
        "{title}: order",
        "(((",
        "'; DROP TABLE docs; --",
    ],
    ids=[
        "quote",
        "star",
        "near",
        "quote-or",
        "column-filter",
        "dangling-and",
        "not",
        "minus",
        "caret",
        "star-suffix",
        "column-set",
        "parens",
        "sql",
    ],
)
async def test_fts_syntax_in_queries_is_treated_as_words(
    service: EducationService, query: str
) -> None:
    if not words(query):
        with pytest.raises(BadQueryError, match="letters or digits"):
            service.search_content(query)
    else:
        assert isinstance(service.search_content(query).hits, tuple)
    assert service.search_content("order").hits  # the index survived


@pytest.mark.parametrize("query", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
async def test_empty_query_is_a_clear_error(service: EducationService, query: str) -> None:
    with pytest.raises(BadQueryError, match="empty"):
        service.search_content(query)


async def test_huge_query_is_a_clear_error(service: EducationService) -> None:
    with pytest.raises(BadQueryError, match="limit is 200"):
        service.search_content("order " * 1000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"category": "astrology"}, "unknown category"),
        ({"difficulty": "expert"}, "unknown difficulty"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_000}, "limit"),
    ],
    ids=["category", "difficulty", "limit-zero", "limit-huge"],
)
async def test_bad_filters_are_validation_errors(
    service: EducationService, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        service.search_content("order", **kwargs)  # type: ignore[arg-type]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=300))
def test_any_text_gives_results_or_a_bad_query_error(query: str) -> None:
    index = _index()
    try:
        result = index.search(query)
    except BadQueryError:
        return
    assert all(hit.id for hit in result.hits)


_INDEX: list[SearchIndex] = []


def _index() -> SearchIndex:
    if not _INDEX:
        index = SearchIndex()
        index.add(
            [
                IndexDoc("lesson", "a", "Order books", "book", "bids and asks rest in the book"),
                IndexDoc("glossary", "b", "Near", "glossary", "NEAR OR AND NOT are words here"),
            ]
        )
        _INDEX.append(index)
    return _INDEX[0]
