"""Ingest plumbing shared by every channel adapter: accept a report durably, then publish it.

A webhook channel supplies only a pure parser ``parse(body, now) -> Raw<Channel>`` and its settings
(a subclass of ``IngestSettings``); ``ingest_service`` does the rest:

``POST /v1/reports``
    body at most ``max_body_bytes`` (413) -> HMAC signature of ``aduan_kit.signing`` (401) ->
    ``parse`` (422) -> the encoded record is written to the adapter's durable outbox
    (``aduan_kit.outbox``; 503 with ``Retry-After`` when it is full) -> 202. A signed request the
    outbox accepted before (same timestamp and body) is a replay: 401, checked in the transaction that
    would store it.

A relay task publishes the outbox to ``aduan.raw.<channel>`` (keyed by the channel's message id) in
acceptance order and forgets each record once the broker acknowledged it. So a 202 survives a broker
outage, a crash (kill -9) and a restart of the adapter; the adapter serves HTTP before the broker
answers. Delivery is at least once: a record whose acknowledgement was lost is sent again with the same
key and CloudEvents id, which downstream consumers deduplicate.

A channel whose messages arrive in parts (concatenated SMS) returns a ``Fragment`` from ``parse`` and
gives ``assemble``: the parts wait in the outbox until the set is complete, or ``fragment_wait_s``
passed (then what arrived is published, flagged by the channel as incomplete).

Channels with another wire protocol (Open311) use ``intake_service`` with routers of their own and call
``Intake.accept``. ``publish`` (direct, waiting for the acknowledgement) remains for pulling adapters
that checkpoint after the broker's acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr, ValidationError, field_validator

from aduan_kit import cloudevents
from aduan_kit import ingest_metrics as metrics
from aduan_kit.backoff import retry_delay
from aduan_kit.cityarea import CityBox, bbox_of_geojson, location_flag, parse_bbox
from aduan_kit.http import MAX_BODY_BYTES, BodyTooLarge, read_limited_body
from aduan_kit.kafka import MAX_RECORD_BYTES, Emit
from aduan_kit.logs import get_logger
from aduan_kit.metrics import preinit
from aduan_kit.outbox import Once, Outbox, OutboxFull, Record, Replayed
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import ServiceSettings
from aduan_kit.signing import DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from aduan_schemas.events import RawReport
from aduan_schemas.ids import report_id
from aduan_schemas.topics import CHANNELS

log = get_logger(component="ingest")

REPORTS_PATH = "/v1/reports"
RETRY_AFTER_S = 5
MAX_REASON_ERRORS = 5
MIN_SECRET_LENGTH = 16
RELAY_IDLE_S = 1.0  # the relay looks at the outbox at least this often (also expires fragment groups)
RELAY_BACKOFF_S = (0.2, 5.0)  # first and longest wait after a failed publish
REPLAYED = "replayed request: this signature was accepted before; sign a retry with a new timestamp"


@dataclass(frozen=True)
class Fragment:
    """One part of a message that arrives in several requests. ``group`` names the set (unique per
    sender and message), ``index`` is 1-based, ``body`` is the part as the channel's ``assemble`` reads
    it back; ``message_id`` is the part's own id (answered to the sender)."""

    group: str
    index: int
    total: int
    body: bytes
    message_id: str


ChannelParser = Callable[[bytes, datetime], RawReport | Fragment]
"""A channel's pure payload parser: request body and the time of receipt -> its raw event (or a part).

Raises ``PayloadError`` (or pydantic's ``ValidationError``) with a readable reason for bad input."""

Assembler = Callable[[dict[int, bytes], int, bool], RawReport]
"""Parts by number, the announced total, and whether the set is complete -> the one raw event."""


class PayloadError(ValueError):
    """The payload cannot become a raw event. The message is returned to the sender: no PII in it."""


class PublishFailed(Exception):
    """The broker did not acknowledge the record in time; the sender should retry."""


class RecordTooLarge(ValueError):
    pass


class IntakeSettings(ServiceSettings):
    """Settings of every adapter that accepts reports over HTTP. Subclasses set ``env_prefix``."""

    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1_024)
    publish_timeout_s: float = Field(default=10.0, gt=0, le=120)
    outbox_dir: Path = Field(
        default=Path(".aduan-outbox"),
        description="Directory of the durable outbox (<channel>.sqlite3); a persistent volume in production",
    )
    outbox_max_records: int = Field(default=100_000, ge=1)
    outbox_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1_024)
    outbox_ready_max_records: int = Field(
        default=10_000, ge=1, description="/readyz answers 503 while more records wait than this"
    )
    relay_batch_records: int = Field(default=500, ge=1, le=10_000)
    fragment_wait_s: float = Field(default=120.0, gt=0, le=86_400)
    city_bbox: str | None = Field(
        default=None, description="south,west,north,east: GPS points outside are flagged outside_city"
    )
    boundaries_path: Path | None = Field(
        default=None,
        description="Kelurahan boundaries GeoJSON: its extent is the box when city_bbox is unset",
    )

    @field_validator("city_bbox")
    @classmethod
    def _bbox(cls, value: str | None) -> str | None:
        if value:
            parse_bbox(value)
        return value or None

    def city_box(self) -> CityBox | None:
        if self.city_bbox:
            return parse_bbox(self.city_bbox)
        if self.boundaries_path is not None:
            return bbox_of_geojson(self.boundaries_path)
        return None


class IngestSettings(IntakeSettings):
    """Settings every signed-webhook adapter shares (``ADUAN_INGEST_<CHANNEL>_``)."""

    webhook_secret: SecretStr = Field(
        description="HMAC key of the X-Aduan-Signature header (required, no default)"
    )
    signature_tolerance_s: int = Field(default=DEFAULT_TOLERANCE_S, ge=1, le=3_600)

    @field_validator("webhook_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value


class Intake:
    """Accepts a channel's reports into its outbox and relays the outbox to the broker."""

    def __init__(
        self, name: str, channel: str, settings: IntakeSettings, assemble: Assembler | None = None
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}: add it to the topic registry first")
        self.channel = channel
        self.settings = settings
        self.source = f"/aduan/{name}"
        preinit(metrics.INGEST_REQUESTS, [(channel, o) for o in metrics.COUNTED_OUTCOMES])
        preinit(metrics.INGEST_PUBLISHED, [(channel,)])
        self.topic = settings.common.topics.raw(channel)
        self._assemble = assemble
        self._outbox: Outbox | None = None
        self.city_box = settings.city_box()

    @property
    def outbox(self) -> Outbox:
        assert self._outbox is not None, "the intake is opened by the service's lifespan"
        return self._outbox

    async def open(self) -> None:
        s = self.settings
        self._outbox = await Outbox.open(
            s.outbox_dir / f"{s.common.topic_prefix.replace('/', '_')}{self.channel}.sqlite3",
            max_records=s.outbox_max_records,
            max_bytes=s.outbox_max_bytes,
            done_retention_s=max(3_600.0, 10 * s.fragment_wait_s),
        )
        log.info("outbox opened", channel=self.channel, pending=self._outbox.count)

    async def close(self) -> None:
        if self._outbox is not None:
            await self._outbox.close()

    def encode(self, raw: RawReport) -> Record:
        if raw.location_flag is None and raw.location is not None:
            raw.location_flag = location_flag(raw.location, self.city_box)  # flagged, never dropped
        value, headers = cloudevents.encode(raw, self.source)
        if len(value) > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"report exceeds {MAX_RECORD_BYTES} bytes once encoded")
        return Record(self.topic, raw.channel_message_id, headers, value, time.time())

    async def accept(self, raw: RawReport, once: Once | None = None) -> bool:
        """Store ``raw`` durably; False if already waiting. Raises ``OutboxFull``, ``RecordTooLarge``, and
        ``Replayed`` when ``once`` (the signed request that brought it) was accepted before."""
        added = await self.outbox.append(self.encode(raw), once)
        self.count_held()
        return added

    def _assemble_record(self, parts: dict[int, bytes], total: int, complete: bool) -> Record:
        assert self._assemble is not None
        return self.encode(self._assemble(parts, total, complete))

    async def accept_fragment(self, fragment: Fragment, once: Once | None = None) -> str:
        """Store one part (see ``Outbox.add_fragment`` for the outcomes). Raises ``OutboxFull``,
        ``Replayed``."""
        if self._assemble is None:
            raise RuntimeError(f"{self.channel}: a parser returned a Fragment but no assemble was given")
        f = fragment
        outcome = await self.outbox.add_fragment(
            f.group, f.index, f.total, f.body, self._assemble_record, once
        )
        self.count_held()
        return outcome

    def count_held(self) -> None:
        """Outbox depth and size from the in-memory counts (the age needs a query: ``observe``)."""
        metrics.INGEST_OUTBOX_RECORDS.labels(self.channel).set(self.outbox.count)
        metrics.INGEST_OUTBOX_BYTES.labels(self.channel).set(self.outbox.bytes)

    async def ready(self) -> bool:
        return self.outbox.count <= self.settings.outbox_ready_max_records

    async def relay(self, rt: Runtime) -> None:
        """Publish the outbox in acceptance order, forever. A failed batch is sent again after a pause."""
        box, channel = self.outbox, self.channel
        published = metrics.INGEST_PUBLISHED.labels(channel)
        latency = metrics.INGEST_PUBLISH_SECONDS.labels(channel)
        failing = 0  # failed publish rounds in a row
        swept = 0.0
        while not rt.broker_connected.is_set():  # keep the age metric true while the broker is away
            await self.observe()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rt.broker_connected.wait(), RELAY_IDLE_S)
        while True:
            if self._assemble is not None and time.monotonic() - swept >= RELAY_IDLE_S:
                swept = time.monotonic()
                await box.expire(self.settings.fragment_wait_s, self._assemble_record)
            box.added.clear()
            batch = await box.peek(self.settings.relay_batch_records)
            if not batch:
                await self.observe()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(box.added.wait(), RELAY_IDLE_S)
                continue
            try:
                futures = [await rt.producer.send_encoded(r.topic, r.key, r.value, r.headers) for r in batch]
                await _acknowledged(futures, self.settings.publish_timeout_s)
            except (KafkaError, OSError, TimeoutError) as e:
                log.warning("publishing the outbox failed, retrying", channel=channel, pending=box.count,
                            error=repr(e))  # fmt: skip
                await self.observe()
                failing += 1
                await asyncio.sleep(retry_delay(failing, *RELAY_BACKOFF_S))
                continue
            failing = 0
            await box.remove(batch)
            now = time.time()
            for r in batch:
                latency.observe(max(now - r.accepted_at, 0.0))
            published.inc(len(batch))
            await self.observe()

    async def observe(self) -> None:
        stats = await self.outbox.stats()
        metrics.INGEST_OUTBOX_RECORDS.labels(self.channel).set(stats.records)
        metrics.INGEST_OUTBOX_BYTES.labels(self.channel).set(stats.bytes)
        age = time.time() - stats.oldest_at if stats.oldest_at is not None else 0.0
        metrics.INGEST_OUTBOX_AGE.labels(self.channel).set(max(age, 0.0))


async def _acknowledged(futures: list[asyncio.Future[Any]], timeout_s: float) -> None:
    """Wait for every acknowledgement; raise the first error, or ``TimeoutError`` if one is missing.
    Each error is retrieved, so none is reported as lost when the relay sends the batch again."""
    done, pending = await asyncio.wait(futures, timeout=timeout_s)
    errors = [f.exception() for f in done if not f.cancelled() and f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]
    if pending:
        raise TimeoutError(
            f"{len(pending)} of {len(futures)} records not acknowledged within {timeout_s:g} s"
        )


def json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON object (for JSON channels). Rejects malformed JSON, NaN/Infinity and non-objects."""

    def reject_constant(name: str) -> Any:
        raise PayloadError(f"malformed JSON: {name} is not allowed")

    try:
        value = json.loads(body, parse_constant=reject_constant)
    except PayloadError:
        raise
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PayloadError(f"malformed JSON: {e}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"expected a JSON object, got {type(value).__name__}")
    return value


def describe_error(error: ValueError) -> str:
    """A readable reason for a parse failure. Never echoes input values (they may hold PII)."""
    if isinstance(error, ValidationError):
        parts = []
        for err in error.errors(include_input=False, include_url=False)[:MAX_REASON_ERRORS]:
            where = ".".join(str(p) for p in err["loc"]) or "payload"
            parts.append(f"{where}: {err['msg']}")
        more = error.error_count() - MAX_REASON_ERRORS
        if more > 0:
            parts.append(f"and {more} more")
        return "invalid payload: " + "; ".join(parts)
    return str(error)


async def publish(runtime: Runtime, channel: str, raw: RawReport, timeout_s: float) -> None:
    """Publish ``raw`` to ``aduan.raw.<channel>`` keyed by its message id; wait for the acknowledgement.

    Raises ``PublishFailed`` if the broker did not acknowledge within ``timeout_s``. The record may
    still be delivered later (the producer keeps retrying): at-least-once, never a silent drop. Used by
    the pollers (X, the mailbox), which publish without the outbox; counted as published once
    acknowledged.
    """
    emit = Emit(runtime.common.topics.raw(channel), raw, key=raw.channel_message_id)
    try:
        await asyncio.wait_for(runtime.producer.send_and_wait(emit), timeout=timeout_s)
    except TimeoutError as e:
        raise PublishFailed(f"broker did not acknowledge within {timeout_s:g} s") from e
    except (KafkaError, OSError) as e:
        raise PublishFailed(f"broker error: {type(e).__name__}") from e
    metrics.INGEST_PUBLISHED.labels(channel).inc()  # as the outbox counts what it publishes


def rejection(channel: str, status: int, outcome: str, reason: str, **headers: str) -> JSONResponse:
    """Count, log (without the payload) and answer a refused report."""
    metrics.INGEST_REQUESTS.labels(channel, outcome).inc()
    log.warning("report rejected", channel=channel, outcome=outcome, status=status, reason=reason)
    return JSONResponse({"detail": reason}, status_code=status, headers=headers or None)


def outbox_full(channel: str, error: OutboxFull) -> JSONResponse:
    return rejection(
        channel, 503, "outbox_full", f"{error}; retry later", **{"Retry-After": str(RETRY_AFTER_S)}
    )


def accepted_body(raw: RawReport) -> dict[str, Any]:
    return {
        "status": "accepted",
        "channel": raw.channel,
        "channel_message_id": raw.channel_message_id,
        "report_id": report_id(raw),  # the id the report will carry from here on; citizens can quote it
    }


def ingest_router(channel: str, parse: ChannelParser, settings: IngestSettings, intake: Intake) -> APIRouter:
    """``POST /v1/reports`` for one channel (see the module docstring for the checks and statuses)."""
    secret = settings.webhook_secret.get_secret_value()
    router = APIRouter(tags=["ingest"])

    def reject(status: int, outcome: str, reason: str) -> JSONResponse:
        return rejection(channel, status, outcome, reason)

    @router.post(
        REPORTS_PATH,
        status_code=202,
        summary=f"Receive one {channel} report (signed webhook)",
        responses={
            401: {"description": "missing, invalid or stale signature, or a replayed request"},
            413: {"description": "body too large"},
            422: {"description": "malformed or invalid payload"},
            503: {"description": "outbox full; retry after Retry-After seconds"},
        },
    )
    async def receive(request: Request) -> JSONResponse:
        try:
            body = await read_limited_body(request, settings.max_body_bytes)
        except BodyTooLarge as e:
            return reject(413, "too_large", str(e))
        try:
            signed = verify(
                secret,
                body,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                tolerance=settings.signature_tolerance_s,
            )
        except SignatureError as e:
            return reject(401, "unauthorized", str(e))
        once = Once(signed.digest, signed.expires_at)
        try:
            parsed = parse(body, datetime.now(UTC))
        except ValueError as e:  # PayloadError, ValidationError
            return reject(422, "invalid", describe_error(e))
        try:
            if isinstance(parsed, Fragment):
                return await _accept_fragment(intake, parsed, once)
            added = await intake.accept(parsed, once)
        except RecordTooLarge as e:
            return reject(413, "too_large", str(e))
        except OutboxFull as e:
            return outbox_full(channel, e)
        except Replayed:
            return reject(401, "unauthorized", REPLAYED)
        metrics.INGEST_REQUESTS.labels(channel, "accepted" if added else "duplicate").inc()
        body_out = accepted_body(parsed)
        log.info("report accepted", channel=channel, channel_message_id=parsed.channel_message_id,
                 report_id=body_out["report_id"], pending=intake.outbox.count)  # fmt: skip
        return JSONResponse(body_out, status_code=202)

    return router


async def _accept_fragment(intake: Intake, part: Fragment, once: Once) -> JSONResponse:
    outcome = await intake.accept_fragment(part, once)
    metrics.INGEST_REQUESTS.labels(intake.channel, "part").inc()
    log.info("message part accepted", channel=intake.channel, channel_message_id=part.message_id,
             part=part.index, total=part.total, outcome=outcome)  # fmt: skip
    return JSONResponse(
        {
            "status": "accepted",
            "channel": intake.channel,
            "channel_message_id": part.message_id,
            "part": {"number": part.index, "of": part.total, "outcome": outcome},
        },
        status_code=202,
    )


async def _no_wiring(_: Runtime) -> Wiring:
    return Wiring()


def intake_service(
    name: str,
    channel: str,
    settings: IntakeSettings,
    routers: Callable[[Intake], Sequence[APIRouter]],
    *,
    assemble: Assembler | None = None,
    setup: Callable[[Runtime], Awaitable[Wiring]] = _no_wiring,
    uses_mongo: bool = False,
) -> FastAPI:
    """An adapter that accepts reports over HTTP into a durable outbox: the kit's lifespan and ops
    endpoints, the outbox and its relay, and the channel's ``routers`` (built with the ``Intake``).

    /readyz adds ``outbox`` (at most ``outbox_ready_max_records`` waiting) to the broker check.
    ``setup`` may add background tasks of the channel's own (e.g. a reader of the channel's API,
    with ``uses_mongo`` for its checkpoints).
    """
    intake = Intake(name, channel, settings, assemble)

    async def wiring(rt: Runtime) -> Wiring:
        await intake.open()
        own = await setup(rt)

        async def relay() -> None:
            await intake.relay(rt)

        async def stop() -> None:
            if own.on_stop is not None:
                await own.on_stop()
            await intake.close()

        return Wiring(
            subscriptions=own.subscriptions,
            stage=own.stage,
            tasks=[relay, *own.tasks],
            extra_checks={"outbox": intake.ready, **own.extra_checks},
            on_stop=stop,
        )

    app = build_service(
        name, settings.common, wiring, uses_mongo=uses_mongo, routers=routers(intake), wait_for_broker=False
    )
    app.state.intake = intake
    return app


def ingest_service(
    name: str,
    channel: str,
    parse: ChannelParser,
    settings: IngestSettings,
    *,
    assemble: Assembler | None = None,
    setup: Callable[[Runtime], Awaitable[Wiring]] = _no_wiring,
    uses_mongo: bool = False,
) -> FastAPI:
    """A signed-webhook adapter: ``intake_service`` with ``POST /v1/reports``."""
    return intake_service(
        name,
        channel,
        settings,
        lambda intake: [ingest_router(channel, parse, settings, intake)],
        assemble=assemble,
        setup=setup,
        uses_mongo=uses_mongo,
    )
