from __future__ import annotations

from omegafarm.store import RedisClient


async def test_message_of_a_consumer_that_dies_before_ack_is_redelivered(
    redis_client: RedisClient,
) -> None:
    await redis_client.stream_group("orders", "executors")
    sent_id = await redis_client.stream_add(
        "orders", {"client_order_id": "bot1-0001", "qty": "0.5"}
    )

    taken = await redis_client.stream_read("orders", "executors", "worker-a", block_ms=1000)
    assert [m.id for m in taken] == [sent_id]
    # worker-a dies here: it never acknowledges.
    assert await redis_client.stream_pending("orders", "executors") == 1
    assert await redis_client.stream_read("orders", "executors", "worker-b", block_ms=10) == []

    reclaimed = await redis_client.stream_reclaim("orders", "executors", "worker-b", min_idle_ms=0)
    assert [(m.id, m.data) for m in reclaimed] == [
        (sent_id, {"client_order_id": "bot1-0001", "qty": "0.5"})
    ]
    assert await redis_client.stream_ack("orders", "executors", sent_id) == 1
    assert await redis_client.stream_pending("orders", "executors") == 0


async def test_recently_read_messages_are_not_reclaimed(redis_client: RedisClient) -> None:
    await redis_client.stream_group("events", "g")
    await redis_client.stream_add("events", 1)
    await redis_client.stream_read("events", "g", "a", block_ms=10)
    assert await redis_client.stream_reclaim("events", "g", "b", min_idle_ms=60_000) == []


async def test_creating_a_group_twice_is_harmless(redis_client: RedisClient) -> None:
    await redis_client.stream_group("s", "g")
    await redis_client.stream_group("s", "g")
    await redis_client.stream_add("s", "x")
    assert [m.data for m in await redis_client.stream_read("s", "g", "c", block_ms=10)] == ["x"]


async def test_stream_range_reads_history_in_order(redis_client: RedisClient) -> None:
    ids = [await redis_client.stream_add("equity", {"i": i}) for i in range(5)]
    everything = await redis_client.stream_range("equity")
    assert [m.data["i"] for m in everything] == [0, 1, 2, 3, 4]
    tail = await redis_client.stream_range("equity", start=ids[3])
    assert [m.id for m in tail] == ids[3:]
    assert len(await redis_client.stream_range("equity", count=2)) == 2


async def test_the_backlog_counts_unread_and_unacknowledged_entries(
    redis_client: RedisClient,
) -> None:
    assert await redis_client.stream_backlog("cmds", "gw") == 0  # no stream yet
    await redis_client.stream_group("cmds", "gw")
    for n in range(3):
        await redis_client.stream_add("cmds", n)
    before = await redis_client.stream_backlog("cmds", "gw")
    read = await redis_client.stream_read("cmds", "gw", "a", count=2, block_ms=None)
    after_read = await redis_client.stream_backlog("cmds", "gw")
    await redis_client.stream_ack("cmds", "gw", read[0].id)
    after_ack = await redis_client.stream_backlog("cmds", "gw")
    await redis_client.stream_ack("cmds", "gw", read[1].id)
    rest = await redis_client.stream_read("cmds", "gw", "a", block_ms=None)
    await redis_client.stream_ack("cmds", "gw", *(m.id for m in rest))

    assert (before, after_read, after_ack) == (3, 3, 2)  # read but not acked still counts
    assert await redis_client.stream_backlog("cmds", "gw") == 0
    assert await redis_client.stream_backlog("cmds", "other") == 3  # a group to come owes all
