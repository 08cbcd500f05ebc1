"""Batches against the real broker: one bad record inside a batch is dead-lettered alone, and a transient
failure retries the batch without committing.

How these were checked to fail: with the worker dead-lettering every record of a batch in which one
handler result is an error, the first test went red (the good records were missing from the output
topic); with the fetch's offsets committed before its outputs were handled, the second went red (an
offset was committed while the handler was still failing); with a crashing batch dead-lettered whole
instead of record by record, the third went red (no good record was produced).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from aduan_kit.kafka import (
    BatchResult,
    Emit,
    PermanentError,
    Received,
    Subscription,
    TransientError,
    parser_for,
    producer_for,
)
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import create_topics, eventually, find_events, read_topic
from aduan_kit.testing.samples import normalized
from aduan_kit.testing.worker import run_worker
from aduan_schemas.events import DeadLetter, NormalizedReport

Batch = list[tuple[NormalizedReport, Received]]
KEY = b"one-partition"  # every record on the same partition


async def committed(common: CommonSettings, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets on the normalized topic (a consumer that never joins the group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=common.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        topic = common.topics.normalized
        await consumer.topics()  # loads the metadata
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        offsets = {tp: await consumer.committed(tp) for tp in tps}
        return {tp: o for tp, o in offsets.items() if o is not None and o >= 0}
    finally:
        await consumer.stop()


async def run_batch_worker(
    common: CommonSettings,
    handler: Callable[[Batch], Awaitable[BatchResult]],
    until: Callable[[], Awaitable[Any]],
) -> None:
    sub = Subscription(common.topics.normalized, parser_for(NormalizedReport), handle_batch=handler)
    await run_worker(common, sub, until)


async def publish(common: CommonSettings, *values: bytes) -> None:
    """One producer request: the records land in one record batch, so one fetch returns them all."""
    producer = producer_for(common, linger_ms=100)
    await producer.start()
    try:
        for v in values:
            await producer.send(common.topics.normalized, v, key=KEY)
        await producer.flush()
    finally:
        await producer.stop()


async def test_bad_records_in_a_batch_are_dead_lettered_alone_and_the_batch_is_committed(
    common: CommonSettings,
) -> None:
    await create_topics(common)
    good1, bad, good2 = normalized(), normalized(category="poison"), normalized()
    # good, unparseable, bad for the handler, good: one partition, one batch
    await publish(
        common,
        good1.model_dump_json().encode(),
        b"{not json",
        bad.model_dump_json().encode(),
        good2.model_dump_json().encode(),
    )
    batches: list[list[str]] = []

    async def handler(batch: Batch) -> BatchResult:
        batches.append([ev.report_id for ev, _ in batch])
        return [
            PermanentError("unknown category")
            if ev.category == "poison"
            else [Emit(common.topics.routed, ev)]
            for ev, _ in batch
        ]

    group = f"{common.topic_prefix}worker"

    async def done() -> None:
        await eventually(lambda: committed(common, group))

    await run_batch_worker(common, handler, done)
    assert batches == [[good1.report_id, bad.report_id, good2.report_id]]  # one call, parse failure left out
    out = await find_events(common, common.topics.routed, NormalizedReport, lambda e: True, count=2, settle=1)
    assert sorted(e.report_id for e in out) == sorted([good1.report_id, good2.report_id])  # keyed apart
    letters = await read_topic(common, common.topics.dlq, 2, settle=1)
    assert len(letters) == 2
    by_offset = {
        dict(r.headers)["aduan_dlq_offset"]: DeadLetter.model_validate_json(r.value) for r in letters
    }
    assert by_offset[b"1"].stage == "parse"
    assert by_offset[b"2"].stage == "test" and by_offset[b"2"].error == "PermanentError: unknown category"
    assert NormalizedReport.model_validate_json(by_offset[b"2"].payload).report_id == bad.report_id
    assert list((await committed(common, group)).values()) == [4]  # past all four records


async def test_a_transient_failure_retries_the_whole_batch_without_committing(
    common: CommonSettings,
) -> None:
    await create_topics(common)
    reports = [normalized() for _ in range(3)]
    await publish(common, *(r.model_dump_json().encode() for r in reports))
    group = f"{common.topic_prefix}worker"
    calls: list[list[str]] = []
    failing = asyncio.Event()
    failing.set()

    async def handler(batch: Batch) -> BatchResult:
        calls.append([ev.report_id for ev, _ in batch])
        if failing.is_set():
            raise TransientError("database unreachable")
        return [[Emit(common.topics.routed, ev)] for ev, _ in batch]

    async def scenario() -> None:
        await eventually(lambda: len(calls) >= 4)  # retried, more often than max_attempts
        assert await committed(common, group) == {}
        failing.clear()
        await find_events(common, common.topics.routed, NormalizedReport, lambda e: True, count=3)
        await eventually(lambda: committed(common, group))

    await run_batch_worker(common, handler, scenario)
    ids = [r.report_id for r in reports]
    assert all(c == ids for c in calls)  # the whole batch each time
    assert list((await committed(common, group)).values()) == [3]
    out = await find_events(common, common.topics.routed, NormalizedReport, lambda e: True, count=3, settle=1)
    assert sorted(e.report_id for e in out) == sorted(ids)  # once each (on several partitions)
    assert await read_topic(common, common.topics.dlq, 0, timeout=1) == []


async def test_a_batch_handler_that_crashes_is_narrowed_down_to_the_record_that_crashes_it(
    common: CommonSettings,
) -> None:
    await create_topics(common)
    reports = [normalized(), normalized(category="poison"), normalized()]
    await publish(common, *(r.model_dump_json().encode() for r in reports))
    group = f"{common.topic_prefix}worker"

    async def handler(batch: Batch) -> BatchResult:
        if any(ev.category == "poison" for ev, _ in batch):
            raise RuntimeError("bug")
        return [[Emit(common.topics.routed, ev)] for ev, _ in batch]

    async def done() -> None:
        await eventually(lambda: committed(common, group))

    await run_batch_worker(common, handler, done)
    out = await find_events(common, common.topics.routed, NormalizedReport, lambda e: True, count=2, settle=1)
    assert sorted(e.report_id for e in out) == sorted([reports[0].report_id, reports[2].report_id])
    (letter,) = await find_events(common, common.topics.dlq, DeadLetter, lambda d: True, settle=1)
    assert letter.offset == 1 and letter.error == "RuntimeError: bug"
