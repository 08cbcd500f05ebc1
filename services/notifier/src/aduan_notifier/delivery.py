"""Webhook delivery rules: pure functions for headers, retry decisions, back-off and outcomes."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Literal

from aduan_schemas.events import MAX_SHORT, Event, Notification, SlaEvent

Outcome = Literal["delivered", "skipped", "failed"]
Channel = Literal["webhook", "email", "twitter", "qlue", "sms", "none"]
Audience = Literal["unit", "citizen"]
RETRYABLE_STATUSES = frozenset({408, 429})


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


def classify(status_code: int) -> Verdict:
    """2xx delivered; 408, 429 and 5xx are worth another attempt; anything else (other 4xx, and 3xx:
    redirects are not followed) will not get better by retrying."""
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code in RETRYABLE_STATUSES or 500 <= status_code < 600:
        return Verdict.RETRY
    return Verdict.FAILED


def backoff_delay(
    attempt: int, initial: float, maximum: float, retry_after: str | None = None, now: datetime | None = None
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential from ``initial``,
    never above ``maximum``; a receiver's ``Retry-After`` may lengthen it up to ``maximum``."""
    delay = min(initial * 2 ** (attempt - 1), maximum)
    asked = _retry_after_seconds(retry_after, now)
    if asked is not None:
        delay = max(delay, min(asked, maximum))
    return delay


def _retry_after_seconds(value: str | None, now: datetime | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if now is None or when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def cloudevent_headers(event: Event, source: str, now: datetime) -> dict[str, str]:
    """CloudEvents 1.0 HTTP binary mode: attributes as ``ce-*`` headers, the event JSON as the body."""
    headers = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event.event_id(),
        "ce-type": event.EVENT_TYPE,
        "ce-source": source,
        "ce-time": now.isoformat(),
    }
    subject = event.subject()
    if subject is not None:
        headers["ce-subject"] = subject
    return headers


def sent_key(ce_id: str, recipient: str) -> str:
    """Identity of one webhook delivery: the same event to the same unit is sent once."""
    return f"{ce_id}|{recipient}"


def notification(
    event: Event,
    recipient: str,
    outcome: Outcome,
    attempts: int,
    now: datetime,
    detail: str | None = None,
    *,
    key: str | None = None,
    channel: Channel = "webhook",
    audience: Audience = "unit",
) -> Notification:
    """The record of what was done. Its id is deterministic per delivery (``key``: by default the
    webhook's ``<ce_id>|<unit>``) and outcome, so a re-emitted notification is recognisable downstream.
    ``recipient`` is an SKPD code or a reporter's pseudonym: never a contact."""
    return Notification(
        notification_id=f"notify:{key or sent_key(event.event_id(), recipient)}:{outcome}"[:MAX_SHORT],
        report_id=str(event.subject()),
        about=event.EVENT_TYPE,
        recipient=recipient[:MAX_SHORT],
        channel=channel,
        audience=audience,
        outcome=outcome,
        attempts=attempts,
        detail=detail[:MAX_SHORT] if detail else None,
        at=now,
    )


def digest_notification(
    key: str, report_id: str, unit: str, outcome: Outcome, attempts: int, now: datetime, detail: str
) -> Notification:
    """One per breach listed in a unit's digest (the topic is keyed by report)."""
    return Notification(
        notification_id=f"notify:{key}|{report_id}:{outcome}"[:MAX_SHORT],
        report_id=report_id,
        about=SlaEvent.EVENT_TYPE,
        recipient=unit,
        channel="email",
        audience="unit",
        outcome=outcome,
        attempts=attempts,
        detail=detail[:MAX_SHORT],
        at=now,
    )
