"""Kafka edges: a CloudEvents producer, topic creation, and the consume -> handle -> produce -> commit loop.

The loop works on batches. One fetch (``getmany``: up to ``max_records``, returning as soon as the broker
has anything, so a batch closes when the fetch returns, not when it is full) is grouped by subscription;
each record is parsed on its own (a parse failure dead-letters that record alone); each subscription's
records go to its batch handler in one call (a per-record ``handle`` is adapted: called record by record,
its outputs collected); every output and dead letter of the fetch is queued on the producer without
waiting, then all deliveries are awaited together; ``after_delivery`` runs once per subscription; then
the fetch's offsets are committed in one request (per partition, the offset after its last record).

Delivery is at-least-once. Nothing is committed before every record of the fetch was handled and its
outputs (or its dead letter) acknowledged by the broker. A record that can never be handled
(``PermanentError``, or any other error ``max_attempts`` times) is dead-lettered alone and committed, so
it never blocks a partition. A transient failure (broker, database, network: ``RETRYABLE``) retries with
back-off without committing: raised by a batch handler it retries the whole batch; failed deliveries
re-drive the whole fetch (handlers are idempotent). A crash anywhere before the commit re-delivers the
whole fetch to the next consumer of the partitions.

Every record of a fetch ends in one of two states before the commit: handled (its outputs, possibly
none) or dead-lettered. A record in neither goes round again, whatever the reason (the round is not
told which records to retry: it retries every one without a state), so none is committed unhandled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from pydantic import BaseModel, TypeAdapter, ValidationError
from pymongo.errors import ConnectionFailure

from aduan_kit import cloudevents, metrics
from aduan_kit.backoff import retry_delay
from aduan_kit.logs import get_logger
from aduan_kit.redact import error_text
from aduan_kit.settings import CommonSettings
from aduan_schemas.events import DeadLetter, Event
from aduan_text.pii import mask_contacts

log = get_logger(component="kafka")

MAX_RECORD_BYTES = 1_000_000
# What one fetch may bring per partition. The consumer keeps each partition's fetched bytes until its
# last record is taken, one such buffer per assigned partition (a notifier holds 60): at 2 MB each, a
# worker behind on every partition held tens of MB of prefetched records. A record larger than this is
# still fetched (the broker returns the first record batch whatever its size: fetch v3 and later).
PARTITION_FETCH_BYTES = 256 * 1024
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    KafkaError,
    ConnectionFailure,
    httpx.TransportError,
    OSError,
    asyncio.TimeoutError,
)


class PermanentError(Exception):
    """The record can never be handled (bad input, unknown reference): dead-letter it."""


class TransientError(Exception):
    """A dependency failed; retry the record later without committing."""


RETRYABLE: tuple[type[BaseException], ...] = (TransientError, *TRANSIENT_ERRORS)


@dataclass(frozen=True)
class Emit:
    """One output record. ``key`` defaults to the event's subject (the report id); ``headers`` are added
    after the CloudEvents ones."""

    topic: str
    event: Event
    key: str | bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: tuple[tuple[str, bytes], ...]


Parser = Callable[[bytes], Any]
Handler = Callable[[Any, Received], Awaitable[Sequence[Emit]]]
# Per record of the batch, in order: its outputs, or the error that record alone failed with.
BatchResult = list[Sequence[Emit] | BaseException]
BatchHandler = Callable[[list[tuple[Any, Received]]], Awaitable[BatchResult]]
AfterDelivery = Callable[[list[Any]], Awaitable[None]]


def parser_for(model: type[BaseModel] | TypeAdapter[Any]) -> Parser:
    if isinstance(model, TypeAdapter):
        return model.validate_json
    return model.model_validate_json


@dataclass(frozen=True)
class Subscription:
    """A topic, how to parse its values, and what to do with its events: ``handle`` one at a time, or
    ``handle_batch`` for a whole batch at once (exactly one of the two).

    ``handle_batch`` gets ``[(event, received), ...]`` in offset order (several partitions of the topic may
    be mixed; a report's events keep their order) and returns one entry per record: its outputs, or an
    exception for that record alone (``PermanentError``: dead-lettered; a ``RETRYABLE`` one: retried; any
    other: retried up to ``max_attempts``, then dead-lettered). Raising a ``RETRYABLE`` error retries the
    whole batch; raising anything else retries it, then handles its records one by one to find the bad one.

    ``after_delivery`` runs once per batch with the events whose outputs the broker acknowledged,
    before the offsets are committed (e.g. to record them as processed, in one database write).
    """

    topic: str
    parse: Parser
    handle: Handler | None = None
    after_delivery: AfterDelivery | None = None
    handle_batch: BatchHandler | None = None

    def __post_init__(self) -> None:
        if (self.handle is None) == (self.handle_batch is None):
            raise ValueError(f"subscription to {self.topic}: give exactly one of handle and handle_batch")


class KeyHashPartitioner:
    """The default partitioner's choice (murmur2 of the key, as every Kafka client), hashing a key once
    for consecutive records: the router sends each routed report to two topics under one key, and
    aiokafka's murmur2 is pure Python (measured: 5 % of the router's CPU)."""

    def __init__(self) -> None:
        self._key: bytes | None = None
        self._hash = 0

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)
        if key != self._key:
            self._key, self._hash = key, murmur2(key) & 0x7FFFFFFF
        return all_partitions[self._hash % len(all_partitions)]


def producer_for(common: CommonSettings, **overrides: Any) -> AIOKafkaProducer:
    opts: dict[str, Any] = {
        "bootstrap_servers": common.kafka_bootstrap,
        "acks": "all",
        # A batch of outputs is queued at once, so linger adds little; 256 KiB batches: 3x the default's
        # throughput on the embedded broker. No compression: lz4 saved Tansu 0.003 ms per 850-byte record
        # and cost the producer 0.013 ms, at the same rates (measured on loopback).
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "enable_idempotence": False,  # not in Tansu; consumers are idempotent instead
        "request_timeout_ms": 15_000,
        "max_request_size": 2 * MAX_RECORD_BYTES,
        "partitioner": KeyHashPartitioner(),
    }
    opts.update(overrides)
    return AIOKafkaProducer(**opts)


class EventProducer:
    """Sends events with CloudEvents headers, keyed by report id."""

    def __init__(self, common: CommonSettings, source: str) -> None:
        self._common = common
        self._producer = producer_for(common)
        self.source = source
        self._produced: dict[str, Any] = {}  # topic -> its labelled counter (labels() costs per call)

    async def start(self) -> None:
        try:
            await self._producer.start()
        except Exception:
            await self._producer.stop()
            self._producer = producer_for(self._common)  # a failed producer cannot be started again
            raise

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, emit: Emit) -> asyncio.Future[Any]:
        """Queue a record; the returned future resolves when the broker acknowledged it."""
        return await self._send(emit, cloudevents.encode(emit.event, self.source))

    async def send_all(self, emits: Sequence[Emit]) -> list[asyncio.Future[Any]]:
        """Queue records in order. An event sent to several topics (the router's routed report goes to
        two) is serialised once: its records carry the same bytes and CloudEvents headers."""
        encoded: dict[int, tuple[bytes, cloudevents.Headers]] = {}
        futures = []
        for emit in emits:
            enc = encoded.get(id(emit.event))  # the emits hold their events, so ids stay unique here
            if enc is None:
                enc = encoded[id(emit.event)] = cloudevents.encode(emit.event, self.source)
            futures.append(await self._send(emit, enc))
        return futures

    async def _send(self, emit: Emit, encoded: tuple[bytes, cloudevents.Headers]) -> asyncio.Future[Any]:
        value, headers = encoded
        key = emit.key if emit.key is not None else emit.event.subject()
        fut = await self._producer.send(
            emit.topic,
            value=value,
            key=key.encode() if isinstance(key, str) else key,
            headers=headers + list(emit.headers),
        )
        counter = self._produced.get(emit.topic)
        if counter is None:
            counter = self._produced[emit.topic] = metrics.EVENTS_PRODUCED.labels(emit.topic)
        counter.inc()
        return fut

    async def send_encoded(
        self, topic: str, key: str, value: bytes, headers: cloudevents.Headers
    ) -> asyncio.Future[Any]:
        """Queue a record encoded earlier (an ingest adapter's outbox keeps records as they were
        accepted, so every retry carries the same bytes and CloudEvents id)."""
        fut = await self._producer.send(topic, value=value, key=key.encode(), headers=list(headers))
        metrics.EVENTS_PRODUCED.labels(topic).inc()
        return fut

    async def send_and_wait(self, emit: Emit) -> None:
        await (await self.send(emit))

    async def reachable(self) -> bool:
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3)
        except Exception:
            return False
        return True


def new_topics(
    topics: Sequence[tuple[str, int]], replication_factor: int = 1, min_insync_replicas: int | None = None
) -> list[NewTopic]:
    """The creation requests of ``(name, partitions)`` pairs, each with the same replication settings."""
    configs = {"min.insync.replicas": str(min_insync_replicas)} if min_insync_replicas else {}
    return [NewTopic(n, p, replication_factor, topic_configs=dict(configs)) for n, p in topics]


async def ensure_topics(
    bootstrap: str,
    topics: Sequence[tuple[str, int]],
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [(n, p) for n, p in topics if n not in existing]
        missing = new_topics(wanted, replication_factor, min_insync_replicas)
        created = []
        for i in range(0, len(missing), 100):
            chunk = missing[i : i + 100]
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won the race
                await admin.create_topics(chunk)
            created += [t.name for t in chunk]
        return created
    finally:
        await admin.close()


def _dead_letter(
    rec: ConsumerRecord, stage: str, error: BaseException, raw_topics: frozenset[str]
) -> DeadLetter:
    """The dead letter of ``rec``. A record of a raw topic holds the reporter's contact: its letter keeps
    only the pointer (topic, partition, offset, key) and ``payload`` is None; the record is read back
    from the raw topic. Any other record's value is kept as UTF-8 text (invalid bytes replaced) with
    contacts typed into it masked. The error never quotes an input (``aduan_kit.redact``)."""
    payload = None
    if rec.topic not in raw_topics:
        payload = mask_contacts((rec.value or b"").decode("utf-8", errors="replace"))
    key = mask_contacts(rec.key.decode(errors="replace")) if rec.key else None
    return DeadLetter(
        original_topic=rec.topic,
        partition=rec.partition,
        offset=rec.offset,
        key=key,
        stage=stage,
        error=error_text(error)[:2000],
        payload=payload,
        payload_encoding="utf-8",
        failed_at=datetime.now(UTC),
    )


@dataclass
class _Item:
    """One record of a fetch on its way through: parsed event, or why it is dead-lettered."""

    rec: ConsumerRecord[Any, Any]
    received: Received
    event: Any = None
    outputs: Sequence[Emit] | None = None  # set once handled (possibly to none); None: not handled yet
    failure: tuple[str, BaseException] | None = None  # (stage, error): dead-letter it

    @property
    def settled(self) -> bool:
        return self.outputs is not None or self.failure is not None


@dataclass
class StreamWorker:
    """Consumes ``subscriptions`` in one consumer group and drives each fetched batch through them."""

    common: CommonSettings
    group_id: str
    stage: str
    subscriptions: Sequence[Subscription]
    producer: EventProducer
    max_attempts: int = 3
    retry_backoff_s: float = 0.5  # the first retry's delay; each failing round doubles it, up to:
    retry_max_s: float = 30.0
    max_records: int | None = None  # None: the setting ``kafka_batch_max_records``
    lag_interval_s: float = 5.0  # how often ``aduan_consumer_lag`` is refreshed
    ready: bool = field(default=False, init=False)
    consumed: int = field(default=0, init=False)  # records fetched by this worker (tests, diagnostics)
    _stopping: bool = field(default=False, init=False)
    _consumer_now: AIOKafkaConsumer | None = field(default=None, init=False)
    _failing_rounds: int = field(default=0, init=False)  # retry rounds since the last committed batch

    def __post_init__(self) -> None:
        self._by_topic = {s.topic: s for s in self.subscriptions}
        metrics.preinit(metrics.EVENTS_CONSUMED, [(t,) for t in self._by_topic])
        metrics.preinit(metrics.HANDLER_RETRIES, [(self.stage,)])
        reasons = metrics.DEAD_LETTER_REASONS
        metrics.preinit(
            metrics.EVENTS_DEAD_LETTERED, [(self.stage, t, r) for t in self._by_topic for r in reasons]
        )
        self._raw_topics = frozenset(self.common.topics.raw_all)
        if self.max_records is None:
            self.max_records = self.common.kafka_batch_max_records

    def _consumer(self) -> AIOKafkaConsumer:
        c = self.common
        return AIOKafkaConsumer(
            *self._by_topic,
            bootstrap_servers=c.kafka_bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=c.kafka_fetch_max_wait_ms,
            session_timeout_ms=c.kafka_session_timeout_ms,
            heartbeat_interval_ms=c.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=c.kafka_max_poll_interval_ms,
            max_partition_fetch_bytes=PARTITION_FETCH_BYTES,
            # One fetch response at most 4 MB instead of aiokafka's 50 MB: a worker that falls behind
            # otherwise holds ever larger prefetched responses (a batch is at most 1,000 records anyway).
            fetch_max_bytes=4 * MAX_RECORD_BYTES,
        )

    def stop(self) -> None:
        self._stopping = True

    def assignment(self) -> set[TopicPartition]:
        """The partitions this worker holds in its group now (empty before it joined)."""
        return set(self._consumer_now.assignment()) if self._consumer_now is not None else set()

    async def run(self) -> None:
        restarts, consumed_before = 0, self.consumed  # restarts in a row, with nothing consumed between
        while not self._stopping:
            consumer = self._consumer_now = self._consumer()
            lag = None
            try:
                await consumer.start()
                self.ready = True
                log.info("consumer started", group=self.group_id, topics=list(self._by_topic))
                lag = asyncio.create_task(self._lag_loop(consumer))
                await self._loop(consumer)
            except TRANSIENT_ERRORS as e:
                restarts = 1 if self.consumed > consumed_before else restarts + 1
                consumed_before = self.consumed
                delay = retry_delay(restarts, 1.0, self.retry_max_s)
                log.warning("consumer failed, restarting", group=self.group_id, error=repr(e),
                            retry_in_s=round(delay, 2))  # fmt: skip
                await asyncio.sleep(delay)
            finally:
                self.ready = False
                if lag is not None:
                    lag.cancel()
                    await asyncio.gather(lag, return_exceptions=True)
                await consumer.stop()

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping:
            # Returns as soon as any partition has records: at low load a batch is one record.
            fetched = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
            if not fetched:
                continue
            with metrics.HANDLE_SECONDS.labels(self.stage).time():
                await self._process_fetch(fetched)
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})
            self._failing_rounds = 0

    async def _lag_loop(self, consumer: AIOKafkaConsumer) -> None:
        """Every ``lag_interval_s``: end offset minus committed offset of each assigned partition. Its own
        task, so the lag keeps growing while the handler is stuck (nothing fetched, nothing committed)."""
        while True:
            with contextlib.suppress(*TRANSIENT_ERRORS):
                partitions = list(consumer.assignment())
                ends = await consumer.end_offsets(partitions) if partitions else {}
                for tp, end in ends.items():
                    committed = await consumer.committed(tp)
                    if committed is None:  # nothing committed yet: everything from the start is behind
                        committed = (await consumer.beginning_offsets([tp]))[tp]
                    metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(end - committed, 0))
            await asyncio.sleep(self.lag_interval_s)

    async def _process_fetch(self, fetched: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        """Handle every record of one fetch and get every output acknowledged; returns when the fetch may
        be committed."""
        groups: dict[str, list[_Item]] = {}
        now_ms = time.time() * 1000
        waited = metrics.QUEUE_WAIT_SECONDS.labels(self.stage)
        for tp, records in fetched.items():
            self.consumed += len(records)
            metrics.EVENTS_CONSUMED.labels(tp.topic).inc(len(records))
            metrics.BATCH_RECORDS.labels(self.stage).observe(len(records))
            for r in records:
                waited.observe(max(now_ms - r.timestamp, 0.0) / 1000)
            groups.setdefault(tp.topic, []).extend(self._parse(tp.topic, r) for r in records)
        while True:
            for topic, items in groups.items():
                await self._handle(self._by_topic[topic], items)
            pending: list[asyncio.Future[Any]] = []
            try:
                for items in groups.values():
                    for item in items:
                        pending += await self._send(item)
                await asyncio.gather(*pending)  # every output acknowledged before the batch counts
                for topic, items in groups.items():
                    sub = self._by_topic[topic]
                    delivered = [i.event for i in items if i.failure is None]
                    if sub.after_delivery is not None and delivered:
                        await sub.after_delivery(delivered)
                return
            except RETRYABLE as e:
                await self._backoff("delivery", e)
                for items in groups.values():  # re-drive the whole fetch; handlers are idempotent
                    for item in items:
                        if item.failure is None or item.failure[0] != "parse":
                            item.failure, item.outputs = None, None

    def _parse(self, topic: str, rec: ConsumerRecord[Any, Any]) -> _Item:
        received = Received(
            rec.topic,
            rec.partition,
            rec.offset,
            rec.key.decode(errors="replace") if rec.key else None,
            tuple(rec.headers or ()),
        )
        item = _Item(rec, received)
        try:
            if not rec.value:
                raise PermanentError("empty record value")
            if len(rec.value) > MAX_RECORD_BYTES:
                raise PermanentError(f"record of {len(rec.value)} bytes exceeds {MAX_RECORD_BYTES}")
            item.event = self._by_topic[topic].parse(rec.value)
        except (PermanentError, ValidationError, ValueError, RecursionError) as e:  # deep nesting: recursion
            item.failure = ("parse", e)
        return item

    async def _handle(self, sub: Subscription, items: list[_Item]) -> None:
        """Fill each parsed item's outputs or failure, retrying what may succeed later: returns when
        every item is settled (handled or to be dead-lettered)."""
        todo = [i for i in items if i.failure is None]
        attempts: dict[int, int] = {}
        batch_attempts = 0
        while todo:
            try:
                results = await self._call(sub, todo)
            except RETRYABLE as e:  # the whole batch, without counting: transient failures never give up
                await self._backoff(f"{sub.topic}: batch of {len(todo)}", e)
                continue
            except Exception as e:  # a bug or an unforeseen input somewhere in the batch
                batch_attempts += 1
                log.exception("batch handler failed", topic=sub.topic, size=len(todo), attempt=batch_attempts)
                if batch_attempts < self.max_attempts:
                    await asyncio.sleep(self._next_delay())
                    continue
                if len(todo) == 1:
                    todo[0].failure = (self.stage, e)
                    return
                for item in todo:  # find the bad record: each one on its own
                    await self._handle(sub, [item])
                return
            transient: BaseException | None = None
            failed: list[tuple[_Item, BaseException]] = []
            for item, result in zip(todo, results, strict=True):
                if not isinstance(result, BaseException):
                    item.outputs = result
                elif isinstance(result, PermanentError):
                    item.failure = (self.stage, result)
                elif isinstance(result, RETRYABLE):
                    transient = result
                else:
                    failed.append((item, result))
                    n = attempts[id(item)] = attempts.get(id(item), 0) + 1
                    if n >= self.max_attempts:
                        item.failure = (self.stage, result)
            retry = [i for i in todo if not i.settled]  # what is neither handled nor given up goes round
            if failed:  # one line per round, however many records failed in it
                log.warning(
                    "handler failed",
                    topic=sub.topic,
                    records=len(failed),
                    offsets=[i.rec.offset for i, _ in failed[:10]],
                    attempt=max(attempts[id(i)] for i, _ in failed),
                    error=error_text(failed[0][1]),
                )
            if transient is not None:
                await self._backoff(f"{sub.topic}: {len(retry)} records", transient)
            elif retry:
                await asyncio.sleep(self._next_delay())
            todo = retry

    async def _call(self, sub: Subscription, items: list[_Item]) -> BatchResult:
        batch = [(i.event, i.received) for i in items]
        if sub.handle_batch is not None:
            results = await sub.handle_batch(batch)
            if len(results) != len(batch):
                raise RuntimeError(f"batch handler gave {len(results)} results for {len(batch)} records")
            return results
        assert sub.handle is not None
        out: BatchResult = []
        for event, received in batch:  # one at a time, in order; a record's error stays its own
            try:
                out.append(await sub.handle(event, received))
            except RETRYABLE:
                raise  # retried as a batch, so the records after it stay behind it
            except Exception as e:
                out.append(e)
        return out

    async def _send(self, item: _Item) -> list[asyncio.Future[Any]]:
        """Queue the item's outputs, or its dead letter; the futures resolve on acknowledgement."""
        if item.failure is not None:
            return [await self._send_dead_letter(item.rec, *item.failure)]
        if item.outputs is None:  # ``_handle`` settles every item: a record must never pass unhandled
            raise RuntimeError(f"{item.rec.topic}[{item.rec.partition}]@{item.rec.offset} was not handled")
        return await self.producer.send_all(item.outputs)

    def _next_delay(self) -> float:
        self._failing_rounds += 1
        return retry_delay(self._failing_rounds, self.retry_backoff_s, self.retry_max_s)

    async def _backoff(self, where: str, error: BaseException) -> None:
        """One retry round: one log line, then a wait that grows with each round since the last
        committed batch (capped, jittered)."""
        metrics.HANDLER_RETRIES.labels(self.stage).inc()
        delay = self._next_delay()
        log.warning(
            "transient failure, retrying",
            where=where,
            error=error_text(error),
            round=self._failing_rounds,
            retry_in_s=round(delay, 2),
        )
        await asyncio.sleep(delay)

    async def _send_dead_letter(
        self, rec: ConsumerRecord[Any, Any], stage: str, error: BaseException
    ) -> asyncio.Future[Any]:
        letter = _dead_letter(rec, stage, error, self._raw_topics)
        reason = (
            "invalid" if stage == "parse" else "rejected" if isinstance(error, PermanentError) else "failed"
        )
        metrics.EVENTS_DEAD_LETTERED.labels(self.stage, rec.topic, reason).inc()
        log.warning(
            "dead-lettered",
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            stage=stage,
            error=letter.error,
        )
        headers = (
            ("aduan_dlq_topic", rec.topic.encode()),
            ("aduan_dlq_partition", str(rec.partition).encode()),
            ("aduan_dlq_offset", str(rec.offset).encode()),
            ("aduan_dlq_stage", stage.encode()),
            ("aduan_dlq_error", letter.error.encode()[:1000]),
        )
        return await self.producer.send(Emit(self.common.topics.dlq, letter, key=letter.key, headers=headers))
