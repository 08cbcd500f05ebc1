"""The email webhook against the real broker: signed messages land on aduan.raw.email, nothing else does."""

from email.message import EmailMessage
from typing import Any

import pytest
from fastapi import FastAPI

from aduan_ingest_email.config import EmailSettings
from aduan_ingest_email.main import build
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.ingest import Signer, assert_published, assert_rejected, assert_secret_required
from aduan_schemas.events import RawEmail

SECRET = "email-test-secret-0123456789"
SIGNER = Signer(SECRET, {"content-type": "message/rfc822"})
signed = SIGNER.signed
MESSAGE_ID = "laporan-42@example.co.id"


def email(
    message_id: str | None = f"<{MESSAGE_ID}>", text: str = "Jalan berlubang di Jl. Daan Mogot"
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Rina Wijaya <rina@example.co.id>"
    msg["To"] = "dki@jakarta.go.id"
    msg["Subject"] = "Jalan rusak"
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0700"
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(text)
    return msg.as_bytes()


def service(common: CommonSettings, **overrides: Any) -> FastAPI:
    return build(EmailSettings(common=common, webhook_secret=SECRET, **overrides))  # type: ignore[arg-type]


async def test_signed_message_is_published_keyed_by_its_message_id(common: CommonSettings) -> None:
    raw = await assert_published(common, "email", service(common), email(), signed, MESSAGE_ID, RawEmail)
    assert raw.text == "Jalan berlubang di Jl. Daan Mogot" and raw.subject_line == "Jalan rusak"
    assert raw.reporter is not None and raw.reporter.email == "rina@example.co.id"


REJECTED = [
    *SIGNER.rejections(email()),
    ("not a message", b'{"text": "Jalan rusak"', signed, 422, "Message-ID header is required"),
    ("empty", b"", signed, 422, "empty message"),
    ("no Message-ID", email(message_id=None), signed, 422, "Message-ID header is required"),
    ("schema-invalid", email(message_id=f"<{'x' * 300}@example.com>"), signed, 422, "channel_message_id"),
    ("oversized", email(text="a" * 1_000_001), signed, 413, "exceeds 1000000 bytes"),
    (
        "auto-reply",
        email().replace(b"Subject:", b"Auto-Submitted: auto-replied\nSubject:"),
        signed,
        422,
        "not a report: auto-reply",
    ),
]


async def test_rejected_requests_publish_nothing(common: CommonSettings) -> None:
    await assert_rejected(common, "email", service(common), REJECTED)


def test_missing_or_short_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_secret_required(monkeypatch, EmailSettings, "ADUAN_INGEST_EMAIL_WEBHOOK_SECRET")
