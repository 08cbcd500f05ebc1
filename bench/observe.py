"""Watching the pipeline's outputs: which reports reached an SKPD topic and when, and how many cases the
store holds.

``TopicReader`` assigns itself every partition of the given topics (no consumer group: nothing to join,
nothing committed) from the beginning, and records, per report of this run, when it reached the topic:
the record's Kafka timestamp (CreateTime, stamped by the router's producer when it queued the record,
at most its linger of 5 ms before the broker has it; the reader's clock when the broker stamps no
CreateTime). So the reader's own fetch wait does not enter the figures, and it can fetch rarely: on
Tansu one fetch over every SKPD topic (327 topics x 3 partitions) costs the broker ~58 ms of CPU
(measured: a reader with a 20 ms wait took half a core of Tansu while idle, with 1 s ~0.06). It finds
the message id with a byte search instead of parsing the record, so reading stays cheap.

``CaseCounter`` polls ``count_documents`` on the cases collection every 0.5 s (a measuring tool: the
pipeline never counts).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from bench.corpus import seq_of

MESSAGE_ID = b'"channel_message_id":"'
POLL_S = 0.5


def message_id_of(value: bytes) -> str | None:
    i = value.find(MESSAGE_ID)
    if i < 0:
        return None
    start = i + len(MESSAGE_ID)
    return value[start : value.index(b'"', start)].decode()


class TopicReader:
    def __init__(self, bootstrap: str, topics: list[str], tag: str, fetch_wait_ms: int = 1000) -> None:
        self.bootstrap, self.topics, self.tag = bootstrap, topics, tag
        self.fetch_wait_ms = fetch_wait_ms
        self.seen: dict[int, float] = {}  # sequence number -> wall time first seen
        self.records = 0
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        c = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.fetch_wait_ms,
            # With a long wait, also wait for data: fewer, larger fetches (see the module docstring).
            fetch_min_bytes=1 if self.fetch_wait_ms <= 20 else 4 << 20,
            fetch_max_bytes=64 << 20,
            max_partition_fetch_bytes=1 << 20,
        )
        await c.start()
        await c.topics()  # loads metadata of every topic
        parts = [TopicPartition(t, p) for t in self.topics for p in sorted(c.partitions_for_topic(t) or ())]
        if not parts:
            await c.stop()
            raise RuntimeError("no partitions found for the SKPD topics")
        c.assign(parts)
        await c.seek_to_beginning()
        self._consumer = c

    async def read_until(self, expected: int, deadline: float) -> None:
        """Read until ``expected`` reports of this run were seen or the wall clock passes ``deadline``."""
        assert self._consumer is not None
        while len(self.seen) < expected and time.time() < deadline:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.time()
            for records in batches.values():
                for r in records:
                    self.records += 1
                    mid = message_id_of(r.value) if r.value else None
                    seq = seq_of(mid, self.tag) if mid else None
                    if seq is not None and seq not in self.seen:
                        self.seen[seq] = (
                            r.timestamp / 1000 if r.timestamp_type == 0 and r.timestamp > 0 else now
                        )

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


class CaseCounter:
    def __init__(self, mongodb_url: str, db: str) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
        self.coll = self.client[db]["cases"]
        self.samples: list[tuple[float, int]] = []

    async def wait_for(self, expected: int, deadline: float) -> tuple[float | None, int]:
        """(wall time the count first reached ``expected`` or None, last count)."""
        count = 0
        while time.time() < deadline:
            count = await self.coll.count_documents({})
            now = time.time()
            self.samples.append((now, count))
            if count >= expected:
                return now, count
            await asyncio.sleep(POLL_S)
        return None, count

    async def close(self) -> None:
        await self.client.close()
