"""Kafka edges: a CloudEvents producer, topic creation, and the consume -> handle -> produce -> commit loop.

Delivery is at-least-once. A partition's offset is committed only after every record before it was
handled and its outputs (or its dead letter) acknowledged by the broker. Bad input is dead-lettered with
the reason and committed, so it never blocks a partition; transient failures (broker, database, network)
are retried with back-off without committing, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import BaseModel, TypeAdapter, ValidationError
from pymongo.errors import ConnectionFailure

from aduan_kit import cloudevents, metrics
from aduan_kit.logs import get_logger
from aduan_kit.settings import CommonSettings
from aduan_schemas.events import DeadLetter, Event

log = get_logger(component="kafka")

MAX_RECORD_BYTES = 1_000_000
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
AfterDelivery = Callable[[list[Any]], Awaitable[None]]


def parser_for(model: type[BaseModel] | TypeAdapter[Any]) -> Parser:
    if isinstance(model, TypeAdapter):
        return model.validate_json
    return model.model_validate_json


@dataclass(frozen=True)
class Subscription:
    """A topic, how to parse its values, and what to do with each event.

    ``after_delivery`` runs once per batch with the events whose outputs the broker acknowledged,
    before the offsets are committed (e.g. to record them as processed, in one database write).
    """

    topic: str
    parse: Parser
    handle: Handler
    after_delivery: AfterDelivery | None = None


def producer_for(common: CommonSettings, **overrides: Any) -> AIOKafkaProducer:
    opts: dict[str, Any] = {
        "bootstrap_servers": common.kafka_bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "enable_idempotence": False,  # not in Tansu; consumers are idempotent instead
        "request_timeout_ms": 15_000,
        "max_request_size": 2 * MAX_RECORD_BYTES,
    }
    opts.update(overrides)
    return AIOKafkaProducer(**opts)


class EventProducer:
    """Sends events with CloudEvents headers, keyed by report id."""

    def __init__(self, common: CommonSettings, source: str) -> None:
        self._common = common
        self._producer = producer_for(common)
        self.source = source

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
        value, headers = cloudevents.encode(emit.event, self.source)
        key = emit.key if emit.key is not None else emit.event.subject()
        fut = await self._producer.send(
            emit.topic,
            value=value,
            key=key.encode() if isinstance(key, str) else key,
            headers=headers + list(emit.headers),
        )
        metrics.EVENTS_PRODUCED.labels(emit.topic).inc()
        return fut

    async def send_and_wait(self, emit: Emit) -> None:
        await (await self.send(emit))

    async def reachable(self) -> bool:
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3)
        except Exception:
            return False
        return True


async def ensure_topics(bootstrap: str, topics: Sequence[tuple[str, int]]) -> list[str]:
    """Create missing topics; return the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, p, 1) for n, p in topics if n not in existing]
        created = []
        for i in range(0, len(missing), 100):
            chunk = missing[i : i + 100]
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won the race
                await admin.create_topics(chunk)
            created += [t.name for t in chunk]
        return created
    finally:
        await admin.close()


def _dead_letter(rec: ConsumerRecord, stage: str, error: BaseException) -> DeadLetter:
    raw: bytes = rec.value or b""
    try:
        payload, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(raw).decode(), "base64"
    return DeadLetter(
        original_topic=rec.topic,
        partition=rec.partition,
        offset=rec.offset,
        key=rec.key.decode(errors="replace") if rec.key else None,
        stage=stage,
        error=f"{type(error).__name__}: {error}"[:2000],
        payload=payload,
        payload_encoding=encoding,
        failed_at=datetime.now(UTC),
    )


@dataclass
class StreamWorker:
    """Consumes ``subscriptions`` in one consumer group and drives each record through its handler."""

    common: CommonSettings
    group_id: str
    stage: str
    subscriptions: Sequence[Subscription]
    producer: EventProducer
    max_attempts: int = 3
    retry_backoff_s: float = 0.5
    max_records: int = 500
    ready: bool = field(default=False, init=False)
    _stopping: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._by_topic = {s.topic: s for s in self.subscriptions}

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
            max_poll_interval_ms=300_000,
            max_partition_fetch_bytes=2 * MAX_RECORD_BYTES,
        )

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        while not self._stopping:
            consumer = self._consumer()
            try:
                await consumer.start()
                self.ready = True
                log.info("consumer started", group=self.group_id, topics=list(self._by_topic))
                await self._loop(consumer)
            except TRANSIENT_ERRORS as e:
                log.warning("consumer failed, restarting", group=self.group_id, error=repr(e))
                await asyncio.sleep(1)
            finally:
                self.ready = False
                await consumer.stop()

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping:
            batches = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
            for tp, records in batches.items():
                await self._process_batch(tp, records)
                await consumer.commit({tp: records[-1].offset + 1})
                self._observe_lag(consumer, tp, records[-1].offset)

    def _observe_lag(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        end = consumer.highwater(tp)
        if end is not None:
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(end - offset - 1, 0))

    async def _process_batch(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        sub = self._by_topic[tp.topic]
        pending: list[asyncio.Future[Any]] = []
        handled: list[Any] = []
        for rec in records:
            metrics.EVENTS_CONSUMED.labels(rec.topic).inc()
            with metrics.HANDLE_SECONDS.labels(self.stage).time():
                event = await self._handle(sub, rec, pending)
            if event is not None:
                handled.append(event)
        while True:  # outputs must be acknowledged before the batch counts as done
            try:
                await asyncio.gather(*pending)
                if sub.after_delivery is not None and handled:
                    await sub.after_delivery(handled)
                return
            except TRANSIENT_ERRORS as e:
                await self._backoff("delivery", e)
                pending = []
                for rec in records:  # re-drive the whole batch; consumers downstream are idempotent
                    await self._handle(sub, rec, pending)

    async def _handle(self, sub: Subscription, rec: ConsumerRecord, pending: list[Any]) -> Any:
        """Handle one record, queueing its outputs in ``pending``; the event, or None if dead-lettered."""
        received = Received(
            rec.topic,
            rec.partition,
            rec.offset,
            rec.key.decode(errors="replace") if rec.key else None,
            tuple(rec.headers or ()),
        )
        try:
            if not rec.value:
                raise PermanentError("empty record value")
            if len(rec.value) > MAX_RECORD_BYTES:
                raise PermanentError(f"record of {len(rec.value)} bytes exceeds {MAX_RECORD_BYTES}")
            event = sub.parse(rec.value)
        except (PermanentError, ValidationError, ValueError) as e:
            pending.append(await self._send_dead_letter(rec, "parse", e))
            return None
        attempts = 0
        while True:
            try:
                emits = await sub.handle(event, received)
                for emit in emits:
                    pending.append(await self.producer.send(emit))
                return event
            except PermanentError as e:
                pending.append(await self._send_dead_letter(rec, self.stage, e))
                return None
            except RETRYABLE as e:
                await self._backoff(f"{rec.topic}:{rec.partition}:{rec.offset}", e)
            except Exception as e:  # a bug or an unforeseen input: retry a little, then dead-letter
                attempts += 1
                log.exception("handler failed", offset=rec.offset, topic=rec.topic, attempt=attempts)
                if attempts >= self.max_attempts:
                    pending.append(await self._send_dead_letter(rec, self.stage, e))
                    return None
                await asyncio.sleep(self.retry_backoff_s)

    async def _backoff(self, where: str, error: BaseException) -> None:
        metrics.HANDLER_RETRIES.labels(self.stage).inc()
        log.warning("transient failure, retrying", where=where, error=repr(error))
        await asyncio.sleep(self.retry_backoff_s)

    async def _send_dead_letter(self, rec: ConsumerRecord, stage: str, error: BaseException) -> Any:
        letter = _dead_letter(rec, stage, error)
        metrics.EVENTS_DEAD_LETTERED.labels(stage, type(error).__name__).inc()
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
        return await self.producer.send(Emit(self.common.topics.dlq, letter, key=rec.key, headers=headers))
