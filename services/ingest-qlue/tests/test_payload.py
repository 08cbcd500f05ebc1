"""The Qlue wire format -> RawQlue (pure)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from aduan_ingest_qlue.payload import parse_qlue
from aduan_kit.ingest import PayloadError, describe_error

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def qlue(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "QLU-20260302-000123",
        "created_at": "2026-03-02T15:42:10+07:00",
        "description": "Sampah menumpuk di depan pasar, sudah 3 hari tidak diangkut",
        "category": "Sampah",
        "lat": -6.1754,
        "lng": 106.8272,
        "address": "Jl. Medan Merdeka Barat No. 12, Gambir",
        "photos": ["https://media.qlue.example/r/000123-1.jpg"],
        "user": {"id": "u-88121", "name": "Budi Santoso", "phone": "+6281234567890"},
        "status": "waiting",
    }
    payload.update(overrides)
    return payload


def parse(payload: dict[str, Any], now: datetime = NOW) -> Any:
    return parse_qlue(json.dumps(payload).encode(), now)


def test_full_report_maps_every_field() -> None:
    payload = qlue()
    r = parse(payload, now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert r.channel == "qlue" and r.channel_message_id == "QLU-20260302-000123"
    assert r.received_at == datetime(2026, 3, 2, 8, 42, 10, tzinfo=UTC)
    assert r.text.startswith("Sampah menumpuk")
    assert r.category_hint == "Sampah"
    assert r.location is not None and (r.location.lat, r.location.lon) == (-6.1754, 106.8272)
    assert r.address_text == "Jl. Medan Merdeka Barat No. 12, Gambir"
    assert r.reporter is not None
    assert (r.reporter.handle, r.reporter.name, r.reporter.phone) == (
        "u-88121",
        "Budi Santoso",
        "+6281234567890",
    )
    assert [(a.url, a.media_type) for a in r.attachments] == [
        ("https://media.qlue.example/r/000123-1.jpg", "image")
    ]
    assert r.raw == payload  # the whole original, unknown fields included


def test_minimal_report() -> None:
    r = parse({"id": "QLU-1", "created_at": "2026-03-02T01:00:00Z", "description": "Lampu jalan mati"})
    assert (r.text, r.category_hint, r.location, r.address_text, r.reporter, r.attachments) == (
        "Lampu jalan mati",
        None,
        None,
        None,
        None,
        [],
    )


def test_category_is_kept_verbatim() -> None:
    assert parse(qlue(category="Parkir Liar ")).category_hint == "Parkir Liar"


def test_zero_zero_is_kept_for_the_kit_to_flag() -> None:
    r = parse(qlue(lat=0, lng=0))
    assert r.location is not None and (r.location.lat, r.location.lon) == (0, 0)


def test_half_a_location_is_rejected() -> None:
    with pytest.raises(PayloadError, match="lat and lng"):
        parse(qlue(lng=None))


def test_out_of_range_coordinates_are_rejected() -> None:
    with pytest.raises(ValidationError):
        parse(qlue(lat=-96.2))


def test_a_clock_ahead_of_ours_does_not_move_receipt_into_the_future() -> None:
    ahead = NOW + timedelta(minutes=5)
    assert parse(qlue(created_at=ahead.isoformat())).received_at == NOW


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"id": ""}, "id"),
        ({"created_at": "2026-03-02T15:42:10"}, "created_at"),  # no offset: ambiguous
        ({"description": None}, "description"),
        ({"photos": ["file:///etc/passwd"]}, "photos.0"),
        ({"photos": [f"https://m.example/{i}.jpg" for i in range(21)]}, "photos"),
        ({"user": "budi"}, "user"),
    ],
)
def test_schema_violations_name_the_field(change: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse(qlue(**change))
    assert describe_error(info.value).startswith(f"invalid payload: {where}: ")


def test_missing_required_fields_are_listed_without_echoing_values() -> None:
    payload = qlue()
    del payload["id"], payload["created_at"]
    payload["lat"] = "+6281234567890"
    with pytest.raises(ValidationError) as info:
        parse(payload)
    reason = describe_error(info.value)
    assert "id: Field required" in reason and "created_at: Field required" in reason
    assert "6281234567890" not in reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"\xff\xfe\x00", "malformed JSON"),
        (b'{"id": "QLU-1", "lat": NaN}', "NaN is not allowed"),
        (b"[1, 2]", "expected a JSON object, got list"),
    ],
)
def test_malformed_json_is_rejected(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_qlue(body, NOW)
