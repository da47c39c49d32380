"""The latency window a worker puts in each heartbeat."""

from omegafarm.bots.latency import LatencyWindow


def test_percentiles_cover_only_the_samples_since_the_last_take() -> None:
    window = LatencyWindow()
    for lag in range(1, 101):  # 1..100 ms
        window.record(sent_ms=1000, done_ms=1000 + lag)
    window.record(sent_ms=None, done_ms=5000)  # an unstamped candle: counted, not timed
    first = window.take()
    assert first["handled"] == 101 and first["n"] == 100
    assert first["p50_ms"] == 50.5 and first["max_ms"] == 100
    assert 99 <= first["p99_ms"] <= 100
    second = window.take()
    assert second == {"handled": 101, "n": 0}  # nothing new: no percentiles, count kept
