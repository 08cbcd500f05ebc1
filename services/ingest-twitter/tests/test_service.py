"""The X webhook against the real broker: signed tweets land on aduan.raw.twitter, nothing else does."""

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from aduan_ingest_twitter.config import TwitterSettings
from aduan_ingest_twitter.main import build
from aduan_kit.ingest import load_ingest_settings
from aduan_kit.kafka import ensure_topics
from aduan_kit.settings import CommonSettings
from aduan_kit.signing import sign
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_all_topics, read_topic
from aduan_schemas.events import RawTwitter

SECRET = "twitter-test-secret-0123456789"
PATH = "/v1/reports"
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


def settings(common: CommonSettings, **overrides: Any) -> TwitterSettings:
    return TwitterSettings(common=common, webhook_secret=SECRET, **overrides)  # type: ignore[arg-type]


async def test_signed_tweet_is_published_keyed_by_its_tweet_id(common: CommonSettings) -> None:
    await create_all_topics(common)
    body = tweet()
    async with running(build(settings(common))) as client:
        resp = await client.post(
            PATH, content=body, headers={**sign(SECRET, body), "content-type": "application/json"}
        )
        records = await read_topic(common, common.topics.raw("twitter"), 1, settle=0.5)
        metrics_text = (await client.get("/metrics")).text

    assert resp.status_code == 202, resp.text
    assert resp.json() == {"status": "accepted", "channel": "twitter", "channel_message_id": TWEET_ID}
    assert len(records) == 1
    rec = records[0]
    assert rec.key == TWEET_ID.encode()
    headers = dict(rec.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"aduan.report.raw.v1"
    assert headers["ce_id"] == f"raw:twitter:{TWEET_ID}".encode()
    assert headers["ce_source"] == b"/aduan/ingest-twitter"
    raw = RawTwitter.model_validate_json(rec.value)
    assert raw.reporter is not None and raw.reporter.handle == "@warga_cikini"
    assert raw.raw == json.loads(body)
    assert 'aduan_ingest_requests_total{channel="twitter",outcome="accepted"}' in metrics_text


def signed(body: bytes) -> dict[str, str]:
    return sign(SECRET, body)


REJECTED: list[tuple[str, bytes, Callable[[bytes], dict[str, str]], int, str]] = [
    ("unsigned", tweet(), lambda body: {}, 401, "missing X-Aduan-Timestamp"),
    ("bad signature", tweet(), lambda body: sign("another-secret-0123456789", body), 401, "does not match"),
    (
        "malformed signature",
        tweet(),
        lambda body: {**signed(body), "X-Aduan-Signature": "md5=x"},
        401,
        "match",
    ),
    ("stale timestamp", tweet(), lambda body: sign(SECRET, body, int(time.time()) - 3_600), 401, "window"),
    ("malformed JSON", b'{"data": {"id": "1"', signed, 422, "malformed JSON"),
    ("schema-invalid", json.dumps({"data": {"id": "1"}}).encode(), signed, 422, "data.text: Field required"),
    ("oversized", b'{"data": {"text": "' + b"a" * 1_000_001 + b'"}}', signed, 413, "exceeds 1000000 bytes"),
]


async def test_rejected_requests_publish_nothing(common: CommonSettings) -> None:
    topic = common.topics.raw("twitter")
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
        assert f'aduan_ingest_requests_total{{channel="twitter",outcome="{outcome}"}}' in metrics_text


def test_missing_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADUAN_INGEST_TWITTER_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SystemExit, match="ADUAN_INGEST_TWITTER_WEBHOOK_SECRET: Field required"):
        load_ingest_settings(TwitterSettings)
