"""Reading X against a local server speaking the X API v2 wire format (``aduan_kit.testing.fake_x``),
the real broker and the real database.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from aduan_ingest_twitter.config import TwitterSettings
from aduan_ingest_twitter.main import build
from aduan_kit.kafka import ensure_topics
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.fake_x import FakeX, StreamPlan, fake_x_server, tweet
from aduan_kit.testing.ingest import ingest_count
from aduan_kit.testing.kafka import eventually, read_topic
from aduan_schemas.events import RawTwitter

SECRET = "twitter-test-secret-0123456789"
CITY = {"DKIJakarta": "100", "jakartagoid": "101"}  # config/jakarta/twitter.yaml
DKI = CITY["DKIJakarta"]


@pytest.fixture
def x() -> Iterator[FakeX]:
    with fake_x_server() as server:
        server.users.update(CITY)
        yield server


def service(common: CommonSettings, x: FakeX, **overrides: Any) -> FastAPI:
    settings: dict[str, Any] = {
        "common": common,
        "webhook_secret": SECRET,
        "api_url": x.url,
        "bearer_token": x.token,
        "poll_interval_s": 0.3,
        "stall_timeout_s": 2,
        "backoff_network_step_s": 0.05,
        "backoff_http_start_s": 0.05,
        "backoff_rate_limit_start_s": 0.05,
        **overrides,
    }
    return build(TwitterSettings(**settings))


async def published(common: CommonSettings, count: int, settle: float = 1.0) -> list[RawTwitter]:
    await ensure_topics(common.kafka_bootstrap, [(common.topics.raw("twitter"), 6)])
    records = await read_topic(common, common.topics.raw("twitter"), count, timeout=20, settle=settle)
    return [RawTwitter.model_validate_json(r.value) for r in records]


def ids(events: list[RawTwitter]) -> list[str]:
    return sorted(e.channel_message_id for e in events)


async def test_stream_publishes_citizen_tweets_only(common: CommonSettings, x: FakeX) -> None:
    """Geo, place, media, author, conversation and reply ids are kept; a retweet, the city's own reply
    and a malformed line are not published and do not stop the stream. Rules for the city's accounts and
    hashtag replace stale ones of ours, and leave others' rules alone. (Fails if ignore_reason is not
    consulted: the retweet and the city's reply are published.)"""
    x.rules = [
        {"id": "7", "value": "@oldaccount", "tag": "aduan:mention:oldaccount"},
        {"id": "8", "value": "from:someone", "tag": "marketing"},
    ]
    full = tweet(
        2001,
        in_reply_to_user_id=DKI,
        referenced_tweets=[{"type": "replied_to", "id": "1999"}],
        geo={"coordinates": {"type": "Point", "coordinates": [106.8506, -6.1944]}, "place_id": "p1"},
        attachments={"media_keys": ["3_1"]},
    )
    full["includes"]["media"] = [
        {"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/j.jpg"}
    ]
    full["includes"]["places"] = [{"id": "p1", "full_name": "Salemba, Indonesia"}]
    retweet = tweet(2002, "RT @warga: banjir", referenced_tweets=[{"type": "retweeted", "id": "1990"}])
    own = tweet(2003, "@warga500 Terima kasih, laporan diteruskan", author_id=DKI)
    x.plan(StreamPlan(tweets=[full, retweet, own]))
    async with running(service(common, x)) as client:
        await eventually(lambda: x.connects(), timeout=10)
        x.live.put(b'{"data": {"id": "2004", "text": ')
        x.push(tweet(2005, "@jakartagoid lampu PJU mati #BanjirJakarta"))
        events = await published(common, 2)
        metrics = (await client.get("/metrics")).text
        ready = await client.get("/readyz")
    assert ids(events) == ["2001", "2005"]
    e = next(e for e in events if e.channel_message_id == "2001")
    assert e.location is not None and (e.location.lat, e.location.lon) == (-6.1944, 106.8506)
    assert e.address_text == "Salemba, Indonesia"
    assert [a.url for a in e.attachments] == ["https://pbs.twimg.com/media/j.jpg"]
    assert e.reporter is not None and e.reporter.handle == "@warga500"
    assert e.raw is not None and e.raw["data"]["conversation_id"] == "2001"
    assert e.raw["data"]["in_reply_to_user_id"] == DKI
    assert e.raw["data"]["referenced_tweets"] == [{"type": "replied_to", "id": "1999"}]
    assert sorted((r["tag"], r["value"]) for r in x.rules) == [
        ("aduan:hashtag:banjirjakarta", "#BanjirJakarta -is:retweet -from:DKIJakarta -from:jakartagoid"),
        ("aduan:mention:dkijakarta", "@DKIJakarta -is:retweet -from:DKIJakarta"),
        ("aduan:mention:jakartagoid", "@jakartagoid -is:retweet -from:jakartagoid"),
        ("marketing", "from:someone"),
    ]
    assert (
        ingest_count(metrics, "twitter", "skipped") >= 2 and ingest_count(metrics, "twitter", "invalid") >= 1
    )
    assert ready.status_code == 200 and ready.json()["checks"]["x_api"] is True


async def test_keepalives_hold_the_stream_and_a_stall_reconnects(common: CommonSettings, x: FakeX) -> None:
    """A stream sending only keep-alives is kept for three stall timeouts; one sending nothing is
    dropped after the stall timeout and reconnected. (Fails if the stall timeout in XApi._lines is
    removed: the stalled stream is never left.)"""
    x.plan(StreamPlan(then="hold"))
    async with running(service(common, x, stall_timeout_s=0.6, stream=True)):
        await eventually(lambda: x.connects(), timeout=10)
        # Keep-alives only, for three stall timeouts (one every 0.2 s).
        await eventually(lambda: x.keepalives >= 9, timeout=10, interval=0.05)
        assert len(x.connects()) == 1, "keep-alives did not keep the stream"
        x.plan(StreamPlan(then="stall"))
        x.close_streams()
        await eventually(lambda: len(x.connects()) >= 3, timeout=10)
    _, stalled, third = x.connects()[:3]
    assert third - stalled >= 0.6


async def test_reconnects_back_off_as_x_documents(common: CommonSettings, x: FakeX) -> None:
    """Network errors: linear; HTTP errors: exponential; 429: until x-rate-limit-reset. (Fails if the
    x-rate-limit-reset header is ignored: the reconnection after the 429 comes 0.05 s later.)"""
    reset = int(time.time()) + 5  # later than the back-offs before it (0.3 + 0.6 + 0.4 + 0.8 s)
    x.plan(
        StreamPlan(then="reset"),
        StreamPlan(then="reset"),
        StreamPlan(status=503),
        StreamPlan(status=503),
        StreamPlan(status=429, headers={"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"}),
        StreamPlan(then="hold"),
    )
    settings = {
        "backoff_network_step_s": 0.3,
        "backoff_http_start_s": 0.4,
        "backoff_rate_limit_start_s": 0.05,
    }
    async with running(service(common, x, **settings)):
        await eventually(lambda: len(x.connects()) >= 6, timeout=20)
    t = x.connects()
    gaps = [b - a for a, b in itertools.pairwise(t)]
    assert 0.3 <= gaps[0] < 0.6 and 0.6 <= gaps[1] < 0.9  # network: 0.3 s, 0.6 s
    assert gaps[2] >= 0.4 and gaps[3] >= 0.8  # after the first and second 503: 0.4 s, 0.8 s
    assert t[5] >= reset - 0.05  # the 429 is honoured until its reset time


async def test_poller_restart_neither_misses_nor_rereads(common: CommonSettings, x: FakeX) -> None:
    """With the stream off, mentions are read from the timeline; after a restart only the mentions
    that arrived meanwhile are read. A malformed tweet is refused and does not hold the others back.
    (Fails if TwitterSource.poll does not advance the checkpoint: 3001 and 3002 are published again.)"""
    x.mention(
        DKI,
        tweet(3001),
        tweet(3002),
        tweet(3003, geo={"coordinates": {"type": "Point", "coordinates": [1, 2, 3]}}),
    )
    async with running(service(common, x, stream=False)):
        await published(common, 2, settle=0.5)
    x.mention(DKI, tweet(3004), tweet(3005))
    async with running(service(common, x, stream=False)):
        events = await published(common, 4, settle=1.5)
    assert ids(events) == ["3001", "3002", "3004", "3005"]
    asked = [q.get("since_id") for q in x.mention_requests if q["user_id"] == DKI]
    assert asked[-1] == "3005"


async def test_stream_moves_the_checkpoint_so_a_restart_reads_only_the_gap(
    common: CommonSettings, x: FakeX
) -> None:
    """Catch-up at start, a tweet through the stream, a stop, a mention while down, a restart: each
    tweet is published once. (Fails if streamed mentions do not advance the checkpoint
    (TwitterSource._on_line): 4002 is read again from the timeline after the restart.)"""
    x.mention(DKI, tweet(4001))
    app = service(common, x)
    async with running(app):
        await published(common, 1, settle=0)
        await eventually(lambda: caught_up(app), timeout=10)
        x.mention(DKI, tweet(4002))  # X has it in the timeline too
        x.push(tweet(4002))
        await published(common, 2, settle=0)
    x.close_streams()
    x.mention(DKI, tweet(4003))
    async with running(service(common, x)):
        events = await published(common, 3, settle=1.5)
    assert ids(events) == ["4001", "4002", "4003"]


async def test_stop_mid_poll_then_restart_publishes_each_tweet_once(common: CommonSettings, x: FakeX) -> None:
    """Stopped while publishing 100 mentions, restarted: every one is on the topic exactly once.
    (Fails if the checkpoint is advanced only after the whole poll, not after each tweet: the restart
    publishes the done part again. Without the shield in TwitterSource._finish a stop during a publish
    can leave it unrecorded, and the restart publishes that one twice.)"""
    x.mention(DKI, *[tweet(5000 + i) for i in range(100)])
    async with running(service(common, x, stream=False)) as client:

        async def some() -> bool:
            return ingest_count((await client.get("/metrics")).text, "twitter", "accepted") >= start + 3

        start = ingest_count((await client.get("/metrics")).text, "twitter", "accepted")
        await eventually(some, timeout=20, interval=0.01)
    assert len(await read_topic(common, common.topics.raw("twitter"), 100, timeout=1)) < 100
    async with running(service(common, x, stream=False)):
        events = await published(common, 100, settle=1.5)
    assert ids(events) == [str(5000 + i) for i in range(100)]


def caught_up(app: FastAPI) -> bool:
    """The catch-up read after the stream connected has finished: the stream now moves the checkpoint."""
    source = app.state.x_source.get("source")
    return source is not None and source.state.contiguous
