"""Test helpers that talk to the real broker: read a topic, publish raw bytes, create topics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from aduan_kit.kafka import ensure_topics, producer_for
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.plugin import consumer_timings


async def create_topics(common: CommonSettings, skpd_codes: Iterable[str] = ()) -> None:
    """Create the test's fixed topics (its prefix) and the topics of the SKPD units named.

    Not one per unit of the registry: 394 unit topics per test left the session's broker with thousands
    of topics, and Tansu's metadata, produce and fetch slowed with each (creating them took 10 s on a
    fresh broker and 30-45 s after a dozen tests). Name every unit whose topic the test reads or its
    services write to: Tansu creates a missing topic on first use, but a produce to a topic created that
    way sometimes fails with NotLeaderForPartition until the request times out.
    """
    await ensure_topics(common.kafka_bootstrap, common.topics.all_topics(list(skpd_codes)))


async def _reader(common: CommonSettings, topic: str) -> AIOKafkaConsumer:
    """A consumer of ``topic`` from its start, in a group of its own (it never commits)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=common.kafka_bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **consumer_timings(),
    )
    await consumer.start()
    return consumer


async def read_topic(
    common: CommonSettings, topic: str, count: int, timeout: float = 30, settle: float = 0.0
) -> list[ConsumerRecord[Any, Any]]:
    """Read ``count`` records from the start of ``topic`` (waits up to ``timeout`` s for them).

    With ``settle`` > 0, keeps reading that long after ``count`` is reached, so a test can assert that
    no extra record arrives.
    """
    consumer = await _reader(common, topic)
    out: list[ConsumerRecord[Any, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < deadline:
            if len(out) >= count:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def publish_bytes(
    common: CommonSettings,
    topic: str,
    value: bytes,
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    producer = producer_for(common)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=headers or [])
    finally:
        await producer.stop()


async def eventually(predicate: Any, timeout: float = 30, interval: float = 0.1) -> Any:
    """Await ``predicate()`` (sync or async) until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def find_events(
    common: CommonSettings,
    topic: str,
    model: Any,
    predicate: Any,
    count: int = 1,
    timeout: float = 30,
    settle: float = 0.0,
    enough: Callable[[list[Any]], bool] | None = None,
) -> list[Any]:
    """Parse ``topic`` from the start with ``model`` and return the events matching ``predicate``, once
    ``count`` of them were seen, or once ``enough(found)`` holds when given (then reading on for
    ``settle`` s, to catch any extra one)."""
    consumer = await _reader(common, topic)
    found: list[Any] = []

    def done() -> bool:
        return enough(found) if enough is not None else len(found) >= count

    try:
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < deadline:
            if done():
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    return found
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    try:
                        ev = model.model_validate_json(r.value)
                    except ValueError:
                        continue
                    if predicate(ev):
                        found.append(ev)
        if not done():
            wanted = "enough" if enough is not None else str(count)
            raise AssertionError(f"{topic}: {len(found)} of {wanted} matching events within {timeout} s")
        return found
    finally:
        await consumer.stop()


async def ids_on_topic(
    common: CommonSettings,
    topic: str,
    id_of: Callable[[bytes], str | None],
    wanted: set[str],
    timeout: float = 60,
) -> Counter[str]:
    """How often each of the ``wanted`` ids (``id_of(value)``) is on ``topic``: read from the start until
    every one was seen, then on to the end the topic had at that moment (so doubles are counted too).
    Returns early with what was seen when ``timeout`` runs out."""
    consumer = await _reader(common, topic)
    seen: Counter[str] = Counter()
    ends: dict[Any, int] | None = None
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    try:
                        rid = id_of(r.value)
                    except ValueError:  # not the topic's event (other tests put garbage on shared topics)
                        continue
                    if rid in wanted:
                        seen[rid] += 1
            if ends is None and wanted <= seen.keys():
                ends = await consumer.end_offsets(list(consumer.assignment()))
            if ends is not None and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                break
        return seen
    finally:
        await consumer.stop()
