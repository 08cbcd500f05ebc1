"""Wiring: tell units and citizens what happens to a report, each notification exactly once.

Two consumer groups. ``aduan-notifier-contacts`` reads the raw topics into the contact store (one
``insert_many`` per batch). ``aduan-notifier`` reads routed reports, status updates and SLA events; per
batch: remember each routed report's unit, pseudonym and duplicate link (one write); plan what every
event triggers (``triggers.plan``); read the contacts, duplicates and sent log once; send, a report's
events in order and at most ``concurrency`` at a time; record what was sent (one write) before the
offsets are committed. A background loop sends each unit's breach digest once its period has closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import httpx
from fastapi import FastAPI

from aduan_kit import cloudevents
from aduan_kit.http import flag
from aduan_kit.kafka import (
    BatchResult,
    Emit,
    PermanentError,
    Received,
    StreamWorker,
    Subscription,
    TransientError,
    parser_for,
)
from aduan_kit.logs import get_logger
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import load_settings
from aduan_kit.signing import sign
from aduan_notifier import deadline as batch_deadline
from aduan_notifier import digest as digests
from aduan_notifier import metrics, outbound
from aduan_notifier.config import NotifierSettings
from aduan_notifier.contacts import Contact, ContactStore, contact_document
from aduan_notifier.delivery import (
    Audience,
    Channel,
    Outcome,
    cloudevent_headers,
    digest_notification,
    notification,
    sent_key,
)
from aduan_notifier.links import CaseLink, CaseLinks, link_of
from aduan_notifier.mailer import Mailer, SmtpConfig
from aduan_notifier.sender import Result, WebhookSender
from aduan_notifier.store import SentLog, sent_entry
from aduan_notifier.targets import unit_email, webhook_url
from aduan_notifier.templates import Templates, load_templates
from aduan_notifier.triggers import SLA_KINDS, Ignored, Plan, plan, tolerant
from aduan_schemas.events import (
    DuplicateDecision,
    RawReport,
    ReportStatus,
    RoutedReport,
    SlaEvent,
    StatusUpdate,
    raw_report_adapter,
)

NAME = "notifier"
log = get_logger(component=NAME)
Notified: TypeAlias = RoutedReport | StatusUpdate | SlaEvent


@dataclass
class Delivery:
    """One message to one recipient about one event. ``key`` is its idempotency key in the sent log."""

    key: str
    audience: Audience
    recipient: str  # SKPD code, or the reporter's pseudonym: never a contact
    channel: Channel
    send: Callable[[], Awaitable[Result]] | None = None
    skip: str | None = None


def parse_raw(value: bytes) -> RawReport | None:
    """A raw event of a known channel (with its channel's fields, e.g. the email subject), else of any
    channel added since (the common fields are all the contact store needs). None for a record that is
    no raw event at all: the normalizer, which owns the raw topics, dead-letters it once; a second dead
    letter of the same record from here would only confuse the operator."""
    try:
        return raw_report_adapter.validate_json(value)
    except ValueError:
        try:
            return RawReport.model_validate_json(value)
        except ValueError:
            return None


def event_time(event: Notified) -> datetime:
    if isinstance(event, RoutedReport):
        return event.routed_at or event.received_at
    if isinstance(event, StatusUpdate):
        return event.at
    return event.detected_at


Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build(settings: NotifierSettings, clock: Clock = _utc_now) -> FastAPI:
    """``clock`` decides the digest periods (tests move it on instead of waiting an hour)."""
    city = settings.common.load_city()
    templates: Templates = load_templates(settings.common.city_dir)
    topics = settings.common.topics
    secret = settings.signing_secret.get_secret_value()
    s = settings

    async def setup(rt: Runtime) -> Wiring:
        sent, contacts, links = SentLog(rt.db), ContactStore(rt.db), CaseLinks(rt.db)
        digest_log = digests.DigestLog(rt.db)
        retention_s = s.contact_retention_days * 86400
        await contacts.ensure_retention(retention_s)
        await links.ensure_indexes(retention_s)
        await digest_log.ensure_indexes()
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(s.request_timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=s.concurrency, max_keepalive_connections=s.concurrency),
            headers={"user-agent": "aduan-notifier"},
        )
        sender = WebhookSender(
            client,
            max_attempts=s.max_attempts,
            backoff_initial_s=s.backoff_initial_s,
            backoff_max_s=s.backoff_max_s,
            request_timeout_s=s.request_timeout_s,
        )
        mailer = (
            Mailer(
                SmtpConfig(
                    s.smtp_host,
                    s.smtp_port,
                    s.smtp_starttls,
                    s.smtp_user,
                    s.smtp_password.get_secret_value() if s.smtp_password else None,
                    s.smtp_timeout_s,
                    str(s.smtp_ca_file) if s.smtp_ca_file else None,
                ),
                max_attempts=s.max_attempts,
                backoff_initial_s=s.backoff_initial_s,
                backoff_max_s=s.backoff_max_s,
            )
            if s.smtp_host
            else None
        )

        # -- contacts: raw topics -> the contact store ------------------------------------------------
        async def store_contacts(batch: list[tuple[RawReport | None, Received]]) -> BatchResult:
            now = datetime.now(UTC)
            await contacts.record_many([contact_document(raw, now) for raw, _ in batch if raw is not None])
            return [[] for _ in batch]

        contact_worker = StreamWorker(
            s.common,
            rt.group_id("-contacts"),
            "contacts",
            [Subscription(t, parse_raw, handle_batch=store_contacts) for t in topics.raw_all],
            rt.producer,
        )
        rt.workers.append(contact_worker)

        # -- notifications ----------------------------------------------------------------------------
        def emit(event: Notified, d: Delivery, result: Outcome, attempts: int, detail: str | None) -> Emit:
            metrics.count(event.EVENT_TYPE, d.audience, d.channel, result, attempts)
            note = notification(
                event,
                d.recipient,
                result,
                attempts,
                datetime.now(UTC),
                detail,
                key=d.key,
                channel=d.channel,
                audience=d.audience,
            )
            return Emit(topics.notifications, note)

        def webhook(event: Notified, to: str, received: Received) -> Delivery:
            key = sent_key(event.event_id(), to)
            url = webhook_url(to, s.webhook_url_template, city.skpd)
            if url is None:
                return Delivery(key, "unit", to, "webhook", skip=f"no webhook configured for {to}")
            body = event.model_dump_json().encode()
            if len(body) > s.max_body_bytes:
                reason = f"body of {len(body)} bytes exceeds {s.max_body_bytes}"
                return Delivery(key, "unit", to, "webhook", send=lambda: _failed(reason))
            source = cloudevents.header(received.headers, "ce_source") or f"/aduan/{NAME}"

            def headers() -> dict[str, str]:
                return {**cloudevent_headers(event, source, datetime.now(UTC)), **sign(secret, body)}

            return Delivery(key, "unit", to, "webhook", send=lambda: sender.post(url, body, headers))

        def mail_delivery(key: str, audience: Audience, to: str, mail: outbound.Mail) -> Delivery:
            assert mailer is not None
            return Delivery(key, audience, to, "email", send=lambda: mailer.send(mail.message))

        def unit_mail(event: Notified, p: Plan, to: str, link: CaseLink | None, now: datetime) -> Delivery:
            key = f"{event.event_id()}|email:{to}"
            address = unit_email(to, s.unit_email_template, city.skpd)
            if mailer is None:
                return Delivery(key, "unit", to, "email", skip="SMTP not configured")
            if address is None:
                return Delivery(key, "unit", to, "email", skip=f"no email address for {to}")
            assert p.email is not None
            subject, body = templates.unit_mail(p.email, **unit_values(event, p, link))
            mail = outbound.email(
                s, address, subject, body, str(event.subject()), key, now, prefix=outbound.UNIT_PREFIX
            )
            return mail_delivery(key, "unit", to, mail)

        def unit_values(event: Notified, p: Plan, link: CaseLink | None) -> dict[str, str]:
            rid = str(event.subject())
            if isinstance(event, RoutedReport):
                place = (
                    ", ".join(x for x in (event.area.kelurahan, event.area.kecamatan, event.area.kota))
                    if event.area
                    else (event.address_text or "-")
                )
                return {
                    "report_id": rid,
                    "unit": event.skpd_name,
                    "category": event.category,
                    "place": place,
                    "respond_by": templates.when(event.sla.respond_by),
                    "resolve_by": templates.when(event.sla.resolve_by),
                }
            if isinstance(event, SlaEvent):
                unit = city.skpd.by_code.get(event.skpd_code)
                return {
                    "report_id": rid,
                    "unit": unit.name if unit else event.skpd_code,
                    "deadline": templates.deadline(event.kind),
                    # The deadline's own time (a warning comes before it; a step after it).
                    "due_at": templates.when(event.deadline or event.due_at),
                }
            return {"report_id": rid, "unit": link.skpd_name if link else "-", "note": p.note}

        def citizen(
            event: Notified,
            p: Plan,
            rid: str,
            pseudonym: str | None,
            contact: Contact | None,
            now: datetime,
            note: str | None = None,
        ) -> Delivery:
            key = f"{event.event_id()}|citizen:{rid}"
            who = pseudonym or f"reporter:{rid}"
            if contact is None:
                return Delivery(key, "citizen", who, "none", skip="no contact on record for this report")
            assert p.citizen is not None
            text = templates.citizen_text(p.citizen, report_id=rid, unit=p.unit_name, evidence=p.evidence)
            out = outbound.citizen_reply(s, contact, text, p.citizen, key, now)
            if isinstance(out, outbound.Skip):
                return Delivery(key, "citizen", who, out.channel, skip=out.reason)
            if isinstance(out, outbound.Mail):
                return mail_delivery(key, "citizen", who, out)
            req = out
            return Delivery(
                key, "citizen", who, req.channel, send=lambda: sender.post(req.url, req.body, req.headers_now)
            )

        async def notify_batch(batch: list[tuple[Any, Received]]) -> BatchResult:
            batch_deadline.start_batch(s.batch_deadline_s)
            now = datetime.now(UTC)
            out: BatchResult = [[] for _ in batch]
            events: dict[int, Notified] = {}
            for i, (ev, _) in enumerate(batch):
                if isinstance(ev, Ignored):
                    log.info("event not notified", report_id=ev.report_id, reason=ev.reason)
                else:
                    events[i] = ev
            routed = [link_of(e) for e in events.values() if isinstance(e, RoutedReport)]
            known = await links.record_many(routed, now)  # new reports: their links as just stored
            known |= await links.get_many(
                rid for e in events.values() if (rid := str(e.subject())) not in known
            )
            plans: dict[int, Plan] = {}
            for i, ev in events.items():
                p = plan(ev, known.get(str(ev.subject())), city.skpd)
                if isinstance(p, Ignored):
                    log.info("event not notified", report_id=ev.subject(), reason=p.reason)
                else:
                    plans[i] = p
            dups = await links.duplicates_of(
                str(events[i].subject()) for i, p in plans.items() if p.citizen and p.duplicates_too
            )
            wanted = [str(events[i].subject()) for i, p in plans.items() if p.citizen]
            wanted += [d.report_id for group in dups.values() for d in group]
            found = await contacts.get_many(wanted)
            for i, p in plans.items():  # nothing is sent before every young event has its contact
                rid, ev = str(events[i].subject()), events[i]
                age = (now - event_time(ev)).total_seconds()
                if p.citizen and rid not in found and age < s.contact_wait_s:
                    raise TransientError(f"contact of report {rid} not stored yet")

            todo: dict[int, list[Delivery]] = {}
            for i, p in plans.items():
                ev, received = events[i], batch[i][1]
                rid = str(ev.subject())
                link = known.get(rid)
                ds: list[Delivery] = []
                if p.held_for_triage and p.webhook_to:
                    ds.append(
                        Delivery(
                            sent_key(ev.event_id(), p.webhook_to),
                            "unit",
                            p.webhook_to,
                            "webhook",
                            skip="held for operator triage: no unit is told yet",
                        )
                    )
                elif p.email is not None and (p.webhook_to is None or p.email_to is None):
                    ds.append(
                        Delivery(
                            f"{ev.event_id()}|unit",
                            "unit",
                            "unknown",
                            "none",
                            skip="no routing on record for this report",
                        )
                    )
                else:
                    if p.webhook_to:
                        ds.append(webhook(ev, p.webhook_to, received))
                    if p.moved_from:  # the unit the report was taken from sees where it went
                        ds.append(webhook(ev, p.moved_from, received))
                    if p.email_to:
                        ds.append(unit_mail(ev, p, p.email_to, link, now))
                if p.citizen:
                    own_pseudonym = (
                        ev.reporter.pseudonym if isinstance(ev, RoutedReport) and ev.reporter else None
                    ) or (link.pseudonym if link else None)
                    ds.append(citizen(ev, p, rid, own_pseudonym, found.get(rid), now))
                    if p.duplicates_too:
                        for d in dups.get(rid, []):
                            ds.append(citizen(ev, p, d.report_id, d.pseudonym, found.get(d.report_id), now))
                todo[i] = ds

            done = await sent.get_many(d.key for ds in todo.values() for d in ds)
            entries: list[dict[str, Any]] = []
            by_report: dict[str, list[int]] = {}
            for i in todo:
                by_report.setdefault(str(events[i].subject()), []).append(i)
            gate = asyncio.Semaphore(s.concurrency)

            async def one_report(indexes: list[int]) -> None:
                for i in indexes:  # in order: a report's events are told in the order they came
                    async with gate:
                        out[i] = await deliver(events[i], todo[i], done, entries)

            await asyncio.gather(*(one_report(ix) for ix in by_report.values()))
            await sent.record_many(entries)
            filed = []
            for i, p in plans.items():
                ev = events[i]
                if p.digest_unit and isinstance(ev, SlaEvent):
                    filed.append(digests.entry(ev, p.digest_unit, clock(), s.digest_interval_s))
            await digest_log.file_many(filed)
            return out

        async def deliver(
            event: Notified,
            ds: list[Delivery],
            done: dict[str, dict[str, Any]],
            entries: list[dict[str, Any]],
        ) -> Sequence[Emit] | BaseException:
            rid = str(event.subject())
            notes: list[Emit] = []
            failed: list[str] = []
            for d in ds:
                bound = log.bind(
                    report_id=rid,
                    event_id=event.event_id(),
                    channel=d.channel,
                    audience=d.audience,
                    recipient=d.recipient,
                )
                if d.skip is not None or d.send is None:
                    notes.append(emit(event, d, "skipped", 0, d.skip))
                    continue
                before = done.get(d.key)
                if before is not None:  # sent before: say so again (same notification id), do not send
                    bound.info("already delivered")
                    notes.append(
                        emit(event, d, "delivered", int(before.get("attempts", 1)), "delivered before")
                    )
                    continue
                result = await d.send()
                if not result.delivered:
                    bound.warning("delivery failed", detail=result.detail)
                    notes.append(emit(event, d, "failed", result.attempts, result.detail))
                    failed.append(f"{d.channel} to {d.recipient} failed: {result.detail}")
                    continue
                entry = sent_entry(
                    d.key,
                    report_id=rid,
                    about=event.EVENT_TYPE,
                    recipient=d.recipient,
                    attempts=result.attempts,
                    at=datetime.now(UTC),
                )
                done[d.key] = entry  # the same delivery again later in this batch is not sent again
                entries.append(entry)
                bound.info("delivered", attempts=result.attempts)
                notes.append(emit(event, d, "delivered", result.attempts, result.detail))
            if failed:
                # The worker drops the outputs of a record it dead-letters, so the notifications are
                # published (and acknowledged) here, before the record goes to the dead-letter topic.
                await asyncio.gather(*await rt.producer.send_all(notes))
                return PermanentError("; ".join(failed))
            return notes

        # -- the breach digest ------------------------------------------------------------------------
        async def send_digests(now: datetime) -> None:
            groups = digests.due(await digest_log.closed(digests.slot_of(now, s.digest_interval_s)))
            done = await sent.get_many(digests.digest_key(u, slot) for u, slot in groups)
            for (unit, slot), items in groups.items():
                key = digests.digest_key(unit, slot)
                period = digests.slot_start(slot, s.digest_interval_s)
                detail = f"digest of {period.isoformat()}"
                address = unit_email(unit, s.unit_email_template, city.skpd)
                result: Outcome
                attempts = 0
                if key in done:
                    result, attempts, detail = (
                        "delivered",
                        int(done[key].get("attempts", 1)),
                        detail + " (before)",
                    )
                elif mailer is None or address is None:
                    result = "skipped"
                    detail = "SMTP not configured" if mailer is None else f"no email address for {unit}"
                else:
                    name = city.skpd.by_code[unit].name if unit in city.skpd.by_code else unit
                    lines = [
                        {
                            "report_id": str(e["report_id"]),
                            "deadline": templates.deadline(str(e["kind"])),
                            "due_at": templates.when(e["due_at"]),
                        }
                        for e in items
                    ]
                    subject, body = templates.digest_mail(name, period, lines)
                    mail = outbound.email(
                        s, address, subject, body, f"{unit}.{slot}", key, now, prefix=outbound.DIGEST_PREFIX
                    )
                    sent_result = await mailer.send(mail.message)
                    attempts = sent_result.attempts
                    result = "delivered" if sent_result.delivered else "failed"
                    if sent_result.delivered:
                        await sent.record_many(
                            [
                                sent_entry(
                                    key,
                                    report_id=str(items[0]["report_id"]),
                                    about="digest",
                                    recipient=unit,
                                    attempts=attempts,
                                    at=datetime.now(UTC),
                                )
                            ]
                        )
                    else:
                        detail = f"{detail}: {sent_result.detail}"
                log.info("digest", unit=unit, period=period.isoformat(), breaches=len(items), outcome=result)
                notes = [
                    Emit(
                        topics.notifications,
                        digest_notification(key, str(e["report_id"]), unit, result, attempts, now, detail),
                    )
                    for e in items
                ]
                metrics.count(SlaEvent.EVENT_TYPE, "unit", "email", result, attempts, len(notes))
                await asyncio.gather(*await rt.producer.send_all(notes))
                await digest_log.mark_done(unit, slot)

        async def digest_loop() -> None:
            while True:
                try:
                    await send_digests(clock())
                except Exception:  # the next pass tries again; a digest is never marked sent unsent
                    log.exception("digest pass failed")
                await asyncio.sleep(s.digest_check_s)

        # -- operators' near-duplicate corrections: the links follow ----------------------------------
        async def on_decisions(batch: list[tuple[DuplicateDecision, Received]]) -> BatchResult:
            await links.apply_decisions([d for d, _ in batch], datetime.now(UTC))
            return [[] for _ in batch]

        async def close() -> None:
            contact_worker.stop()
            await client.aclose()

        return Wiring(
            subscriptions=[
                Subscription(topics.routed, parser_for(RoutedReport), handle_batch=notify_batch),
                Subscription(
                    topics.status,
                    tolerant(StatusUpdate, "status", frozenset(x.value for x in ReportStatus)),
                    handle_batch=notify_batch,
                ),
                Subscription(
                    topics.sla_events,
                    tolerant(SlaEvent, "kind", SLA_KINDS),
                    handle_batch=notify_batch,
                ),
                Subscription(topics.duplicates, parser_for(DuplicateDecision), handle_batch=on_decisions),
            ],
            stage="notify",
            tasks=[contact_worker.run, digest_loop],
            extra_checks={"contacts_consumer": flag(lambda: contact_worker.ready)},
            on_stop=close,
        )

    return build_service(NAME, settings.common, setup, uses_mongo=True)


async def _failed(reason: str) -> Result:
    return Result(False, 0, reason)


def main() -> None:
    settings = load_settings(NotifierSettings)
    serve(NAME, build(settings), settings)
