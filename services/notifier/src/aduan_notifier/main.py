"""Wiring: consume aduan.reports.routed and aduan.sla.events, POST signed webhooks to SKPD systems,
record every outcome on aduan.notifications.

Per batch: one sent-log lookup, webhooks POSTed concurrently (bounded; a report's events in order), one
sent-log insert for what was delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from aduan_kit import cloudevents, metrics
from aduan_kit.kafka import BatchResult, Emit, PermanentError, Received, Subscription, parser_for
from aduan_kit.logs import get_logger
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import load_settings
from aduan_kit.signing import sign
from aduan_notifier.config import NotifierSettings
from aduan_notifier.delivery import Outcome, cloudevent_headers, notification, sent_key
from aduan_notifier.sender import WebhookSender
from aduan_notifier.store import SentLog, sent_entry
from aduan_notifier.targets import held_for_triage, recipient, webhook_url
from aduan_schemas.events import Event, RoutedReport, SlaEvent

NAME = "notifier"
log = get_logger(component=NAME)


def build(settings: NotifierSettings) -> FastAPI:
    city = settings.common.load_city()
    topics = settings.common.topics
    secret = settings.signing_secret.get_secret_value()

    async def setup(rt: Runtime) -> Wiring:
        sent = SentLog(rt.db)
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.request_timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
            ),
            headers={"user-agent": "aduan-notifier"},
        )
        sender = WebhookSender(
            client,
            max_attempts=settings.max_attempts,
            backoff_initial_s=settings.backoff_initial_s,
            backoff_max_s=settings.backoff_max_s,
            request_timeout_s=settings.request_timeout_s,
        )

        def outcome(event: Event, to: str, result: Outcome, attempts: int, detail: str | None = None) -> Emit:
            metrics.NOTIFICATIONS.labels(event.EVENT_TYPE, result).inc()
            note = notification(event, to, result, attempts, datetime.now(UTC), detail)
            return Emit(topics.notifications, note)

        async def notify_batch(batch: list[tuple[Event, Received]]) -> BatchResult:
            """Look the batch up in the sent log once, POST concurrently (a report's events in order, at
            most ``concurrency`` at a time), record what was delivered in one write."""
            keys = [sent_key(ev.event_id(), recipient(ev)) for ev, _ in batch]
            done = await sent.get_many(keys)
            out: BatchResult = [[] for _ in batch]
            entries: list[dict[str, Any]] = []
            by_report: dict[str, list[int]] = {}
            for i, (ev, _) in enumerate(batch):
                by_report.setdefault(str(ev.subject()), []).append(i)
            gate = asyncio.Semaphore(settings.concurrency)

            async def one_report(indexes: list[int]) -> None:
                for i in indexes:  # in order: a report's events reach its unit in the order they came
                    event, received = batch[i]
                    async with gate:
                        out[i] = await notify(event, received, keys[i], done, entries)

            await asyncio.gather(*(one_report(ix) for ix in by_report.values()))
            await sent.record_many(entries)
            return out

        async def notify(
            event: Event,
            received: Received,
            key: str,
            done: dict[str, dict[str, Any]],
            entries: list[dict[str, Any]],
        ) -> Sequence[Emit] | BaseException:
            to = recipient(event)
            ce_id = event.event_id()
            bound = log.bind(report_id=event.subject(), event_id=ce_id, recipient=to)
            if held_for_triage(event):
                return [outcome(event, to, "skipped", 0, "held for operator triage: no unit is told yet")]
            before = done.get(key)
            if before is not None:  # delivered before: say so again (same notification id), do not POST
                bound.info("webhook already delivered")
                return [outcome(event, to, "delivered", int(before.get("attempts", 1)), "delivered before")]
            url = webhook_url(to, settings.webhook_url_template, city.skpd)
            if url is None:
                return [outcome(event, to, "skipped", 0, f"no webhook configured for {to}")]
            body = event.model_dump_json().encode()
            if len(body) > settings.max_body_bytes:
                return await fail(
                    event, to, 0, f"body of {len(body)} bytes exceeds {settings.max_body_bytes}"
                )
            source = cloudevents.header(received.headers, "ce_source") or f"/aduan/{NAME}"

            def headers() -> dict[str, str]:
                return {**cloudevent_headers(event, source, datetime.now(UTC)), **sign(secret, body)}

            result = await sender.post(url, body, headers)
            if not result.delivered:
                return await fail(event, to, result.attempts, result.detail)
            entry = sent_entry(
                key,
                report_id=str(event.subject()),
                about=event.EVENT_TYPE,
                recipient=to,
                attempts=result.attempts,
                at=datetime.now(UTC),
            )
            done[key] = entry  # the same event again later in this batch is not POSTed again
            entries.append(entry)
            bound.info("webhook delivered", attempts=result.attempts)
            return [outcome(event, to, "delivered", result.attempts, result.detail)]

        async def fail(event: Event, to: str, attempts: int, detail: str) -> PermanentError:
            # The worker drops the outputs of a record it dead-letters, so the failed notification is
            # published (and acknowledged) here, before the record goes to the dead-letter topic.
            await rt.producer.send_and_wait(outcome(event, to, "failed", attempts, detail))
            log.warning("webhook failed", report_id=event.subject(), recipient=to, detail=detail)
            return PermanentError(f"webhook to {to} failed: {detail}")

        async def close() -> None:
            await client.aclose()

        return Wiring(
            subscriptions=[
                Subscription(topics.routed, parser_for(RoutedReport), handle_batch=notify_batch),
                Subscription(topics.sla_events, parser_for(SlaEvent), handle_batch=notify_batch),
            ],
            stage="notify",
            on_stop=close,
        )

    return build_service(NAME, settings.common, setup, uses_mongo=True)


def main() -> None:
    settings = load_settings(NotifierSettings)
    serve(NAME, build(settings), settings)
