"""The producer against the real broker: an event sent to several topics is serialised once, and each
event keeps its own bytes and CloudEvents id.

How this was checked to fail: with the encoding cache keyed by topic instead of by event, the triage
record was encoded apart from the routed one (its own bytes and headers) and the test went red.
"""

from __future__ import annotations

from aduan_kit import cloudevents
from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import create_topics, read_topic
from aduan_kit.testing.samples import normalized
from aduan_schemas.events import NormalizedReport


async def test_send_all_serialises_an_event_once_per_batch_of_outputs(common: CommonSettings) -> None:
    await create_topics(common)
    topics = common.topics
    first, second = normalized(channel_message_id="q-1"), normalized(channel_message_id="q-2")
    producer = EventProducer(common, "test")
    await producer.start()
    try:
        futures = await producer.send_all(
            [Emit(topics.routed, first), Emit(topics.triage, first), Emit(topics.routed, second)]
        )
        for f in futures:
            await f
    finally:
        await producer.stop()

    by_key = {r.key: r for r in await read_topic(common, topics.routed, 2)}  # partitions: any order
    [triage] = await read_topic(common, topics.triage, 1)
    one, two = by_key[first.report_id.encode()], by_key[second.report_id.encode()]
    assert (triage.value, triage.headers) == (one.value, one.headers)
    assert NormalizedReport.model_validate_json(one.value) == first
    assert NormalizedReport.model_validate_json(two.value) == second
    assert cloudevents.header(one.headers, "ce_id") == first.event_id()
    assert cloudevents.header(two.headers, "ce_id") == second.event_id()
