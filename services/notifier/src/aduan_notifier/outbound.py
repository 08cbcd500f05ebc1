"""What goes out, per channel: pure builders of the HTTP requests and emails the notifier sends.

A builder returns the message, or a ``Skip`` with the reason when the deployment has not configured the
channel or the reporter left no address on it. Nothing here touches the network.

Email threading contract (read by ingest-email to recognise a citizen's follow-up): every email we
send has ``Message-ID: <aduan.{report_id}.{suffix}@{domain}>``; a reply to the citizen also carries
``In-Reply-To`` and ``References`` = the citizen's own Message-ID, so their mail client threads it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from aduan_kit.signing import sign
from aduan_notifier.config import NotifierSettings
from aduan_notifier.contacts import Contact
from aduan_notifier.delivery import Channel

TWEET_MAX = 280
SMS_MAX = 480
CITIZEN_PREFIX = "aduan"  # the follow-up contract: only these Message-IDs mark a citizen's reply
UNIT_PREFIX = "aduan-unit"
DIGEST_PREFIX = "aduan-digest"


@dataclass(frozen=True)
class Skip:
    channel: Channel
    reason: str


@dataclass(frozen=True)
class HttpRequest:
    channel: Channel
    url: str
    body: bytes
    headers: dict[str, str]
    sign_with: str | None = None  # HMAC secret: signed per attempt (the signature carries a timestamp)

    def headers_now(self) -> dict[str, str]:
        return {**self.headers, **sign(self.sign_with, self.body)} if self.sign_with else dict(self.headers)


@dataclass(frozen=True)
class Mail:
    message: EmailMessage
    channel: Channel = "email"


Outbound = HttpRequest | Mail | Skip


def message_id(subject_id: str, key: str, domain: str, prefix: str = CITIZEN_PREFIX) -> str:
    """``<{prefix}.{subject_id}.{suffix}@{domain}>``; the suffix is derived from the delivery's
    idempotency key, so a re-sent message (after a crash) keeps its Message-ID and can be dropped.
    Emails to citizens use ``aduan`` and the report id; emails to units ``aduan-unit`` and digests
    ``aduan-digest``, so a unit's answer is never taken for a citizen's follow-up."""
    suffix = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"<{prefix}.{subject_id}.{suffix}@{domain}>"


def _angle(ident: str) -> str:
    ident = ident.strip().strip("<>").strip()
    return f"<{ident}>"


def email(
    s: NotifierSettings,
    to: str,
    subject: str,
    body: str,
    report_id: str,
    key: str,
    now: datetime,
    in_reply_to: str | None = None,
    prefix: str = CITIZEN_PREFIX,
) -> Mail:
    msg = EmailMessage()
    msg["From"] = s.smtp_from or ""
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(report_id, key, s.message_id_domain, prefix)
    if in_reply_to:
        msg["In-Reply-To"] = _angle(in_reply_to)
        msg["References"] = _angle(in_reply_to)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer it
    msg.set_content(body)
    return Mail(msg)


def _json(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def citizen_reply(
    s: NotifierSettings, contact: Contact, text: str, status: str, key: str, now: datetime
) -> Outbound:
    """The reply to a reporter on the channel they used (``status`` is the template key)."""
    ch = contact.channel
    if ch == "twitter":
        if s.x_bearer_token is None:
            return Skip("twitter", "X API not configured (no bearer token)")
        body = {"text": _clip(text, TWEET_MAX), "reply": {"in_reply_to_tweet_id": contact.channel_message_id}}
        token = s.x_bearer_token.get_secret_value()
        return HttpRequest(
            "twitter",
            f"{s.x_api_url.rstrip('/')}/2/tweets",
            _json(body),
            {"content-type": "application/json", "authorization": f"Bearer {token}"},
        )
    if ch == "email":
        if not s.smtp_host:
            return Skip("email", "SMTP not configured")
        if not contact.email:
            return Skip("email", "the reporter left no email address")
        original = contact.subject_line or "Laporan Anda"
        subject = original if original.lower().startswith("re:") else f"Re: {original}"
        return email(
            s,
            contact.email,
            subject,
            text,
            contact.report_id,
            key,
            now,
            in_reply_to=contact.channel_message_id,
        )
    if ch == "qlue":
        if not s.qlue_callback_url or s.qlue_callback_secret is None:
            return Skip("qlue", "Qlue status callback not configured")
        body = {
            "qlue_id": contact.channel_message_id,
            "report_id": contact.report_id,
            "status": status,
            "message": text,
        }
        return HttpRequest(
            "qlue",
            s.qlue_callback_url,
            _json(body),
            {"content-type": "application/json"},
            sign_with=s.qlue_callback_secret.get_secret_value(),
        )
    if ch == "sms":
        if not s.sms_gateway_url:
            return Skip("sms", "SMS gateway not configured")
        if not contact.phone:
            return Skip("sms", "the reporter left no phone number")
        headers = {"content-type": "application/json"}
        if s.sms_gateway_token is not None:
            headers["authorization"] = f"Bearer {s.sms_gateway_token.get_secret_value()}"
        return HttpRequest(
            "sms", s.sms_gateway_url, _json({"to": contact.phone, "text": _clip(text, SMS_MAX)}), headers
        )
    return Skip("none", f"no reply channel for {ch[:50]} reports")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
