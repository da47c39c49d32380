"""The capacity bench's own parts (bench/_capacity.py), on real inputs: the farm and config files
it writes load with the farm's own loaders, its heartbeat window reads heartbeat records a real
farm wrote, and its Redis counters read a real Valkey's INFO (Lua's inner commands counted).

The bench itself (``python bench/farm_capacity.py --quick``) starts two whole farms and takes
about two minutes on a busy machine: too long for the suite, so it is run by hand."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import redis

from omegafarm import settings as omega_settings
from omegafarm.bots.config import load_farm_file
from omegafarm.exchange.paper._synthetic import PROFILES

ROOT = Path(__file__).resolve().parents[2]
RECORDS = Path(__file__).parent / "fixtures" / "capacity_heartbeats.jsonl"


def _load_capacity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_capacity", ROOT / "bench" / "_capacity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_capacity"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


cap = _load_capacity()


def test_farm_file_spreads_bots_over_every_profiled_symbol_and_loads(tmp_path: Path) -> None:
    farm_file = tmp_path / "farm.toml"
    farm_file.write_text(cap.farm_file_text(30, "1m"), encoding="utf-8")

    bots = load_farm_file(farm_file)

    assert len(bots) == 30
    assert {b.symbol for b in bots} == set(cap.SYMBOLS)
    assert {s.split("/")[0] for s in cap.SYMBOLS} == set(PROFILES)
    assert {b.strategy for b in bots} == {"sma_cross"}
    assert all(500 <= b.capital <= 5000 and b.timeframe == "1m" for b in bots)
    assert cap.account_usdt(30) > sum(b.capital for b in bots)


def test_config_loads_as_the_farm_reads_it(tmp_path: Path) -> None:
    farm_file = tmp_path / "farm.toml"
    farm_file.write_text(cap.farm_file_text(4, "4h"), encoding="utf-8")
    config = tmp_path / "omega.toml"
    config.write_text(
        cap.config_text(tmp_path, "unix:///tmp/x.sock", "cap-x", farm_file, 6.0), encoding="utf-8"
    )

    loaded = omega_settings.load(config)

    assert loaded.bots.farm_file == farm_file
    assert loaded.exchange.paper.speed == 6.0
    assert loaded.exchange.paper.symbols == list(cap.SYMBOLS)
    assert loaded.api.enabled is False
    assert loaded.redis.farm == "cap-x"


def _records() -> list[object]:
    return cap.beats_from_jsonl(RECORDS)  # type: ignore[no-any-return]


def test_window_counts_candles_between_the_beats_at_its_edges() -> None:
    beats = _records()
    workers = sorted({b.worker for b in beats})
    first_at = max(min(b.at_ms for b in beats if b.worker == w) for w in workers)
    last_at = min(max(b.at_ms for b in beats if b.worker == w) for w in workers)

    win = cap.window(beats, first_at, last_at)

    expected, periods = 0, []
    for w in workers:
        mine = sorted((b for b in beats if b.worker == w), key=lambda b: b.at_ms)
        opening = next(b for b in mine if b.at_ms >= first_at)
        closing = next(b for b in mine if b.at_ms >= last_at)
        expected += closing.handled - opening.handled
        periods += [b for b in mine if opening.at_ms < b.at_ms <= closing.at_ms and b.n]
    assert win.workers == len(workers)
    assert win.handled == expected > 0
    assert win.n == sum(b.n for b in periods) > 0
    assert win.p99_ms == max(b.p99_ms for b in periods)
    assert win.max_ms == max(b.max_ms for b in periods)
    assert min(b.p50_ms for b in periods) <= win.p50_ms <= max(b.p50_ms for b in periods)


def test_window_without_a_closing_beat_counts_no_worker() -> None:
    beats = _records()
    after_all = max(b.at_ms for b in beats) + 1

    win = cap.window(beats, after_all, after_all + 10_000)

    assert (win.workers, win.handled, win.n, win.p99_ms) == (0, 0, 0, None)


def test_a_heartbeat_without_latency_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="worker w9 has no 'latency'"):
        cap.Beat.parse("w9", {"at_ms": 1, "candles": {}})


def test_info_counts_the_commands_a_lua_script_runs(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        before = cap.Info.parse(client.info("all"))
        client.eval("for i = 1, 10 do redis.call('incr', KEYS[1]) end", 1, "cap:test:incr")
        after = cap.Info.parse(client.info("all"))
        client.delete("cap:test:incr")
    finally:
        client.close()

    delta = after.minus(before)

    assert delta.calls["incr"] == 10
    assert cap.script_calls(delta) == 1
    assert delta.commands >= 12  # the script, its 10 INCRs, the first INFO
    assert "incr 10" in cap.top_commands(delta)


def test_process_cpu_grows_with_work() -> None:
    before = cap.process_cpu_s(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn 0.2 s of CPU
        json.dumps(list(range(1000)))

    assert cap.process_cpu_s(os.getpid()) >= before + 0.1
    assert cap.process_cpu_s(2**22 + 12345) == 0.0  # no such process


def test_published_counts_each_bots_candles_between_its_workers_edge_beats() -> None:
    beats = _records()
    workers = sorted({b.worker for b in beats})
    start = max(min(b.at_ms for b in beats if b.worker == w) for w in workers)
    end = min(max(b.at_ms for b in beats if b.worker == w) for w in workers)
    log = cap.Publishes(60_000, 6.0)
    for k in range(40):  # every symbol's candle every 10 s over the records' span
        for symbol in cap.SYMBOLS:
            log.add({"symbol": symbol, "candle": [k * 60_000, 1, 1, 1, 1, 1],
                     "sent_ms": start - 5_000 + k * 10_000})  # fmt: skip

    win = cap.window(beats, start, end, log, cap.symbol_of)

    expected = 0
    for w in workers:
        mine = sorted((b for b in beats if b.worker == w), key=lambda b: b.at_ms)
        opening = next(b for b in mine if b.at_ms >= start)
        closing = next(b for b in mine if b.at_ms >= end)
        for bot_id in opening.bot_ids | closing.bot_ids:
            expected += log.count(cap.symbol_of(bot_id), opening.at_ms, closing.at_ms)
    assert win.workers == len(workers) == 4
    assert win.published == expected > 0


def test_gateway_lag_is_measured_from_the_promptest_send() -> None:
    log = cap.Publishes(60_000, 6.0)  # a 1m candle closes every 10 s of wall time
    for k, late_ms in enumerate([100, 100, 2_100, 100, 600]):
        log.add(
            {"symbol": "BTC/USDT", "candle": [k * 60_000], "sent_ms": 10_000 * (k + 1) + late_ms}
        )
    log.add({"symbol": "ETH/USDT", "candle": [0], "sent_ms": 10_000 + 1_100})
    assert not log.add({"candle": [0]})  # not a candle message: no symbol

    lags = sorted(log.lags_ms(0, 10**9))

    assert lags == pytest.approx([0, 0, 0, 500, 1_000, 2_000])
    assert log.bars("BTC/USDT", 0, 10**9) == 5
    assert cap.percentile(lags, 50) == pytest.approx(0)
    assert cap.percentile(lags, 99) == pytest.approx(2_000)
    assert cap.percentile([], 99) is None


def test_symbol_of_follows_the_farm_file() -> None:
    farm = cap.farm_file_text(13, "1m")
    assert f'id = "cap0012"\nstrategy = "sma_cross"\nsymbol = "{cap.symbol_of("cap0012")}"' in farm
    assert cap.symbol_of("cap0011") == cap.SYMBOLS[0]
