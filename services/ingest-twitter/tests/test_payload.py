"""The X API v2 tweet payload -> RawTwitter (pure)."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from aduan_ingest_twitter.payload import parse_tweet
from aduan_kit.ingest import PayloadError, describe_error

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def tweet(data: dict[str, Any] | None = None, includes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "data": {
            "id": "1765012345678901234",
            "text": "@DKIJakarta lampu jalan mati &amp; gelap di Jl. Kramat Raya, rawan begal",
            "created_at": "2026-03-02T01:15:00.000Z",
            "author_id": "2244994945",
            "geo": {
                "coordinates": {"type": "Point", "coordinates": [106.8442, -6.1865]},
                "place_id": "01a9a39529b27f36",
            },
            "attachments": {"media_keys": ["3_1765012340000000000", "7_1765012340000000001"]},
            **(data or {}),
        },
        "includes": includes
        if includes is not None
        else {
            "users": [{"id": "2244994945", "username": "warga_senen", "name": "Warga Senen"}],
            "media": [
                {
                    "media_key": "3_1765012340000000000",
                    "type": "photo",
                    "url": "https://pbs.twimg.com/media/a.jpg",
                },
                {
                    "media_key": "7_1765012340000000001",
                    "type": "video",
                    "preview_image_url": "https://pbs.twimg.com/ext_tw_video_thumb/b.jpg",
                },
            ],
            "places": [{"id": "01a9a39529b27f36", "full_name": "Senen, Indonesia"}],
        },
        "matching_rules": [{"id": "1", "tag": "mention"}],
    }


def parse(payload: dict[str, Any]) -> Any:
    return parse_tweet(json.dumps(payload).encode(), NOW)


def test_tweet_maps_every_field() -> None:
    payload = tweet()
    r = parse(payload)
    assert r.channel == "twitter" and r.channel_message_id == "1765012345678901234"
    assert r.received_at == datetime(2026, 3, 2, 1, 15, tzinfo=UTC)
    assert r.text == "@DKIJakarta lampu jalan mati & gelap di Jl. Kramat Raya, rawan begal"
    assert r.location is not None and (r.location.lat, r.location.lon) == (-6.1865, 106.8442)
    assert r.address_text == "Senen, Indonesia"
    assert r.reporter is not None and (r.reporter.handle, r.reporter.name) == ("@warga_senen", "Warga Senen")
    assert [(a.url, a.media_type) for a in r.attachments] == [
        ("https://pbs.twimg.com/media/a.jpg", "image"),
        ("https://pbs.twimg.com/ext_tw_video_thumb/b.jpg", "video"),
    ]
    assert r.category_hint is None
    assert r.raw == payload


def test_minimal_tweet_is_received_now_without_author_or_place() -> None:
    r = parse({"data": {"id": "1", "text": "Banjir di Kampung Melayu"}})
    assert r.received_at == NOW
    assert (r.location, r.address_text, r.reporter, r.attachments) == (None, None, None, [])


def test_long_tweet_uses_the_note_tweet_text() -> None:
    full = "Jalan rusak parah " * 30
    r = parse(tweet({"text": full[:270] + "…", "note_tweet": {"text": full}}))
    assert r.text == full.strip()


def test_author_missing_from_includes_gives_no_reporter() -> None:
    assert parse(tweet({"author_id": "99"})).reporter is None


def test_media_keys_without_a_media_object_are_skipped() -> None:
    r = parse(tweet(includes={"users": [], "media": []}))
    assert r.attachments == [] and r.address_text is None


def test_coordinates_are_longitude_first() -> None:
    with pytest.raises(PayloadError, match=r"\[longitude, latitude\]"):
        parse(tweet({"geo": {"coordinates": {"type": "Point", "coordinates": [-6.18, 106.84]}}}))


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"includes": {}}, "data"),
        ({"data": {"id": "1"}}, "data.text"),
        ({"data": {"id": "tweet-1", "text": "x"}}, "data.id"),
        ({"data": {"id": "1", "text": "x", "created_at": "yesterday"}}, "data.created_at"),
        (
            {
                "data": {
                    "id": "1",
                    "text": "x",
                    "geo": {"coordinates": {"type": "Polygon", "coordinates": [1, 2]}},
                }
            },
            "data.geo.coordinates.type",
        ),
    ],
)
def test_schema_violations_name_the_field(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse(payload)
    assert describe_error(info.value).startswith(f"invalid payload: {where}: ")


@pytest.mark.parametrize("body", [b"{not json", b"null", b'"a tweet"'])
def test_malformed_json_is_rejected(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_tweet(body, NOW)
