"""The Qlue webhook against the real broker: signed reports land on aduan.raw.qlue, nothing else does."""

import json
import time
from typing import Any

import pytest
from fastapi import FastAPI

from aduan_ingest_qlue.config import QlueSettings
from aduan_ingest_qlue.main import build
from aduan_kit import embedded
from aduan_kit.kafka import ensure_topics
from aduan_kit.settings import CommonSettings
from aduan_kit.signing import sign
from aduan_kit.testing.app import running
from aduan_kit.testing.ingest import (
    WEBHOOK_PATH,
    Signer,
    assert_published,
    assert_rejected,
    assert_secret_required,
)
from aduan_schemas.events import RawQlue

SECRET = "qlue-test-secret-0123456789"
SIGNER = Signer(SECRET, {"content-type": "application/json"})
signed = SIGNER.signed
QLUE_ID = "QLU-20260302-000123"


def report(report_id: str = QLUE_ID) -> bytes:
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


def service(common: CommonSettings, **overrides: Any) -> FastAPI:
    return build(QlueSettings(common=common, webhook_secret=SECRET, **overrides))  # type: ignore[arg-type]


async def test_signed_report_is_published_keyed_by_its_qlue_id(common: CommonSettings) -> None:
    raw = await assert_published(common, "qlue", service(common), report(), signed, QLUE_ID, RawQlue)
    assert (
        raw.category_hint == "Sampah" and raw.reporter is not None and raw.reporter.phone == "+6281234567890"
    )
    assert raw.raw == json.loads(report())


REJECTED = [
    *SIGNER.rejections(report()),
    ("malformed JSON", b'{"id": "QLU-1", ', signed, 422, "malformed JSON"),
    ("schema-invalid", json.dumps({"id": "QLU-1", "description": "x"}).encode(), signed, 422, "created_at"),
    ("oversized", b'{"description": "' + b"a" * 1_000_001 + b'"}', signed, 413, "exceeds 1000000 bytes"),
]


async def test_rejected_requests_publish_nothing(common: CommonSettings) -> None:
    await assert_rejected(common, "qlue", service(common), REJECTED)


async def test_broker_unreachable_answers_503_with_retry_after(common: CommonSettings) -> None:
    """A broker of its own, killed under the running service: the sender is told to retry, never a 202.

    (Start-up waits for the broker, so the outage is made after the service is up.)"""
    port = embedded.free_port()
    broker = embedded.tansu(port).start()
    try:
        broker.wait_port()
        isolated = common.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{port}"})
        await ensure_topics(isolated.kafka_bootstrap, [(isolated.topics.raw("qlue"), 3)])
        app = service(isolated, publish_timeout_s=1.5)
        async with running(app) as client:
            first = report("QLU-before")
            ok = await client.post(WEBHOOK_PATH, content=first, headers=sign(SECRET, first))
            broker.kill()
            second = report("QLU-during-outage")
            started = time.monotonic()
            resp = await client.post(WEBHOOK_PATH, content=second, headers=sign(SECRET, second))
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


def test_missing_or_short_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_secret_required(monkeypatch, QlueSettings, "ADUAN_INGEST_QLUE_WEBHOOK_SECRET")
