"""Retries back off: growing, capped, jittered delays, and one log line per retry round."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from aduan_kit.backoff import retry_delay
from aduan_kit.kafka import (
    BatchResult,
    EventProducer,
    Received,
    StreamWorker,
    Subscription,
    TransientError,
    parser_for,
)
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import create_topics, eventually, publish_bytes
from aduan_kit.testing.samples import normalized
from aduan_schemas.events import NormalizedReport


def test_delay_grows_to_the_cap() -> None:
    """Checked to fail: with the growth factor applied as ``factor * round_`` instead of a power."""
    no_jitter = [retry_delay(n, 0.5, 30, rand=lambda: 0.0) for n in range(1, 10)]
    assert no_jitter == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_jitter_takes_off_at_most_its_share() -> None:
    assert retry_delay(3, 0.5, 30, rand=lambda: 0.999999) == pytest.approx(1.0, rel=1e-5)
    delays = {retry_delay(3, 0.5, 30) for _ in range(50)}
    assert len(delays) > 40  # not one fixed value
    assert all(1.0 <= d <= 2.0 for d in delays)


async def run_until(common: CommonSettings, sub: Subscription, until: Any, **options: Any) -> None:
    producer = EventProducer(common, source="/aduan/test")
    await producer.start()
    worker = StreamWorker(common, f"{common.topic_prefix}worker", "test", [sub], producer, **options)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(until, timeout=60)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 15)
        await producer.stop()


async def publish(common: CommonSettings, reports: Sequence[NormalizedReport]) -> None:
    for r in reports:
        await publish_bytes(
            common, common.topics.normalized, r.model_dump_json().encode(), r.report_id.encode()
        )


async def test_an_outage_is_retried_with_growing_capped_delays_and_one_line_per_round(
    common: CommonSettings,
) -> None:
    """A batch handler that finds the database down for 7 rounds: the waits between its calls grow, then
    stay at the cap, and each round logs one line, whatever the batch's size.
    Checked to fail: with `_next_delay` returning `self.retry_backoff_s` (the former fixed wait), the
    gaps stop growing (`gaps[3] > 2 * gaps[0]` fails)."""
    await create_topics(common)
    reports = [normalized() for _ in range(20)]
    await publish(common, reports)
    calls: list[float] = []
    handled: set[str] = set()

    async def db_down(batch: Sequence[tuple[NormalizedReport, Received]]) -> BatchResult:
        calls.append(time.monotonic())
        if len(calls) <= 7:
            raise TransientError("database unreachable")
        handled.update(ev.report_id for ev, _ in batch)
        return [[] for _ in batch]

    sub = Subscription(common.topics.normalized, parser_for(NormalizedReport), handle_batch=db_down)
    with capture_logs() as logs:

        async def all_handled() -> bool:
            return handled == {r.report_id for r in reports}

        await run_until(common, sub, all_handled, retry_backoff_s=0.1, retry_max_s=0.8)
    gaps = [b - a for a, b in itertools.pairwise(calls[:8])]
    # bases 0.1, 0.2, 0.4, 0.8, 0.8, 0.8, 0.8; each wait is within [base / 2, base] (+ scheduling)
    assert gaps[0] < 0.2
    assert gaps[3] > 2 * gaps[0]
    assert all(g < 0.8 + 0.25 for g in gaps)  # capped
    assert max(gaps[3:]) >= 0.4
    retries = [e for e in logs if e["event"] == "transient failure, retrying"]
    assert len(retries) == 7  # one per round, not one per record
    assert [e["round"] for e in retries] == [1, 2, 3, 4, 5, 6, 7]


async def test_records_that_fail_in_one_round_give_one_line(common: CommonSettings) -> None:
    """Five records whose handler fails three times each: three lines (one per round), not fifteen.
    Checked to fail: with the former per-record `log.warning("handler failed", ...)`, 15 lines."""
    await create_topics(common)
    reports = [normalized() for _ in range(5)]
    await publish(common, reports)
    seen: list[str] = []

    async def broken(ev: NormalizedReport, _: Received) -> Sequence[Any]:
        seen.append(ev.report_id)
        raise RuntimeError("unexpected input")

    sub = Subscription(common.topics.normalized, parser_for(NormalizedReport), broken)
    with capture_logs() as logs:

        async def all_dead_lettered() -> bool:
            return len(seen) == 15 and sum(e["event"] == "dead-lettered" for e in logs) == 5

        await run_until(common, sub, all_dead_lettered, retry_backoff_s=0.05)
    lines = [e for e in logs if e["event"] == "handler failed"]
    assert len(lines) == 3, lines
    assert all(e["records"] == 5 for e in lines)
