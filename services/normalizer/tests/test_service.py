"""The normalizer against the real broker and database."""

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pymongo import AsyncMongoClient

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, publish_bytes, read_topic
from aduan_kit.testing.samples import GAMBIR, MONAS, raw_qlue
from aduan_normalizer.config import NormalizerSettings
from aduan_normalizer.main import build
from aduan_schemas.events import DeadLetter, NormalizedReport
from aduan_schemas.ids import report_id

KEY = SecretStr("service-test-pseudonym-key-0123")


async def seen_indexes(common: CommonSettings) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    try:
        return await client[common.mongodb_db]["normalizer_seen"].index_information()
    finally:
        await client.close()


def _settings(common: CommonSettings, boundaries: Path | None) -> NormalizerSettings:
    return NormalizerSettings(common=common, pseudonym_key=KEY, boundaries_path=boundaries)


async def test_one_report_per_channel_message_even_across_restarts(
    common: CommonSettings, boundaries_path: Path
) -> None:
    await create_topics(common)
    t = common.topics
    raw = raw_qlue(location=MONAS, address_text="Jl. Medan Merdeka Barat")
    value, key = raw.model_dump_json().encode(), raw.channel_message_id.encode()
    rid = report_id(raw)
    await publish_bytes(common, t.raw("qlue"), value, key=key)
    await publish_bytes(common, t.raw("qlue"), value, key=key)  # re-delivered by the channel

    async with running(build(_settings(common, boundaries_path))) as client:
        out = await read_topic(common, t.normalized, 1, settle=1.5)
        ready = await client.get("/readyz")
        geocoding = (await client.get("/geocoding")).json()
        metrics_text = (await client.get("/metrics")).text

    assert len(out) == 1
    report = NormalizedReport.model_validate_json(out[0].value)
    assert report.report_id == rid and out[0].key == rid.encode()
    assert report.area == GAMBIR and report.geocode.method == "gps"
    assert (report.category, report.raw) == ("sampah", None)
    assert report.reporter is not None and report.reporter.phone is None and report.reporter.pseudonym
    headers = dict(out[0].headers)
    assert headers["ce_type"] == b"aduan.report.normalized.v1"
    assert headers["ce_id"] == f"normalized:{rid}".encode()
    assert ready.status_code == 200, json.dumps(ready.json())
    assert geocoding["gps"] is True and geocoding["kelurahan"] == 267
    assert 'aduan_reports_normalized_total{category="sampah",geocode_method="gps"}' in metrics_text
    assert 'aduan_duplicates_dropped_total{channel="qlue"}' in metrics_text
    assert "aduan_geocoding_gps_enabled 1.0" in metrics_text

    indexes = await seen_indexes(common)
    assert indexes["retention_at"]["expireAfterSeconds"] == 30 * 86_400  # the default retention

    # After a restart (memory gone), the same message again is still dropped: the database remembers.
    await publish_bytes(common, t.raw("qlue"), value, key=key)
    later = raw_qlue(channel_message_id="qlue-after-restart")
    await publish_bytes(common, t.raw("qlue"), later.model_dump_json().encode(), key=key)  # same partition
    async with running(build(_settings(common, boundaries_path))):
        out = await read_topic(common, t.normalized, 2, settle=1.0)
    assert [NormalizedReport.model_validate_json(r.value).report_id for r in out] == [rid, report_id(later)]


async def test_bad_records_are_dead_lettered_and_text_geocoding_works_without_boundaries(
    common: CommonSettings, tmp_path: Path
) -> None:
    await create_topics(common)
    t = common.topics
    await publish_bytes(common, t.raw("twitter"), b"{not json", key=b"bad-1")
    await publish_bytes(common, t.raw("twitter"), b'{"channel": "twitter", "text": "x"}', key=b"bad-2")
    by_text = raw_qlue(channel_message_id="qlue-text", address_text="Kel. Melawai, Kebayoran Baru")
    nowhere = raw_qlue(channel_message_id="qlue-none", address_text=None, location=MONAS)
    for r in (by_text, nowhere):
        await publish_bytes(
            common, t.raw("qlue"), r.model_dump_json().encode(), key=r.channel_message_id.encode()
        )

    missing = tmp_path / "no-such-boundaries.geojson"
    async with running(build(_settings(common, missing))) as client:
        out = await read_topic(common, t.normalized, 2)
        dlq = await read_topic(common, t.dlq, 2)
        geocoding = (await client.get("/geocoding")).json()
        ready = await client.get("/readyz")

    reports = {r.report_id: r for r in (NormalizedReport.model_validate_json(x.value) for x in out)}
    text_geo = reports[report_id(by_text)]
    assert text_geo.area is not None and text_geo.area.kelurahan == "Melawai"
    assert text_geo.geocode.method == "text"
    none_geo = reports[report_id(nowhere)]
    assert none_geo.area is None and none_geo.geocode.model_dump() == {"method": "none", "confidence": 0.0}

    letters = sorted((DeadLetter.model_validate_json(d.value) for d in dlq), key=lambda d: d.offset)
    assert [(d.original_topic, d.stage) for d in letters] == [(t.raw("twitter"), "parse")] * 2
    assert letters[0].payload is None and "json" in letters[0].error.lower()  # raw: a pointer only
    assert "channel_message_id" in letters[1].error
    assert dict(dlq[0].headers)["aduan_dlq_stage"] == b"parse"

    assert geocoding == {
        "gps": False,
        "text": True,
        "boundaries": None,
        "kelurahan": 267,
        "snap_distance_m": 250.0,
    }
    assert ready.status_code == 200, json.dumps(ready.json())
