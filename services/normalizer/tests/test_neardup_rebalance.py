"""Near-duplicates across a consumer-group rebalance: two normalizer workers in one group.

Raw topics are keyed by channel message id, so copies of one problem land on any partition, hence any
worker: no worker owns a place. Every worker reads the roots it needs from the shared store, per batch,
by the batch's lookup keys, so what another worker decided before a rebalance is seen after it.

The scenario: workers A and B share the raw partitions; a fallen tree reaches A (a partition A holds);
A leaves the group, B takes its partitions and a copy (X, slang, no GPS) arrives on the very partition
the first report came by; then a new worker C joins, B and C share the partitions again, and an SMS copy
arrives on a partition C holds. Both copies must name the first report.

Checked to fail: with the worker's roots kept in its memory, read from the store once when the service
started and not again when partitions were assigned (``StreamLinker.link`` deciding over that copy plus
its own new roots, no store query), B, started before the first report existed, published the X copy
with ``duplicate_of`` null and the test went red at the first assertion; with ``OpenRootStore.save`` a
no-op it went red there too.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka.structs import TopicPartition

from aduan_kit.kafka import StreamWorker, producer_for
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually
from aduan_normalizer.main import build
from aduan_schemas.events import RawReport
from aduan_schemas.ids import report_id
from services.normalizer.tests.neardup_reports import normalized, settings, tree_qlue, tree_sms, tree_tweet


def worker(app: Any) -> StreamWorker:
    return app.state.worker


def share(a: StreamWorker, b: StreamWorker, topics: list[str]) -> bool:
    """Both joined, holding disjoint parts of every partition of ``topics``."""
    x, y = a.assignment(), b.assignment()
    return bool(x) and bool(y) and not x & y and set(topics) <= {tp.topic for tp in x | y}


def held(w: StreamWorker, topic: str) -> list[int]:
    return sorted(tp.partition for tp in w.assignment() if tp.topic == topic)


async def publish_to(common: CommonSettings, raw: RawReport, partition: int) -> None:
    """Publish on one chosen partition of the channel's raw topic (which worker gets it is then known)."""
    producer = producer_for(common)
    await producer.start()
    try:
        await producer.send_and_wait(
            common.topics.raw(raw.channel),
            raw.model_dump_json().encode(),
            key=raw.channel_message_id.encode(),
            partition=partition,
        )
    finally:
        await producer.stop()


async def test_a_copy_handled_by_another_worker_after_a_rebalance_is_merged(
    common: CommonSettings, boundaries_path: Path
) -> None:
    await create_topics(common)
    t = common.topics
    now = datetime.now(UTC)
    first = tree_qlue(now - timedelta(minutes=20))
    tweet, sms = tree_tweet(now - timedelta(minutes=10)), tree_sms(now)
    root = report_id(first)
    async with contextlib.AsyncExitStack() as stack:
        a_app, b_app = build(settings(common, boundaries_path)), build(settings(common, boundaries_path))
        a_ctx = await stack.enter_async_context(contextlib.AsyncExitStack())
        await a_ctx.enter_async_context(running(a_app))
        await stack.enter_async_context(running(b_app))
        a, b = worker(a_app), worker(b_app)
        await eventually(lambda: share(a, b, t.raw_all), timeout=60)

        # The first report reaches A.
        on_a = held(a, t.raw("qlue"))[0]
        await publish_to(common, first, on_a)
        out = await normalized(common, 1)
        assert out[root].duplicate_of is None
        assert TopicPartition(t.raw("qlue"), on_a) in a.assignment()  # no rebalance in between

        # A leaves: B holds everything, and the copy comes by the partition A held.
        await a_ctx.aclose()
        await eventually(
            lambda: (
                set(t.raw_all) <= {tp.topic for tp in b.assignment()}
                and len(b.assignment()) >= 6 * len(t.raw_all)
            ),
            timeout=60,
        )
        twitter_partition = on_a % 6
        await publish_to(common, tweet, twitter_partition)
        out = await normalized(common, 2)
        assert out[report_id(tweet)].duplicate_of == root, out[report_id(tweet)]

        # C joins: B and C share again; the SMS copy comes by a partition C holds.
        c_app = build(settings(common, boundaries_path))
        await stack.enter_async_context(running(c_app))
        c = worker(c_app)
        await eventually(lambda: share(b, c, t.raw_all), timeout=60)
        await publish_to(common, sms, held(c, t.raw("sms"))[0])
        out = await normalized(common, 3)
        assert out[report_id(sms)].duplicate_of == root, out[report_id(sms)]
