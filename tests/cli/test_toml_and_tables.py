"""The TOML writer reads back to the same data (minus unset values); tables keep ids whole."""

from __future__ import annotations

import io
import tomllib

from rich.console import Console

from omegafarm.cli._tables import money, plain, wrapping_table
from omegafarm.cli._toml import dumps


def test_toml_round_trips_sections_nested_tables_lists_and_awkward_strings() -> None:
    data = {
        "log": {"level": "info", "format": "console"},
        "api": {"port": 8000, "ratio": 0.5, "on": True, "note": 'say "hi" \\ [log] é'},
        "exchange": {"symbols": ["BTC/USDT", "ETH/USDT"], "paper": {"speed": 60.0}},
        "alerts": {"rules": [{"name": "a", "labels": {"x": "1"}}, {"name": "b", "labels": {}}]},
        "redis": {"url": None, "farm": "default"},
    }
    text = dumps(data)
    parsed = tomllib.loads(text)
    expected = {**data, "redis": {"farm": "default"}}
    assert parsed == expected
    assert "# url = (unset)" in text and "[exchange.paper]" in text and "[[alerts.rules]]" in text


def test_a_narrow_table_keeps_ids_whole_and_wraps_the_rest() -> None:
    long_id = "fibonacci-levels-of-the-current-swing"
    table = wrapping_table(["kind", "id", "title"], [["tutorial", long_id, "word " * 20]])
    out = io.StringIO()
    Console(file=out, width=60).print(table)
    assert long_id in out.getvalue() and "…" not in out.getvalue()


def test_numbers_read_as_money_and_plain_decimals() -> None:
    assert money("996.49496430000000000") == "996.49"
    assert money("1234567.891") == "1,234,567.89"
    assert money(None) == ""
    assert plain("0.11330000") == "0.1133"
    assert plain("0E-8") == "0"
    assert plain(None) == ""
