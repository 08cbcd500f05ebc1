"""Load for the crash tests: an open-loop sender of signed Qlue webhooks, bursts of raw events, and what a
service's metrics say it has done (to time a kill while it works)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aduan_cli.stack import Stack
from aduan_kit.kafka import producer_for
from aduan_kit.settings import CommonSettings
from aduan_kit.signing import sign
from aduan_kit.testing.samples import raw_qlue
from aduan_schemas.ids import report_id, report_id_for
from tests.test_end_to_end import qlue_payload


@dataclass
class Accepted:
    """Report ids accepted so far: 202 from an adapter, or acknowledged by the broker."""

    report_ids: set[str] = field(default_factory=set)
    source: dict[str, str] = field(default_factory=dict)  # report id -> how it came in (diagnostics)
    refused: int = 0  # requests that got no 202 (an adapter killed or restarting): not accepted


@contextlib.asynccontextmanager
async def steady_webhooks(stack: Stack, accepted: Accepted, per_second: float) -> AsyncIterator[None]:
    """Post signed Qlue webhooks at a fixed rate whatever the answers (open loop: a slow or dead adapter
    does not slow the sender) until the block ends; then wait for the requests still open."""
    secret = stack.secrets()["ADUAN_INGEST_QLUE_WEBHOOK_SECRET"]
    in_flight: set[asyncio.Task[None]] = set()

    async def post(client: httpx.AsyncClient) -> None:
        payload = qlue_payload(id=f"CRASH-{uuid.uuid4().hex[:12]}")
        body = json.dumps(payload).encode()
        headers = {"content-type": "application/json", **sign(secret, body)}
        url = f"{stack.services['ingest-qlue'].url}/v1/reports"
        try:
            r = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError:
            accepted.refused += 1
            return
        if r.status_code == 202:
            rid = report_id_for("qlue", payload["id"])
            accepted.report_ids.add(rid)
            accepted.source[rid] = "webhook"
        else:
            accepted.refused += 1

    async def send(client: httpx.AsyncClient) -> None:
        start = time.monotonic()
        for n in range(1_000_000):
            await asyncio.sleep(max(0.0, start + n / per_second - time.monotonic()))
            task = asyncio.create_task(post(client))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    async with httpx.AsyncClient(timeout=15) as client:
        sender = asyncio.create_task(send(client))
        try:
            yield
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await asyncio.gather(*in_flight, return_exceptions=True)


async def raw_burst(common: CommonSettings, accepted: Accepted, n: int, tag: str) -> None:
    """``n`` raw Qlue events straight onto the raw topic (a backlog that keeps every stage busy)."""
    producer = producer_for(common)
    await producer.start()
    try:
        raws = [raw_qlue(channel_message_id=f"{tag}-{uuid.uuid4().hex[:12]}") for _ in range(n)]
        for raw in raws:
            value, key = raw.model_dump_json().encode(), raw.channel_message_id.encode()
            await producer.send(common.topics.raw("qlue"), value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    accepted.report_ids.update(report_id(r) for r in raws)
    accepted.source.update((report_id(r), tag) for r in raws)


async def metric_total(url: str, name: str, **labels: str) -> float:
    """The sum of a counter's samples (those with ``labels``) on a service's /metrics; 0 when it does not
    answer (dead or starting)."""
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            text = (await client.get(f"{url}/metrics")).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )
