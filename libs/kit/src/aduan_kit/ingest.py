"""Ingest plumbing shared by every channel adapter: a signed webhook that publishes one raw event.

A channel service supplies only a pure parser ``parse(body, now) -> Raw<Channel>`` and its settings
(a subclass of ``IngestSettings``); ``ingest_service`` does the rest:

``POST /v1/reports``
    body at most ``max_body_bytes`` (413) -> HMAC signature of ``aduan_kit.signing`` (401) ->
    ``parse`` (422) -> publish to ``aduan.raw.<channel>`` keyed by the channel's message id, waiting for
    the broker's acknowledgement at most ``publish_timeout_s`` (503 with ``Retry-After``) -> 202.

Nothing is published unless every check passed, and a 202 means the broker acknowledged the record, so a
sender that retries until it gets 202 never loses a report. A retry after a 503 may publish the record a
second time: raw events are keyed by the channel's message id and downstream consumers deduplicate.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr, ValidationError, field_validator

from aduan_kit import metrics
from aduan_kit.http import MAX_BODY_BYTES, BodyTooLarge, read_limited_body
from aduan_kit.kafka import MAX_RECORD_BYTES, Emit
from aduan_kit.logs import get_logger
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

ChannelParser = Callable[[bytes, datetime], RawReport]
"""A channel's pure payload parser: request body and the time of receipt -> its raw event.

Raises ``PayloadError`` (or pydantic's ``ValidationError``) with a readable reason for bad input."""


class PayloadError(ValueError):
    """The payload cannot become a raw event. The message is returned to the sender: no PII in it."""


class PublishFailed(Exception):
    """The broker did not acknowledge the record in time; the sender should retry."""


class IngestSettings(ServiceSettings):
    """Settings every ingest service shares. Subclasses set ``env_prefix`` (``ADUAN_INGEST_<CHANNEL>_``)."""

    webhook_secret: SecretStr = Field(
        description="HMAC key of the X-Aduan-Signature header (required, no default)"
    )
    signature_tolerance_s: int = Field(default=DEFAULT_TOLERANCE_S, ge=1, le=3_600)
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1_024)
    publish_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("webhook_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value


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
    still be delivered later (the producer keeps retrying): at-least-once, never a silent drop.
    """
    emit = Emit(runtime.common.topics.raw(channel), raw, key=raw.channel_message_id)
    try:
        await asyncio.wait_for(runtime.producer.send_and_wait(emit), timeout=timeout_s)
    except TimeoutError as e:
        raise PublishFailed(f"broker did not acknowledge within {timeout_s:g} s") from e
    except (KafkaError, OSError) as e:
        raise PublishFailed(f"broker error: {type(e).__name__}") from e


def ingest_router(channel: str, parse: ChannelParser, settings: IngestSettings) -> APIRouter:
    """``POST /v1/reports`` for one channel (see the module docstring for the checks and statuses)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: add it to the topic registry first")
    secret = settings.webhook_secret.get_secret_value()
    router = APIRouter(tags=["ingest"])

    def reject(status: int, outcome: str, reason: str) -> JSONResponse:
        metrics.INGEST_REQUESTS.labels(channel, outcome).inc()
        log.warning("report rejected", channel=channel, outcome=outcome, status=status, reason=reason)
        return JSONResponse({"detail": reason}, status_code=status)

    @router.post(
        REPORTS_PATH,
        status_code=202,
        summary=f"Receive one {channel} report (signed webhook)",
        responses={
            401: {"description": "missing, invalid or stale signature"},
            413: {"description": "body too large"},
            422: {"description": "malformed or invalid payload"},
            503: {"description": "broker unavailable; retry after Retry-After seconds"},
        },
    )
    async def receive(request: Request) -> JSONResponse:
        try:
            body = await read_limited_body(request, settings.max_body_bytes)
        except BodyTooLarge as e:
            return reject(413, "too_large", str(e))
        try:
            verify(
                secret,
                body,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                tolerance=settings.signature_tolerance_s,
            )
        except SignatureError as e:
            return reject(401, "unauthorized", str(e))
        try:
            raw = parse(body, datetime.now(UTC))
            size = len(raw.model_dump_json())
        except ValueError as e:  # PayloadError, ValidationError
            return reject(422, "invalid", describe_error(e))
        if size > MAX_RECORD_BYTES:
            return reject(413, "too_large", f"report exceeds {MAX_RECORD_BYTES} bytes once encoded")
        try:
            await publish(request.app.state.runtime, channel, raw, settings.publish_timeout_s)
        except PublishFailed as e:
            metrics.INGEST_REQUESTS.labels(channel, "unavailable").inc()
            log.error(
                "report not published",
                channel=channel,
                reason=str(e),
                channel_message_id=raw.channel_message_id,
            )
            return JSONResponse(
                {"detail": f"{e}; retry later"}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)}
            )
        metrics.INGEST_REQUESTS.labels(channel, "accepted").inc()
        rid = report_id(raw)
        log.info("report accepted", channel=channel, channel_message_id=raw.channel_message_id, report_id=rid)
        return JSONResponse(
            {
                "status": "accepted",
                "channel": channel,
                "channel_message_id": raw.channel_message_id,
                "report_id": rid,  # the id the report will carry from here on; citizens can quote it
            },
            status_code=202,
        )

    return router


async def _no_wiring(_: Runtime) -> Wiring:
    return Wiring()


def ingest_service(
    name: str,
    channel: str,
    parse: ChannelParser,
    settings: IngestSettings,
    *,
    setup: Callable[[Runtime], Awaitable[Wiring]] = _no_wiring,
) -> FastAPI:
    """A complete ingest service: the kit's lifespan and ops endpoints plus ``POST /v1/reports``.

    ``setup`` may add background tasks (e.g. polling the channel's API, publishing with ``publish``).
    """
    return build_service(name, settings.common, setup, routers=[ingest_router(channel, parse, settings)])
