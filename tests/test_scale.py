"""Horizontal scale: two normalizer and two router workers, each pair in one consumer group, share a load.

Every report reaches the routed topic exactly once (no crash, so no re-delivery), and both workers of
each stage did part of the work. Checked to fail: with each worker of a stage in a group of its own
(a per-instance group id) each worker held every partition and the test went red waiting for them to
share; the counts below would also catch the doubles that follow.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from pydantic import SecretStr

from aduan_kit.kafka import StreamWorker, producer_for
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, read_topic
from aduan_kit.testing.samples import raw_qlue
from aduan_normalizer.config import NormalizerSettings
from aduan_normalizer.main import build as build_normalizer
from aduan_router.config import RouterSettings
from aduan_router.main import build as build_router
from aduan_schemas.events import NormalizedReport, RoutedReport
from aduan_schemas.ids import report_id

N = 400
KEY = SecretStr("scale-test-pseudonym-key-0123456")


def workers(apps: list[Any]) -> list[StreamWorker]:
    return [app.state.worker for app in apps]


def share_partitions(pair: list[StreamWorker], topics: list[str]) -> bool:
    """Both workers joined and hold disjoint parts of every partition of ``topics`` (a stage may read
    other topics too, e.g. the normalizer the status updates)."""
    a, b = (w.assignment() for w in pair)
    return bool(a) and bool(b) and not a & b and set(topics) <= {tp.topic for tp in a | b}


async def test_two_workers_per_stage_share_the_load_and_each_report_is_routed_once(
    common: CommonSettings,
) -> None:
    await create_topics(common, ["dlh"])  # normalized without boundaries: no kota, so the dinas itself
    t = common.topics
    normalizers = [build_normalizer(NormalizerSettings(common=common, pseudonym_key=KEY)) for _ in range(2)]
    routers = [build_router(RouterSettings(common=common)) for _ in range(2)]
    async with contextlib.AsyncExitStack() as stack:
        for app in (*normalizers, *routers):
            await stack.enter_async_context(running(app))
        # Wait for both groups to settle (no rebalance during the load, hence no re-delivery).
        await eventually(lambda: share_partitions(workers(normalizers), t.raw_all), timeout=60)
        await eventually(lambda: share_partitions(workers(routers), [t.normalized]), timeout=60)

        raws = [raw_qlue(channel_message_id=f"scale-{i}") for i in range(N)]
        producer = producer_for(common)
        await producer.start()
        try:
            for raw in raws:
                await producer.send(
                    t.raw("qlue"), raw.model_dump_json().encode(), key=raw.channel_message_id.encode()
                )
            await producer.flush()
        finally:
            await producer.stop()

        routed = await read_topic(common, t.routed, N, timeout=120, settle=2)
        normalized = await read_topic(common, t.normalized, N, timeout=10, settle=0.5)
        consumed = [[w.consumed for w in workers(pair)] for pair in (normalizers, routers)]

    expected = {report_id(r) for r in raws}
    routed_ids = Counter(RoutedReport.model_validate_json(r.value).report_id for r in routed)
    normalized_ids = Counter(NormalizedReport.model_validate_json(r.value).report_id for r in normalized)
    assert set(routed_ids) == expected and set(routed_ids.values()) == {1}
    assert set(normalized_ids) == expected and set(normalized_ids.values()) == {1}
    assert all(n > 0 for pair in consumed for n in pair), consumed
    # A rebalance re-delivers what a worker fetched and had not committed (at-least-once): a stage may
    # fetch more than N records; its outputs are exactly once (above).
    assert all(sum(pair) >= N for pair in consumed), consumed
