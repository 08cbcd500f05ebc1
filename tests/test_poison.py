"""A poison record (one that can never be handled) is dead-lettered with its reason and committed, and the
records behind it on the same key and partition flow on, while the stage runs and across its restart.

The poison is a status update no rule accepts ("resolved" without a photo): it parses, so it reaches the
SLA monitor's handler, which refuses it (``PermanentError``). The good updates behind it carry the same
key (the report id), so they sit on the same partition, behind it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from aduan_cli.stack import Stack
from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import eventually, find_events
from aduan_kit.testing.offsets import committed
from aduan_schemas.events import DeadLetter, ReportStatus, StatusUpdate
from tests.load import Accepted, raw_burst
from tests.test_end_to_end import case_of
from tests.test_reliability import stored_ids


@contextlib.asynccontextmanager
async def status_producer(common: CommonSettings) -> AsyncIterator[EventProducer]:
    producer = EventProducer(common, source="/aduan/test-unit")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def updates(report_id: str, start: datetime, good: int) -> list[StatusUpdate]:
    """A poison update, then ``good`` valid ones of the same report."""
    poison = StatusUpdate(report_id=report_id, status=ReportStatus.RESOLVED, at=start, by="petugas-9")
    return [poison] + [
        StatusUpdate(
            report_id=report_id,
            status=ReportStatus.IN_PROGRESS,
            at=start + timedelta(seconds=i + 1),
            by="petugas-9",
            note=f"Tahap {i + 1}",
        )
        for i in range(good)
    ]


async def send(common: CommonSettings, events: list[StatusUpdate]) -> list[Any]:
    """Publish in order; the broker's record metadata (partition, offset) of each."""
    async with status_producer(common) as producer:
        futures = [await producer.send(Emit(common.topics.status, e)) for e in events]
        return [await f for f in futures]


async def applied(common: CommonSettings, report_id: str, events: list[StatusUpdate]) -> bool:
    case: dict[str, Any] | None = await case_of(common, report_id)
    done = {h.get("event_id") for h in (case or {}).get("history") or ()}
    return {e.event_id() for e in events} <= done


async def test_a_poison_status_update_is_dead_lettered_and_the_updates_behind_it_are_applied(
    stack: Stack, stack_common: CommonSettings
) -> None:
    """Checked to fail, with two ways of planting "retry a rejected record instead of dead-lettering
    it" in ``StreamWorker._handle``:

    - a ``PermanentError`` result handled like a ``RETRYABLE`` one: red at the first commit check, the
      partition stuck behind the poison (the good updates of its batch were applied; nothing committed).
    - the ``PermanentError`` branch only flagging the round as transient (``transient = result``), not
      dead-lettering the record: before the worker's fix the round did not retry it (it retried only
      records put on a list) and the record, neither handled nor dead-lettered, was committed: the
      commit checks passed and the test went red only at "aduan.dlq: 0 of 2 matching events". Since
      every round retries each record not yet settled (``_Item.settled``), the same plant is red at the
      first commit check: "aduan.reports.status[10]: committed -1, poison at 0, last update at 3", the
      partition stuck behind the poison while it is retried.
    """
    t = stack_common.topics
    group = f"{t.prefix}aduan-sla-monitor"
    accepted = Accepted()
    await raw_burst(stack_common, accepted, 1, tag="POISON")
    (report_id,) = accepted.report_ids

    async def has_case() -> bool:
        return bool(await stored_ids(stack_common, {report_id}))

    await eventually(has_case, timeout=60, interval=0.5)
    start = datetime.now(UTC).replace(microsecond=0)

    async def check(events: list[StatusUpdate], metas: list[Any]) -> None:
        poison, good = metas[0], events[1:]
        assert {m.partition for m in metas} == {poison.partition}  # one key, one partition

        async def good_ones_applied() -> bool:
            return await applied(stack_common, report_id, good)

        await eventually(good_ones_applied, timeout=60, interval=0.5)
        tp = TopicPartition(t.status, poison.partition)

        async def position() -> int:
            return (await committed(stack.kafka_bootstrap, group, [tp]))[tp]

        async def committed_past() -> bool:
            return await position() > metas[-1].offset

        try:
            await eventually(committed_past, timeout=30, interval=0.5)
        except AssertionError:
            raise AssertionError(
                f"{t.status}[{tp.partition}]: committed {await position()}, poison at {poison.offset}, "
                f"last update at {metas[-1].offset}"
            ) from None

    # While the stage runs.
    first = updates(report_id, start, good=3)
    first_metas = await send(stack_common, first)
    await check(first, first_metas)
    # Across a restart: the poison waits at the head of the partition while the stage is down.
    stack.kill("sla-monitor")
    second = updates(report_id, start + timedelta(minutes=1), good=3)
    second_metas = await send(stack_common, second)
    stack.restart("sla-monitor")
    await check(second, second_metas)

    poisons = {(m.partition, m.offset) for m in (first_metas[0], second_metas[0])}
    letters = await find_events(
        stack_common,
        t.dlq,
        DeadLetter,
        lambda d: d.original_topic == t.status and (d.partition, d.offset) in poisons,
        count=2,
        settle=1,
    )
    assert sorted((d.partition, d.offset) for d in letters) == sorted(poisons)  # each once: committed
    assert all("needs evidence" in d.error for d in letters), [d.error for d in letters]
