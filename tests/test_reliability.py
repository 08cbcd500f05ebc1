"""Killing a service with SIGKILL and restarting it loses nothing that was acknowledged."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from pymongo import AsyncMongoClient

from aduan_cli.stack import Stack
from aduan_kit.kafka import producer_for
from aduan_kit.mongo import find_in
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import eventually, ids_on_topic
from aduan_kit.testing.samples import raw_qlue
from aduan_schemas.events import NormalizedReport
from aduan_schemas.ids import report_id, report_id_for
from tests.test_end_to_end import post_qlue, qlue_payload

N = 150


async def stored_ids(common: CommonSettings, report_ids: set[str], coll: str = "cases") -> set[str]:
    """Those of ``report_ids`` found in ``coll`` (looked up by the ``_id`` index)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    try:
        ids = sorted(report_ids)
        return {str(d["_id"]) async for d in find_in(client[common.mongodb_db][coll], "_id", ids, {"_id": 1})}
    finally:
        await client.close()


async def count_case_ids(common: CommonSettings, msg_ids: set[str], coll: str = "cases") -> set[str]:
    """The report ids of these Qlue messages found in ``coll``."""
    return await stored_ids(common, {report_id_for("qlue", m) for m in msg_ids}, coll)


async def count_cases(common: CommonSettings, msg_ids: set[str]) -> int:
    return len(await count_case_ids(common, msg_ids))


async def stored(common: CommonSettings, coll: str) -> int:
    """Documents in ``coll`` (from the collection's metadata: cheap enough to poll while it fills)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    try:
        return await client[common.mongodb_db][coll].estimated_document_count()
    finally:
        await client.close()


async def test_sigkill_mid_stream_loses_no_acknowledged_report(
    stack: Stack, stack_common: CommonSettings
) -> None:
    acknowledged: set[str] = set()
    for victim in ("normalizer", "sla-monitor"):
        batch = [qlue_payload() for _ in range(N)]
        for i, p in enumerate(batch):
            r = await asyncio.to_thread(post_qlue, stack, p)
            assert r.status_code == 202, r.text
            acknowledged.add(p["id"])
            if i == N // 3:
                stack.kill(victim)  # SIGKILL while records are in flight
        assert not stack.services[victim].process.alive
        stack.restart(victim)

    async def all_stored() -> bool:
        return await count_cases(stack_common, acknowledged) == len(acknowledged)

    await eventually(all_stored, timeout=90, interval=1)

    def message_id(value: bytes) -> str:
        return NormalizedReport.model_validate_json(value).channel_message_id

    seen = await ids_on_topic(stack_common, stack_common.topics.normalized, message_id, acknowledged)
    assert acknowledged <= seen.keys()


async def test_sigkill_while_a_batch_is_in_flight_loses_nothing_and_stores_each_case_once(
    stack: Stack, stack_common: CommonSettings
) -> None:
    """Thousands of raw events wait on the raw topic while the normalizer is down, so it restarts into
    full batches; it is killed the moment its first batch is recorded as delivered, i.e. while the next
    batch is fetched and handled, uncommitted; the SLA monitor likewise once its first cases are stored.
    Afterwards every accepted report is a case exactly once.

    Checked to fail: with the worker committing a fetch's offsets before handling it, the batch in
    flight at the kill was lost and the test went red (the cases never reached n).
    """
    n = 8_000
    t = stack_common.topics
    raws = [raw_qlue(channel_message_id=f"KILL-{uuid.uuid4().hex[:12]}") for _ in range(n)]
    msg_ids = {r.channel_message_id for r in raws}
    stack.kill("normalizer")
    seen_before, cases_before = (
        await stored(stack_common, "normalizer_seen"),
        await stored(stack_common, "cases"),
    )
    producer = producer_for(stack_common)
    await producer.start()
    try:
        for raw in raws:  # acknowledged by the broker = accepted
            value, key = raw.model_dump_json().encode(), raw.channel_message_id.encode()
            await producer.send(t.raw("qlue"), value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    stack.restart("normalizer", wait=False)  # watched from its first batch on

    async def first_batch_delivered() -> bool:
        return await stored(stack_common, "normalizer_seen") > seen_before

    await eventually(first_batch_delivered, timeout=60, interval=0.02)
    stack.kill("normalizer")  # SIGKILL with the next batch in flight

    async def some_cases() -> bool:
        return await stored(stack_common, "cases") > cases_before

    await eventually(some_cases, timeout=60, interval=0.02)
    stack.kill("sla-monitor")  # SIGKILL while the case store is being written batch by batch
    assert await count_cases(stack_common, msg_ids) < n  # so the kills did land mid-stream
    stack.restart("normalizer")
    stack.restart("sla-monitor")

    async def all_stored() -> bool:
        return await count_cases(stack_common, msg_ids) == n

    await eventually(all_stored, timeout=120, interval=1)
    assert await count_case_ids(stack_common, msg_ids) == {report_id(r) for r in raws}  # `_id`: one each
