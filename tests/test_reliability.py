"""Killing a service with SIGKILL and restarting it loses nothing that was acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient

from aduan_cli.stack import Stack
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import eventually, read_topic
from aduan_schemas.events import NormalizedReport
from tests.test_end_to_end import post_qlue, qlue_payload

N = 150


async def count_cases(common: CommonSettings, msg_ids: set[str]) -> int:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    try:
        cur = client[common.mongodb_db]["cases"].find(
            {"channel_message_id": {"$in": sorted(msg_ids)}}, projection={"_id": 1}
        )
        return len([d async for d in cur])
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
    normalized = await read_topic(stack_common, stack_common.topics.normalized, len(acknowledged), timeout=30)
    ids = {NormalizedReport.model_validate_json(r.value).channel_message_id for r in normalized}
    assert acknowledged <= ids
