"""The Qlue webhook against the real broker: signed reports land on aduan.raw.qlue, nothing else does."""

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from aduan_ingest_qlue.config import QlueSettings
from aduan_ingest_qlue.main import build
from aduan_kit import embedded
from aduan_kit.ingest import load_ingest_settings
from aduan_kit.kafka import ensure_topics
from aduan_kit.settings import CommonSettings
from aduan_kit.signing import sign
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_all_topics, read_topic
from aduan_schemas.events import RawQlue

SECRET = "qlue-test-secret-0123456789"
PATH = "/v1/reports"


def report(report_id: str = "QLU-20260302-000123") -> bytes:
    return json.dumps(
        {
            "id": report_id,
            "created_at": "2026-03-02T15:42:10+07:00",
            "description": "Sampah menumpuk di depan pasar",
            "category": "Sampah",
            "lat": -6.1754,
            "lng": 106.8272,
            "user": {"id": "u-1", "name": "Budi", "phone": "+6281234567890"},
        }
    ).encode()


def settings(common: CommonSettings, **overrides: Any) -> QlueSettings:
    return QlueSettings(common=common, webhook_secret=SECRET, **overrides)  # type: ignore[arg-type]


async def test_signed_report_is_published_keyed_by_its_qlue_id(common: CommonSettings) -> None:
    await create_all_topics(common)
    body = report()
    async with running(build(settings(common))) as client:
        resp = await client.post(
            PATH, content=body, headers={**sign(SECRET, body), "content-type": "application/json"}
        )
        records = await read_topic(common, common.topics.raw("qlue"), 1, settle=0.5)
        metrics_text = (await client.get("/metrics")).text
        ready = await client.get("/readyz")

    assert resp.status_code == 202, resp.text
    assert resp.json() == {
        "status": "accepted",
        "channel": "qlue",
        "channel_message_id": "QLU-20260302-000123",
    }
    assert len(records) == 1
    rec = records[0]
    assert rec.key == b"QLU-20260302-000123"
    headers = dict(rec.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"aduan.report.raw.v1"
    assert headers["ce_id"] == b"raw:qlue:QLU-20260302-000123"
    assert headers["ce_source"] == b"/aduan/ingest-qlue"
    assert headers["ce_subject"] == b"QLU-20260302-000123"
    assert headers["content-type"] == b"application/json"
    raw = RawQlue.model_validate_json(rec.value)
    assert (
        raw.category_hint == "Sampah" and raw.reporter is not None and raw.reporter.phone == "+6281234567890"
    )
    assert raw.raw == json.loads(body)
    assert 'aduan_ingest_requests_total{channel="qlue",outcome="accepted"}' in metrics_text
    assert ready.status_code == 200


def unsigned(body: bytes) -> dict[str, str]:
    return {}


def wrong_key(body: bytes) -> dict[str, str]:
    return sign("another-secret-0123456789", body)


def stale(body: bytes) -> dict[str, str]:
    return sign(SECRET, body, int(time.time()) - 3_600)


def signed(body: bytes) -> dict[str, str]:
    return sign(SECRET, body)


def tampered(body: bytes) -> dict[str, str]:
    return sign(SECRET, body.replace(b"Sampah", b"Banjir"))


REJECTED: list[tuple[str, bytes, Callable[[bytes], dict[str, str]], int, str]] = [
    ("unsigned", report(), unsigned, 401, "missing X-Aduan-Timestamp"),
    ("bad signature", report(), wrong_key, 401, "signature does not match"),
    ("tampered body", report(), tampered, 401, "signature does not match"),
    ("stale timestamp", report(), stale, 401, "outside the 300 s window"),
    ("malformed JSON", b'{"id": "QLU-1", ', signed, 422, "malformed JSON"),
    ("schema-invalid", json.dumps({"id": "QLU-1", "description": "x"}).encode(), signed, 422, "created_at"),
    ("oversized", b'{"description": "' + b"a" * 1_000_001 + b'"}', signed, 413, "exceeds 1000000 bytes"),
]


async def test_rejected_requests_publish_nothing(common: CommonSettings) -> None:
    topic = common.topics.raw("qlue")
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
        assert f'aduan_ingest_requests_total{{channel="qlue",outcome="{outcome}"}}' in metrics_text


async def test_broker_unreachable_answers_503_with_retry_after(common: CommonSettings) -> None:
    """A broker of its own, killed under the running service: the sender is told to retry, never a 202.

    (Start-up waits for the broker, so the outage is made after the service is up.)"""
    port = embedded.free_port()
    broker = embedded.tansu(port).start()
    try:
        broker.wait_port()
        isolated = common.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{port}"})
        await ensure_topics(isolated.kafka_bootstrap, [(isolated.topics.raw("qlue"), 3)])
        app = build(settings(isolated, publish_timeout_s=1.5))
        async with running(app) as client:
            first = report("QLU-before")
            ok = await client.post(PATH, content=first, headers=sign(SECRET, first))
            broker.kill()
            second = report("QLU-during-outage")
            started = time.monotonic()
            resp = await client.post(PATH, content=second, headers=sign(SECRET, second))
            elapsed = time.monotonic() - started
            metrics_text = (await client.get("/metrics")).text
            ready = await client.get("/readyz")
    finally:
        broker.stop()
    assert ok.status_code == 202, ok.text
    assert resp.status_code == 503, resp.text
    assert int(resp.headers["Retry-After"]) > 0
    assert "did not acknowledge within 1.5 s" in resp.json()["detail"]
    assert elapsed < 10
    assert 'aduan_ingest_requests_total{channel="qlue",outcome="unavailable"}' in metrics_text
    assert ready.status_code == 503


def test_missing_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADUAN_INGEST_QLUE_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SystemExit, match="ADUAN_INGEST_QLUE_WEBHOOK_SECRET: Field required"):
        load_ingest_settings(QlueSettings)


def test_short_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADUAN_INGEST_QLUE_WEBHOOK_SECRET", "secret")
    with pytest.raises(SystemExit, match="at least 16 characters") as info:
        load_ingest_settings(QlueSettings)
    assert "'secret'" not in str(info.value)
