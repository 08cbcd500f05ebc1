"""The X webhook against the real broker: signed tweets land on aduan.raw.twitter, nothing else does."""

import json
from typing import Any

import pytest
from fastapi import FastAPI

from aduan_ingest_twitter.config import TwitterSettings
from aduan_ingest_twitter.main import build
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.ingest import Signer, assert_published, assert_rejected, assert_secret_required
from aduan_schemas.events import RawTwitter

SECRET = "twitter-test-secret-0123456789"
SIGNER = Signer(SECRET, {"content-type": "application/json"})
signed = SIGNER.signed
TWEET_ID = "1765012345678901234"


def tweet() -> bytes:
    return json.dumps(
        {
            "data": {
                "id": TWEET_ID,
                "text": "@DKIJakarta pohon tumbang menutup Jl. Cikini Raya",
                "created_at": "2026-03-02T01:15:00.000Z",
                "author_id": "2244994945",
            },
            "includes": {"users": [{"id": "2244994945", "username": "warga_cikini", "name": "Warga Cikini"}]},
        }
    ).encode()


def service(common: CommonSettings, **overrides: Any) -> FastAPI:
    return build(TwitterSettings(common=common, webhook_secret=SECRET, **overrides))  # type: ignore[arg-type]


async def test_signed_tweet_is_published_keyed_by_its_tweet_id(common: CommonSettings) -> None:
    raw = await assert_published(common, "twitter", service(common), tweet(), signed, TWEET_ID, RawTwitter)
    assert raw.reporter is not None and raw.reporter.handle == "@warga_cikini"
    assert raw.raw == json.loads(tweet())


REJECTED = [
    *SIGNER.rejections(tweet()),
    ("malformed JSON", b'{"data": {"id": "1"', signed, 422, "malformed JSON"),
    ("schema-invalid", json.dumps({"data": {"id": "1"}}).encode(), signed, 422, "data.text: Field required"),
    ("oversized", b'{"data": {"text": "' + b"a" * 1_000_001 + b'"}}', signed, 413, "exceeds 1000000 bytes"),
]


async def test_rejected_requests_publish_nothing(common: CommonSettings) -> None:
    await assert_rejected(common, "twitter", service(common), REJECTED)


def test_missing_or_short_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_secret_required(monkeypatch, TwitterSettings, "ADUAN_INGEST_TWITTER_WEBHOOK_SECRET")
