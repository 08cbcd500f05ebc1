"""The consume -> handle -> produce -> commit loop against the real broker: retries, dead letters, commits."""

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any

from aduan_kit.kafka import (
    MAX_RECORD_BYTES,
    PARTITION_FETCH_BYTES,
    Emit,
    Received,
    Subscription,
    TransientError,
    parser_for,
)
from aduan_kit.metrics import CONSUMER_LAG
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import create_topics, eventually, find_events, publish_bytes
from aduan_kit.testing.samples import normalized
from aduan_kit.testing.worker import run_worker as run_subscription
from aduan_schemas.events import DeadLetter, NormalizedReport


async def run_worker(common: CommonSettings, handler: Any, until: Any) -> None:
    await run_subscription(
        common, Subscription(common.topics.normalized, parser_for(NormalizedReport), handler), until
    )


async def publish(common: CommonSettings, *reports: NormalizedReport) -> None:
    for r in reports:
        await publish_bytes(
            common, common.topics.normalized, r.model_dump_json().encode(), r.report_id.encode()
        )


async def test_transient_failures_are_retried_until_the_record_goes_through(common: CommonSettings) -> None:
    await create_topics(common)
    report = normalized()
    await publish(common, report)
    attempts = 0

    async def flaky(ev: NormalizedReport, _: Received) -> Sequence[Emit]:
        nonlocal attempts
        attempts += 1
        if attempts <= 5:  # more than max_attempts: transient errors are never dead-lettered
            raise TransientError("database unreachable")
        return [Emit(common.topics.routed, ev)]

    async def routed() -> None:
        await find_events(
            common, common.topics.routed, NormalizedReport, lambda e: e.report_id == report.report_id
        )

    await run_worker(common, flaky, routed)
    assert attempts == 6
    letters = await find_events(
        common, common.topics.dlq, DeadLetter, lambda d: True, count=0, timeout=2, settle=1
    )
    assert letters == []


async def test_a_record_that_keeps_failing_is_dead_lettered_and_the_next_one_goes_through(
    common: CommonSettings,
) -> None:
    await create_topics(common)
    poison, good = normalized(category="poison"), normalized()
    await publish(common, poison, good)
    seen: list[str] = []

    async def handler(ev: NormalizedReport, _: Received) -> Sequence[Emit]:
        seen.append(ev.report_id)
        if ev.category == "poison":
            raise RuntimeError("unexpected input")
        return [Emit(common.topics.routed, ev)]

    async def both() -> None:
        await find_events(
            common, common.topics.routed, NormalizedReport, lambda e: e.report_id == good.report_id
        )

    await run_worker(common, handler, both)
    assert seen.count(poison.report_id) == 3  # max_attempts, then dead-lettered
    (letter,) = await find_events(common, common.topics.dlq, DeadLetter, lambda d: d.key == poison.report_id)
    assert letter.stage == "test" and letter.error == "RuntimeError: unexpected input"
    assert NormalizedReport.model_validate_json(letter.payload).report_id == poison.report_id


async def test_offsets_are_committed_after_the_work_so_a_restart_does_not_redo_it(
    common: CommonSettings,
) -> None:
    await create_topics(common)
    first, second = normalized(), normalized()
    handled: list[str] = []

    async def handler(ev: NormalizedReport, _: Received) -> Sequence[Emit]:
        handled.append(ev.report_id)
        return [Emit(common.topics.routed, ev)]

    async def routed(report: NormalizedReport) -> None:
        await find_events(
            common, common.topics.routed, NormalizedReport, lambda e: e.report_id == report.report_id
        )

    await publish(common, first)
    await run_worker(common, handler, lambda: routed(first))
    await publish(common, second)
    await run_worker(common, handler, lambda: routed(second))  # same group: resumes after `first`
    assert handled == [first.report_id, second.report_id]


def lag_of(topic: str) -> float:
    (family,) = CONSUMER_LAG.collect()
    return sum(s.value for s in family.samples if s.labels["topic"] == topic)


async def test_consumer_lag_keeps_rising_while_the_handler_is_stuck(common: CommonSettings) -> None:
    """The lag comes from a task of its own (end offsets minus committed), not from the fetch loop.

    Checked to fail: without that task (the lag set only after a committed fetch, as before), the
    gauge stayed at 0 while the handler was stuck and this timed out."""
    await create_topics(common)
    topic = common.topics.normalized
    release = asyncio.Event()

    async def stuck(ev: NormalizedReport, _: Received) -> Sequence[Emit]:
        await release.wait()
        return []

    async def lag_rises() -> None:
        await publish(common, normalized())
        await eventually(lambda: lag_of(topic) == 1, timeout=20)
        await publish(common, normalized(), normalized())
        await eventually(lambda: lag_of(topic) == 3, timeout=20)  # the handler still holds the first
        release.set()

    await run_worker(common, stuck, lag_rises)


async def test_json_nested_past_the_parsers_recursion_limit_is_dead_lettered(common: CommonSettings) -> None:
    """A value nested 100,000 deep makes a JSON parser raise ``RecursionError`` (not a ``ValueError``).

    Checked to fail: without ``RecursionError`` among the parse failures the worker's loop died on it
    (the notifier exited this way on such a record on ``aduan.sla.events``) and the good record behind
    it was never routed."""
    await create_topics(common)
    key = f"deep-{uuid.uuid4().hex[:8]}"
    deep = b"[" * 100_000 + b"]" * 100_000
    await publish_bytes(common, common.topics.normalized, deep, key.encode())
    good = normalized()
    await publish(common, good)

    async def handler(ev: NormalizedReport, _: Received) -> Sequence[Emit]:
        return [Emit(common.topics.routed, ev)]

    async def routed() -> None:
        await find_events(
            common, common.topics.routed, NormalizedReport, lambda e: e.report_id == good.report_id
        )

    def parse(value: bytes) -> NormalizedReport:  # a parser that reads JSON with the standard library
        return NormalizedReport.model_validate(json.loads(value))

    await run_subscription(common, Subscription(common.topics.normalized, parse, handler), routed)
    (letter,) = await find_events(common, common.topics.dlq, DeadLetter, lambda d: d.key == key)
    assert letter.stage == "parse"


async def test_a_record_larger_than_the_partition_fetch_size_is_consumed(common: CommonSettings) -> None:
    """The consumer fetches at most ``PARTITION_FETCH_BYTES`` per partition (its prefetch buffers stay
    small), yet a record of nearly ``MAX_RECORD_BYTES`` still goes through, and so does the record
    behind it: the broker returns a first record batch larger than the limit (fetch v3 and later).

    Checked to fail: with the parse check comparing a record with ``PARTITION_FETCH_BYTES`` instead of
    ``MAX_RECORD_BYTES`` the large record was dead-lettered and the wait for it timed out. Pinning the
    consumer to fetch v2 or v1 (``api_version``) did not turn it red: the embedded broker returns the whole
    first batch on every version, as Apache Kafka does from fetch v3 on."""
    await create_topics(common)
    large, small = normalized(), normalized()
    value = large.model_dump_json().encode()
    value += b" " * (MAX_RECORD_BYTES - 1_000 - len(value))  # JSON whitespace: still the same report
    assert PARTITION_FETCH_BYTES < len(value) <= MAX_RECORD_BYTES
    await publish_bytes(common, common.topics.normalized, value, large.report_id.encode())
    await publish(common, small)

    async def handler(ev: NormalizedReport, _: Received) -> Sequence[Emit]:
        return [Emit(common.topics.routed, ev)]

    async def both() -> None:
        wanted = {large.report_id, small.report_id}
        await find_events(
            common, common.topics.routed, NormalizedReport, lambda e: e.report_id in wanted, count=2
        )

    await run_worker(common, handler, both)
