"""The Qlue webhook against the real broker: signed reports land on aduan.raw.qlue, nothing else does."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from aduan_ingest_qlue.config import QlueSettings
from aduan_ingest_qlue.main import build
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.broker import OwnBroker
from aduan_kit.testing.ingest import (
    WEBHOOK_PATH,
    Signer,
    assert_published,
    assert_rejected,
    assert_restart_keeps_outbox,
    assert_secret_required,
    ingest_count,
)
from aduan_schemas.events import RawQlue

SECRET = "qlue-test-secret-0123456789"
SIGNER = Signer(SECRET, {"content-type": "application/json"})
signed = SIGNER.signed
QLUE_ID = "QLU-20260302-000123"
JAKARTA_BOX = "-6.38,106.35,-5.15,106.98"  # mainland Jakarta and Kepulauan Seribu


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


async def test_signed_report_is_published_keyed_by_its_qlue_id(
    common: CommonSettings, tmp_path: Path
) -> None:
    app = service(common, outbox_dir=tmp_path)
    raw = await assert_published(common, "qlue", app, report(), signed, QLUE_ID, RawQlue)
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


async def test_rejected_requests_publish_nothing(common: CommonSettings, tmp_path: Path) -> None:
    await assert_rejected(common, "qlue", service(common, outbox_dir=tmp_path), REJECTED)


async def test_restart_mid_work_loses_and_doubles_nothing(
    own_broker: OwnBroker, common: CommonSettings, tmp_path: Path
) -> None:
    """Reports accepted while the broker hangs survive the adapter's restart; a re-delivery (same Qlue
    id) before and after it stays one record. Fails if the outbox file is not reopened (``:memory:``)."""
    first, second, third = report("QLU-r1"), report("QLU-r2"), report("QLU-r3")
    await assert_restart_keeps_outbox(
        own_broker,
        common,
        "qlue",
        lambda c: service(c, outbox_dir=tmp_path),
        before=[(first, signed(first)), (first, signed(first)), (third, signed(third))],
        after=[(second, signed(second)), (first, signed(first))],
        expected_keys=["QLU-r1", "QLU-r2", "QLU-r3"],
    )


async def test_full_outbox_answers_503_with_retry_after(
    own_broker: OwnBroker, common: CommonSettings, tmp_path: Path
) -> None:
    """Capacity is a hard limit: with the broker hanging the third report finds the outbox full.
    Fails if ``Outbox._room_for`` is skipped (a 202 the outbox could not promise)."""
    c = own_broker.settings(common)
    own_broker.pause()
    app = service(c, outbox_dir=tmp_path, outbox_max_records=2, outbox_ready_max_records=1)
    async with running(app) as client:
        answers = []
        for n in range(3):
            body = report(f"QLU-full-{n}")
            answers.append(await client.post(WEBHOOK_PATH, content=body, headers=signed(body)))
        ready = await client.get("/readyz")
        metrics_text = (await client.get("/metrics")).text
    assert [a.status_code for a in answers] == [202, 202, 503]
    assert int(answers[2].headers["Retry-After"]) > 0 and "outbox full" in answers[2].json()["detail"]
    assert ready.status_code == 503 and ready.json()["checks"]["outbox"] is False
    assert ingest_count(metrics_text, "qlue", "outbox_full") == 1


@pytest.mark.parametrize(
    ("lat", "lng", "flag"),
    [(0, 0, "zero"), (1.3521, 103.8198, "outside_city"), (-6.1754, 106.8272, None)],
)
async def test_untrusted_coordinates_are_kept_and_flagged(
    common: CommonSettings, tmp_path: Path, lat: float, lng: float, flag: str | None
) -> None:
    """(0, 0) and a point outside the city's box keep their coordinates with ``location_flag``.
    Fails if ``Intake.encode`` does not call ``location_flag``."""
    body = json.dumps(
        {
            "id": f"QLU-geo-{flag}",
            "created_at": "2026-03-02T15:42:10+07:00",
            "description": "x",
            "lat": lat,
            "lng": lng,
        }
    ).encode()
    app = service(common, outbox_dir=tmp_path, city_bbox=JAKARTA_BOX)
    raw = await assert_published(common, "qlue", app, body, signed, f"QLU-geo-{flag}", RawQlue)
    assert raw.location is not None and (raw.location.lat, raw.location.lon) == (lat, lng)
    assert raw.location_flag == flag


def test_missing_or_short_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_secret_required(monkeypatch, QlueSettings, "ADUAN_INGEST_QLUE_WEBHOOK_SECRET")
