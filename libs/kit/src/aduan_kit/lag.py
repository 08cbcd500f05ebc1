"""Consumer lag measured at the broker: how far each group's committed offsets are from the log end.

Committed offsets are read before the log ends, so a group counts as drained only for records that
reached its topics before its offsets were read (a stage commits after its outputs were acknowledged,
so the next stage's topic already holds them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def committed_and_end(
    bootstrap: str, groups: Mapping[str, Sequence[str]]
) -> dict[str, dict[TopicPartition, tuple[int, int]]]:
    """Per group, per partition of its topics: (committed offset, 0 when none; log end offset)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    try:
        await consumer.start()
        try:
            parts = {
                g: [
                    TopicPartition(t, p)
                    for t in topics
                    for p in sorted(consumer.partitions_for_topic(t) or ())
                ]
                for g, topics in groups.items()
            }
            committed = {
                g: await admin.list_consumer_group_offsets(g, partitions=ps) for g, ps in parts.items()
            }
            every = sorted({tp for ps in parts.values() for tp in ps})
            ends = await consumer.end_offsets(every) if every else {}
        finally:
            await consumer.stop()
    finally:
        await admin.close()
    out: dict[str, dict[TopicPartition, tuple[int, int]]] = {}
    for g, ps in parts.items():
        done = committed[g]
        out[g] = {tp: (max(done[tp].offset, 0) if tp in done else 0, ends[tp]) for tp in ps}
    return out


async def group_lag(bootstrap: str, groups: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Per group: records on its topics beyond its committed offsets."""
    found = await committed_and_end(bootstrap, groups)
    return {g: sum(max(end - done, 0) for done, end in parts.values()) for g, parts in found.items()}
