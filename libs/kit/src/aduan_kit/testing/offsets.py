"""What a consumer group has committed, against what was produced: a test's proof that a group neither
skipped records (nothing committed that was not done is checked elsewhere) nor stopped short of the end."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition


async def committed(bootstrap: str, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The offsets ``group`` committed on ``tps`` (-1: none), asked of the group's coordinator by a
    consumer that never joins the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {tp: await consumer.committed(tp) for tp in tps}
        return {tp: -1 if offset is None else offset for tp, offset in found.items()}
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topics: set[str]) -> dict[TopicPartition, int]:
    """The end offset (next offset to be written) of every partition of ``topics``: one past the last
    record read. (The embedded broker's own answer, ListOffsets, can fall short when the last write was
    a batch of several records, so it is only where reading starts.)"""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # loads the cluster's metadata
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        ends = dict(await consumer.end_offsets(tps))
        consumer.assign(tps)
        for tp, end in ends.items():
            consumer.seek(tp, max(end - 1, 0))
        while batch := await consumer.getmany(timeout_ms=500):
            for tp, records in batch.items():
                ends[tp] = max(ends[tp], records[-1].offset + 1)
        return ends
    finally:
        await consumer.stop()


async def behind(bootstrap: str, group: str, topics: set[str]) -> dict[TopicPartition, tuple[int, int]]:
    """Every partition of ``topics`` whose committed offset in ``group`` is not its end offset:
    ``{partition: (committed, end)}`` (committed -1: nothing committed although records exist). Empty
    when the group has committed exactly what was produced to them."""
    ends = await end_offsets(bootstrap, topics)
    done = await committed(bootstrap, group, sorted(ends))
    return {tp: (done[tp], end) for tp, end in ends.items() if end > 0 and done[tp] != end}
