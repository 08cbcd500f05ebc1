"""The email webhook against the real broker: signed messages land on aduan.raw.email, nothing else does."""

import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from aduan_ingest_email.config import EmailSettings
from aduan_ingest_email.main import build
from aduan_kit.ingest import load_ingest_settings
from aduan_kit.kafka import ensure_topics
from aduan_kit.settings import CommonSettings
from aduan_kit.signing import sign
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_all_topics, read_topic
from aduan_schemas.events import RawEmail

SECRET = "email-test-secret-0123456789"
PATH = "/v1/reports"
RFC822 = {"content-type": "message/rfc822"}


def email(
    message_id: str | None = "<laporan-42@example.co.id>", text: str = "Jalan berlubang di Jl. Daan Mogot"
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


def settings(common: CommonSettings, **overrides: Any) -> EmailSettings:
    return EmailSettings(common=common, webhook_secret=SECRET, **overrides)  # type: ignore[arg-type]


async def test_signed_message_is_published_keyed_by_its_message_id(common: CommonSettings) -> None:
    await create_all_topics(common)
    body = email()
    async with running(build(settings(common))) as client:
        resp = await client.post(PATH, content=body, headers={**sign(SECRET, body), **RFC822})
        records = await read_topic(common, common.topics.raw("email"), 1, settle=0.5)
        metrics_text = (await client.get("/metrics")).text

    assert resp.status_code == 202, resp.text
    assert resp.json() == {
        "status": "accepted",
        "channel": "email",
        "channel_message_id": "laporan-42@example.co.id",
    }
    assert len(records) == 1
    rec = records[0]
    assert rec.key == b"laporan-42@example.co.id"
    headers = dict(rec.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"aduan.report.raw.v1"
    assert headers["ce_id"] == b"raw:email:laporan-42@example.co.id"
    assert headers["ce_source"] == b"/aduan/ingest-email"
    raw = RawEmail.model_validate_json(rec.value)
    assert raw.text == "Jalan berlubang di Jl. Daan Mogot" and raw.subject_line == "Jalan rusak"
    assert raw.reporter is not None and raw.reporter.email == "rina@example.co.id"
    assert 'aduan_ingest_requests_total{channel="email",outcome="accepted"}' in metrics_text


def signed(body: bytes) -> dict[str, str]:
    return {**sign(SECRET, body), **RFC822}


REJECTED: list[tuple[str, bytes, Callable[[bytes], dict[str, str]], int, str]] = [
    ("unsigned", email(), lambda body: RFC822, 401, "missing X-Aduan-Timestamp"),
    ("bad signature", email(), lambda body: sign("another-secret-0123456789", body), 401, "does not match"),
    ("stale timestamp", email(), lambda body: sign(SECRET, body, int(time.time()) - 3_600), 401, "window"),
    ("not a message", b'{"text": "Jalan rusak"', signed, 422, "Message-ID header is required"),
    ("empty", b"", signed, 422, "empty message"),
    ("no Message-ID", email(message_id=None), signed, 422, "Message-ID header is required"),
    ("schema-invalid", email(message_id=f"<{'x' * 300}@example.com>"), signed, 422, "channel_message_id"),
    ("oversized", email(text="a" * 1_000_001), signed, 413, "exceeds 1000000 bytes"),
]


async def test_rejected_requests_publish_nothing(common: CommonSettings) -> None:
    topic = common.topics.raw("email")
    await ensure_topics(common.kafka_bootstrap, [(topic, 3)])
    async with running(build(settings(common))) as client:
        for case, body, headers, status, reason in REJECTED:
            resp = await client.post(PATH, content=body, headers=headers(body))
            assert resp.status_code == status, f"{case}: {resp.text}"
            assert reason in resp.json()["detail"], case
        metrics_text = (await client.get("/metrics")).text
    # The topic is this test's own: any record on it came from one of the rejected requests.
    published = await read_topic(common, topic, 1, timeout=1.5)
    assert published == [], [r.key for r in published]
    for outcome in ("unauthorized", "invalid", "too_large"):
        assert f'aduan_ingest_requests_total{{channel="email",outcome="{outcome}"}}' in metrics_text


def test_missing_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADUAN_INGEST_EMAIL_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SystemExit, match="ADUAN_INGEST_EMAIL_WEBHOOK_SECRET: Field required"):
        load_ingest_settings(EmailSettings)
