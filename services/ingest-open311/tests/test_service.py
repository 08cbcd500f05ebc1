"""GeoReport v2 against the real broker: service list, form and JSON requests, keys, re-delivery, restart.

Breakages tried: comparing the key itself instead of its digest makes ``test_bad_or_missing_key_is_403``
fail; dropping ``description`` from the request digest makes ``test_a_different_request_gets_another_id``
fail.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from fastapi import FastAPI

from aduan_ingest_open311.config import Open311Settings
from aduan_ingest_open311.georeport import request_id
from aduan_ingest_open311.main import build
from aduan_kit.settings import CommonSettings, load_settings
from aduan_kit.testing.app import running
from aduan_kit.testing.broker import OwnBroker
from aduan_kit.testing.ingest import assert_restart_keeps_outbox, ingest_count
from aduan_kit.testing.kafka import create_topics, read_topic
from aduan_schemas.events import RawOpen311
from aduan_schemas.ids import report_id_for

KEY = "balai-warga-key-0123456789abcdef"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


def service(common: CommonSettings, tmp_path: Path, **overrides: Any) -> FastAPI:
    hashes = {"balai-warga": hashlib.sha256(KEY.encode()).hexdigest()}
    return build(Open311Settings(common=common, api_key_hashes=hashes, outbox_dir=tmp_path, **overrides))


def request(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "api_key": KEY,
        "service_code": "sampah",
        "lat": -6.1754,
        "long": 106.8272,
        "address_string": "Jl. Medan Merdeka Barat",
        "description": "Sampah menumpuk di trotoar",
        "first_name": "Siti",
        "last_name": "Aminah",
        "email": "siti@example.org",
        "media_url": "https://foto.example/1.jpg",
    }
    args.update(overrides)
    return {k: v for k, v in args.items() if v is not None}


def form(**overrides: Any) -> bytes:
    return urlencode(request(**overrides)).encode()


async def test_services_list_the_city_categories(common: CommonSettings, tmp_path: Path) -> None:
    async with running(service(common, tmp_path)) as client:
        resp = await client.get("/services.json")
    codes = {s["service_code"]: s for s in resp.json()}
    assert resp.status_code == 200 and codes["sampah"]["service_name"] == "Sampah"
    assert codes["sampah"]["type"] == "realtime" and codes["sampah"]["metadata"] is False
    assert len(codes) == len(common.load_city().taxonomy.categories)


@pytest.mark.parametrize(("body", "headers"), [(form(), FORM), (json.dumps(request()).encode(), JSON)])
async def test_a_request_is_published_and_answered_with_its_id(
    common: CommonSettings, tmp_path: Path, body: bytes, headers: dict[str, str]
) -> None:
    await create_topics(common)
    async with running(service(common, tmp_path)) as client:
        resp = await client.post("/requests.json", content=body, headers=headers)
        records = await read_topic(common, common.topics.raw("open311"), 1, settle=1.0)
    assert resp.status_code == 200, resp.text
    (answer,) = resp.json()
    assert len(records) == 1
    raw = RawOpen311.model_validate_json(records[0].value)
    assert answer["service_request_id"] == report_id_for("open311", raw.channel_message_id)
    assert raw.channel_message_id.startswith("balai-warga:") and raw.client == "balai-warga"
    assert (raw.service_code, raw.category_hint, raw.text) == (
        "sampah",
        "Sampah",
        "Sampah menumpuk di trotoar",
    )
    assert raw.location is not None and (raw.location.lat, raw.location.lon) == (-6.1754, 106.8272)
    assert raw.reporter is not None and (raw.reporter.name, raw.reporter.email) == (
        "Siti Aminah",
        "siti@example.org",
    )
    assert [a.url for a in raw.attachments] == ["https://foto.example/1.jpg"]
    assert raw.raw is not None and "api_key" not in raw.raw


async def test_re_delivery_gets_the_same_id_and_one_record(common: CommonSettings, tmp_path: Path) -> None:
    await create_topics(common)
    async with running(service(common, tmp_path)) as client:
        first = await client.post("/requests.json", content=form(), headers=FORM)
        again = await client.post("/requests.json", content=form(), headers=FORM)
        keyed = [
            await client.post(
                "/requests.json",
                content=form(description="lain"),
                headers={**FORM, "Idempotency-Key": "desk-7"},
            )
            for _ in range(2)
        ]
        records = await read_topic(common, common.topics.raw("open311"), 2, settle=1.5)
    assert first.json() == again.json()
    assert keyed[0].json() == keyed[1].json() and keyed[0].json() != first.json()
    assert sorted(r.key for r in records) == sorted({r.key for r in records}) and len(records) == 2


async def test_a_different_request_gets_another_id(common: CommonSettings, tmp_path: Path) -> None:
    async with running(service(common, tmp_path)) as client:
        a = await client.post("/requests.json", content=form(), headers=FORM)
        b = await client.post("/requests.json", content=form(description="Lampu mati"), headers=FORM)
    assert a.json()[0]["service_request_id"] != b.json()[0]["service_request_id"]


async def test_bad_or_missing_key_is_403(common: CommonSettings, tmp_path: Path) -> None:
    async with running(service(common, tmp_path)) as client:
        wrong = await client.post("/requests.json", content=form(api_key="x" * 32), headers=FORM)
        missing = await client.post("/requests.json", content=form(api_key=None), headers=FORM)
        header = await client.post(
            "/requests.json", content=form(api_key=None), headers={**FORM, "X-Api-Key": KEY}
        )
    assert wrong.status_code == missing.status_code == 403
    assert wrong.json() == [{"code": 403, "description": "api_key missing or not valid"}]
    assert header.status_code == 200


MALFORMED = [
    ("unknown service", form(service_code="ufo"), FORM, 400, "service_code: unknown service"),
    ("no location", form(lat=None, long=None, address_string=None), FORM, 400, "a location is required"),
    ("half a location", form(long=None), FORM, 400, "lat and long"),
    ("bad media url", form(media_url="file:///etc/passwd"), FORM, 400, "media_url"),
    ("malformed JSON", b'{"service_code": ', JSON, 400, "malformed JSON"),
    ("unsupported type", b"<xml/>", {"content-type": "text/xml"}, 400, "unsupported content type"),
    ("oversized", b"a" * 1_000_001, FORM, 413, "exceeds 1000000 bytes"),
]


async def test_malformed_requests_are_refused_and_publish_nothing(
    common: CommonSettings, tmp_path: Path
) -> None:
    await create_topics(common)
    async with running(service(common, tmp_path)) as client:
        for case, body, headers, status, reason in MALFORMED:
            resp = await client.post("/requests.json", content=body, headers=headers)
            assert resp.status_code == status, f"{case}: {resp.text}"
            assert reason in resp.json()[0]["description"], case
        metrics_text = (await client.get("/metrics")).text
    assert await read_topic(common, common.topics.raw("open311"), 1, timeout=1.5) == []
    assert ingest_count(metrics_text, "open311", "invalid") == len(MALFORMED) - 1


async def test_restart_mid_work_loses_and_doubles_nothing(
    own_broker: OwnBroker, common: CommonSettings, tmp_path: Path
) -> None:
    """Fails with the outbox in ``:memory:`` (the request only the first adapter saw is missing)."""
    one, two = form(description="satu"), form(description="dua")
    now = datetime.now(UTC)
    keys = [request_id("balai-warga", dict(parse_qsl(b.decode())), None, now) for b in (one, two)]
    await assert_restart_keeps_outbox(
        own_broker,
        common,
        "open311",
        lambda c: service(c, tmp_path),
        before=[(one, FORM), (one, FORM)],
        after=[(two, FORM)],
        expected_keys=keys,
        path="/requests.json",
        ok=200,
    )


def test_start_up_needs_a_client_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADUAN_INGEST_OPEN311_API_KEY_HASHES", raising=False)
    with pytest.raises(SystemExit, match="at least one client key"):
        load_settings(Open311Settings)
    monkeypatch.setenv("ADUAN_INGEST_OPEN311_API_KEY_HASHES", '{"desk": "not-a-digest"}')
    with pytest.raises(SystemExit, match="not a lowercase SHA-256 hex digest for: desk"):
        load_settings(Open311Settings)
