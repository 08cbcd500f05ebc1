"""Wiring: consume aduan.reports.routed and aduan.sla.events, POST signed webhooks to SKPD systems,
record every outcome on aduan.notifications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from aduan_kit import cloudevents, metrics
from aduan_kit.kafka import Emit, PermanentError, Received, Subscription, parser_for
from aduan_kit.logs import get_logger
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import load_settings
from aduan_kit.signing import sign
from aduan_notifier.config import NotifierSettings
from aduan_notifier.delivery import Outcome, cloudevent_headers, notification, sent_key
from aduan_notifier.sender import WebhookSender
from aduan_notifier.store import SentLog
from aduan_notifier.targets import recipient, webhook_url
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
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
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

        async def notify(event: Event, received: Received) -> Sequence[Emit]:
            to = recipient(event)
            ce_id = event.event_id()
            key = sent_key(ce_id, to)
            bound = log.bind(report_id=event.subject(), event_id=ce_id, recipient=to)
            done = await sent.get(key)
            if done is not None:  # delivered before: say so again (same notification id), do not POST
                bound.info("webhook already delivered")
                return [outcome(event, to, "delivered", int(done.get("attempts", 1)), "delivered before")]
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
            await sent.record(
                key,
                report_id=str(event.subject()),
                about=event.EVENT_TYPE,
                recipient=to,
                attempts=result.attempts,
                at=datetime.now(UTC),
            )
            bound.info("webhook delivered", attempts=result.attempts)
            return [outcome(event, to, "delivered", result.attempts, result.detail)]

        async def fail(event: Event, to: str, attempts: int, detail: str) -> Sequence[Emit]:
            # The worker drops a handler's emits when it dead-letters, so the failed notification is
            # published (and acknowledged) here, before the record goes to the dead-letter topic.
            await rt.producer.send_and_wait(outcome(event, to, "failed", attempts, detail))
            log.warning("webhook failed", report_id=event.subject(), recipient=to, detail=detail)
            raise PermanentError(f"webhook to {to} failed: {detail}")

        async def close() -> None:
            await client.aclose()

        return Wiring(
            subscriptions=[
                Subscription(topics.routed, parser_for(RoutedReport), notify),
                Subscription(topics.sla_events, parser_for(SlaEvent), notify),
            ],
            stage="notify",
            on_stop=close,
        )

    return build_service(NAME, settings.common, setup, uses_mongo=True)


def main() -> None:
    settings = load_settings(NotifierSettings)
    serve(NAME, build(settings), settings)
