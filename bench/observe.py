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

A near-duplicate of an earlier report goes on no SKPD topic (its unit has the first report's ticket)
and gets no case (it is linked to the first report's case): the reader counts it when it is on the
routed topic with its ``duplicate_of``, the case counter when it is in ``linked_reports``.

``CaseCounter`` follows the cases collection and the linked duplicates. ``count_documents`` on SecantusDB
scans (~0.8 s at 60 k cases, measured), so polling it every 0.5 s would keep the database busy with the
measurement. Instead it polls every 0.5 s the sla-monitor workers' own counters of new cases and of
linked duplicates (``aduan_cases_stored_total`` and ``aduan_duplicates_linked_total`` on ``/metrics``,
incremented after the store acknowledged the write), and confirms with ``count_documents`` when that
counter says done and once at the end of a run not finished; only without the counters does it count now
and then (every 10x the last count's duration, at least 5 s). A case counts as stored when the counter
said so, if the store then confirms it; else when a count saw it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from bench.corpus import seq_of

MESSAGE_ID = b'"channel_message_id":"'
LINKED = b'"duplicate_of":"'  # a routed report linked to the case of an earlier one
POLL_S = 0.5


def message_id_of(value: bytes) -> str | None:
    i = value.find(MESSAGE_ID)
    if i < 0:
        return None
    start = i + len(MESSAGE_ID)
    return value[start : value.index(b'"', start)].decode()


class TopicReader:
    """``linked_topic``: the routed topic, where a near-duplicate ends (its unit already has the first
    report's ticket, so it goes on no SKPD topic): there only linked reports count."""

    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        tag: str,
        fetch_wait_ms: int = 1000,
        linked_topic: str | None = None,
    ) -> None:
        self.bootstrap, self.tag, self.linked_topic = bootstrap, tag, linked_topic
        self.topics = [*topics, linked_topic] if linked_topic else topics
        self.fetch_wait_ms = fetch_wait_ms
        self.seen: dict[int, float] = {}  # sequence number -> wall time first seen
        self.records = 0
        self.linked: set[int] = set()  # reports seen as near-duplicates on ``linked_topic``
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
        while len(self.seen) < expected and time.time() < deadline:
            await self._read_once()

    async def catch_up(self, quiet_s: float = 3.0, limit_s: float = 90.0) -> None:
        """Once the pipeline is stopped: read what the topics hold already, until nothing came for
        ``quiet_s``. The reader fetches rarely and large (see the module docstring) and on Tansu such a
        fetch returns only part of a partition's backlog (measured: 300 waiting records came as 152,
        80 and 68 in three 1 s fetches), so at the end of a run it can be behind what the router wrote;
        the records' own timestamps then say which reports arrived in time (``arrived_by``)."""
        last_new, give_up = time.time(), time.time() + limit_s
        while time.time() - last_new < quiet_s and time.time() < give_up:
            before = self.records
            await self._read_once()
            if self.records > before:
                last_new = time.time()

    def arrived_by(self, moment: float) -> int:
        """Reports whose record was written at or before ``moment`` (wall time)."""
        return sum(1 for t in self.seen.values() if t <= moment)

    async def _read_once(self) -> None:
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
        now = time.time()
        for tp, records in batches.items():
            linked_only = tp.topic == self.linked_topic
            for r in records:
                self.records += 1
                if linked_only and (not r.value or LINKED not in r.value):
                    continue
                mid = message_id_of(r.value) if r.value else None
                seq = seq_of(mid, self.tag) if mid else None
                if seq is not None and seq not in self.seen:
                    self.seen[seq] = r.timestamp / 1000 if r.timestamp_type == 0 and r.timestamp > 0 else now
                    if linked_only:
                        self.linked.add(seq)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


CASES_METRIC = "aduan_cases_stored_total"
LINKED_METRIC = "aduan_duplicates_linked_total"


def metric_value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


@dataclass
class TopicSummary:
    records: int = 0
    keys: int = 0  # distinct keys (report ids): fewer than records means re-deliveries
    last: float | None = None  # the latest record's Kafka timestamp, seconds


async def summarise(bootstrap: str, topic: str, idle_polls: int = 2, limit_s: float = 60) -> TopicSummary:
    """Read a whole topic after a run: how many records, how many distinct keys, when the last was
    written (the moment a stage wrote its last output, at no cost while the run goes on). Reads until
    ``idle_polls`` fetches in a row return nothing: Tansu's end offsets do not count records (measured:
    2,006 reported for 3,000 records), so they cannot say where the end is."""
    c = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100, fetch_max_bytes=64 << 20
    )
    await c.start()
    out = TopicSummary()
    keys: set[bytes | None] = set()
    try:
        await c.topics()
        parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        if not parts:
            return out
        c.assign(parts)
        await c.seek_to_beginning()
        idle, give_up = 0, time.time() + limit_s
        while idle < idle_polls and time.time() < give_up:
            batches = await c.getmany(timeout_ms=500, max_records=10_000)
            idle = 0 if batches else idle + 1
            for records in batches.values():
                for r in records:
                    out.records += 1
                    keys.add(r.key)
                    ts = r.timestamp / 1000
                    out.last = ts if out.last is None else max(out.last, ts)
        out.keys = len(keys)
        return out
    finally:
        await c.stop()


class CaseCounter:
    """Reports in the case store: a case each, or a near-duplicate linked to the case of the first
    report (``linked_reports``: it has no case of its own)."""

    def __init__(self, mongodb_url: str, db: str, metrics_urls: list[str]) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
        self.colls = [self.client[db]["cases"], self.client[db]["linked_reports"]]
        self.metrics_urls = metrics_urls
        self.counts: list[tuple[float, int]] = []  # (wall time, count_documents)

    async def _stored_by_metric(self, http: httpx.AsyncClient) -> float | None:
        total = 0.0
        for url in self.metrics_urls:
            try:
                text = (await http.get(url)).text
            except httpx.HTTPError:
                return None
            values = [metric_value(text, name) for name in (CASES_METRIC, LINKED_METRIC)]
            if None in values:
                return None
            total += sum(v for v in values if v is not None)
        return total

    async def _count(self) -> tuple[int, float]:
        t = time.time()
        n = sum([await c.count_documents({}) for c in self.colls])
        self.counts.append((time.time(), n))
        return n, time.time() - t

    async def wait_for(self, expected: int, deadline: float) -> tuple[float | None, int]:
        """(wall time the store first held ``expected`` cases or None, the last count)."""
        count, cost, last_count_at = 0, 0.0, 0.0
        reached: float | None = None  # when the services' counter first said done
        async with httpx.AsyncClient(timeout=5) as http:
            while time.time() < deadline:
                stored = await self._stored_by_metric(http) if self.metrics_urls else None
                now = time.time()
                if stored is not None and stored >= expected and reached is None:
                    reached = now
                # A count reads the whole store (on SecantusDB), so it runs only to confirm the counters
                # or without them (with 1 in 10 of the time, as before, it took ~10 % of the database).
                due = stored is None and now - last_count_at >= max(5.0, 10 * cost)
                if reached is not None or due:
                    count, cost = await self._count()
                    last_count_at = time.time()
                    if count >= expected:
                        return reached or last_count_at, count
                await asyncio.sleep(POLL_S)
        count, _ = await self._count()  # how far it got
        return None, count

    async def close(self) -> None:
        await self.client.close()
