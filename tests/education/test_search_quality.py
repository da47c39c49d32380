"""Search quality over the SHIPPED content: for each query a person might type, the result a
person would expect on top (typos and prefixes included). A failure here is a ranking change
worth looking at, or content that moved; fix whichever is wrong."""

from __future__ import annotations

import pytest

from omegafarm.education import load_content
from omegafarm.education.search import SearchIndex, library_documents

CASES = [
    ("how does an order book work", "lesson:order-books"),
    ("bid ask spread cost", "lesson:bid-ask-spread"),
    ("candles timeframes", "lesson:candles-and-timeframes"),
    ("market vs limit orders", "lesson:market-and-limit-orders"),
    ("stop limit take profit", "lesson:stop-orders"),
    ("slippage price impact", "lesson:slippage"),
    ("maker taker fees", "lesson:maker-taker-fees"),
    ("GTC IOC FOK post-only", "lesson:time-in-force"),
    ("partial fills", "lesson:partial-fills"),
    ("idempotent client order id", "lesson:client-order-ids"),
    ("position sizing fixed fractional", "lesson:position-sizing-by-risk"),
    ("kelly criterion", "lesson:kelly-criterion"),
    ("risk of ruin losing streak", "lesson:risk-of-ruin"),
    ("drawdown recovery math", "lesson:drawdown-math"),
    ("where to put my stop loss", "lesson:stop-loss-placement"),
    ("expectancy payoff ratio", "lesson:expectancy-and-payoff"),
    ("fibonacci retracement", "lesson:fibonacci-retracements"),
    ("fibonacci extensions projections", "lesson:fibonacci-extensions"),
    ("gartley", "lesson:gartley-pattern"),
    ("butterfly harmonic", "lesson:butterfly-pattern"),
    ("hurst exponent dfa", "lesson:hurst-and-dfa"),
    ("periodogram dominant cycle", "lesson:dominant-cycles"),
    ("zigzag swing pivots", "lesson:pivots-and-zigzag"),
    ("walk forward out of sample", "lesson:out-of-sample-testing"),
    ("data snooping multiple testing", "lesson:multiple-testing"),
    ("moving average crossover", "lesson:moving-averages"),
    ("api key withdraw permission", "lesson:api-key-permissions"),
    ("two factor authentication", "lesson:account-security-2fa"),
    ("phishing scam", "lesson:phishing-and-social-engineering"),
    ("rate limit 429 ban", "lesson:rate-limits-and-bans"),
    ("ip allow list", "lesson:ip-allow-lists"),
    ("vault encryption at rest", "lesson:key-vault-encryption"),
    ("omega up first farm", "lesson:omega-up"),
    ("omega backtest", "lesson:backtesting"),
    ("sharpe sortino bot metrics", "lesson:bot-metrics"),
    ("workers leases failover", "lesson:workers-and-leases"),
    ("funding rate perpetual", "lesson:funding-rates"),
    ("leverage liquidation margin", "lesson:leverage-and-liquidation"),
    ("fibonaci retracment", "lesson:fibonacci-retracements"),
    ("liquidty depth", "lesson:liquidity-and-depth"),
    ("volatilty atr", "tutorial:measure-volatility-with-atr"),
    ("slipage", "lesson:slippage"),
    ("harmon patterns xabcd", "lesson:harmonic-patterns-overview"),
    ("testnet sandbox", "lesson:testnets"),
    ("look ahead bias repainting", "lesson:look-ahead-bias"),
    ("schumann resonance nyquist", "lesson:resonance-and-nyquist"),
    ("correlation between positions", "lesson:correlation"),
    ("place your first limit order", "tutorial:first-limit-order"),
    ("draw fibonacci levels current swing", "tutorial:fibonacci-levels-of-the-current-swing"),
    ("mid price", "glossary:mid-price"),
    ("TOTP", "glossary:totp"),
    ("fencing token", "glossary:fencing-token"),
    ("notional value", "glossary:notional-value"),
]


@pytest.fixture(scope="module")
def shipped_index() -> SearchIndex:
    index = SearchIndex()
    index.add(library_documents(load_content()))
    return index


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30
    assert len({q for q, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[q for q, _ in CASES])
def test_expected_result_ranks_first(shipped_index: SearchIndex, query: str, expected: str) -> None:
    hits = shipped_index.search(query).hits
    top = [f"{h.kind}:{h.id}" for h in hits[:3]]
    assert top, f"no results for {query!r}"
    assert top[0] == expected, f"{query!r}: expected {expected}, got {top}"


def test_typo_queries_report_their_corrections(shipped_index: SearchIndex) -> None:
    result = shipped_index.search("fibonaci retracment")
    assert dict(result.corrections) == {"fibonaci": "fibonacci", "retracment": "retracement"}


def test_snippets_highlight_the_query_words(shipped_index: SearchIndex) -> None:
    hit = shipped_index.search("slippage price impact").hits[0]
    assert "**" in hit.snippet
    assert "slippage" in hit.snippet.lower()
