"""Test helpers for ingest adapters (``aduan_kit.ingest``): signed requests, rejections, accepted records.

Every channel's webhook shares the signature check, the rejection statuses, the start-up check of its
secret and the shape of what it publishes; these helpers state those once. A channel's own tests keep
what is particular to it: its payloads, the invalid ones it must refuse and the fields of its raw event.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI

from aduan_kit.ingest import IngestSettings
from aduan_kit.kafka import ensure_topics
from aduan_kit.settings import CommonSettings, load_settings
from aduan_kit.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from aduan_kit.testing.app import running
from aduan_kit.testing.broker import OwnBroker
from aduan_kit.testing.kafka import create_topics, eventually, read_topic
from aduan_schemas.events import RawReport
from aduan_schemas.ids import report_id_for

WEBHOOK_PATH = "/v1/reports"
"""Where senders post reports. Spelled out rather than imported, so that moving it fails the tests."""

Headers = Callable[[bytes], Mapping[str, str | bytes]]
"""Builds a request's headers from the body it is sent with (bytes: sent as they are, e.g. not ASCII)."""

Rejected = tuple[str, bytes, Headers, int, str]
"""A request that must be refused: (case name, body, headers, HTTP status, text in the ``detail``)."""


def on_wire(headers: Mapping[str, str | bytes]) -> list[tuple[bytes, bytes]]:
    """Headers as bytes, so a test can send what a client library would refuse to encode."""
    return [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in headers.items()]


OTHER_SECRET = "another-secret-0123456789"
STALE_S = 3_600  # well outside the default 300 s window
WINDOW_S = 300  # the default signature window; "just outside" is one second past it

OUTCOMES = {401: "unauthorized", 413: "too_large", 422: "invalid"}
"""The ``aduan_ingest_requests_total`` outcome a rejection with each status is counted under."""

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

R = TypeVar("R", bound=RawReport)


@dataclass(frozen=True)
class Signer:
    """Header builders for one webhook secret. ``extra`` headers (e.g. content-type) go on every request.

    ``signed`` signs afresh at every call, as a sender's retry must: the same body signed again within
    the same second gets the next second as its timestamp, since a byte-identical request (same
    timestamp, same body) is a replay (401). A test that means to replay reuses the headers it got."""

    secret: str
    extra: Mapping[str, str] = field(default_factory=dict)
    _last: dict[bytes, int] = field(default_factory=dict, compare=False, repr=False)

    def signed(self, body: bytes) -> dict[str, str]:
        key = hashlib.sha256(body).digest()
        ts = max(int(time.time()), self._last.get(key, 0) + 1)
        self._last[key] = ts
        return {**sign(self.secret, body, ts), **self.extra}

    def unsigned(self, body: bytes) -> dict[str, str]:
        return dict(self.extra)

    def wrong_key(self, body: bytes) -> dict[str, str]:
        return {**sign(OTHER_SECRET, body), **self.extra}

    def malformed(self, body: bytes) -> dict[str, str]:
        return {**self.signed(body), SIGNATURE_HEADER: "md5=x"}

    def tampered(self, body: bytes) -> dict[str, str]:
        """Signed for another body: the one sent was changed after signing."""
        return {**sign(self.secret, body + b" "), **self.extra}

    def at(self, offset_s: int) -> Headers:
        """Correctly signed, with a timestamp ``offset_s`` seconds from now."""
        return lambda body: {**sign(self.secret, body, int(time.time()) + offset_s), **self.extra}

    def stale(self, body: bytes) -> dict[str, str]:
        return {**sign(self.secret, body, int(time.time()) - STALE_S), **self.extra}

    def non_ascii(self, body: bytes) -> dict[str, str | bytes]:
        """A signature header of UTF-8 bytes (a comparison of non-ASCII text raises instead of failing)."""
        return {**self.signed(body), SIGNATURE_HEADER: "sha256=é".encode()}

    def non_ascii_timestamp(self, body: bytes) -> dict[str, str | bytes]:
        """Full-width digits: Python's int() reads them, the check must not."""
        return {**self.signed(body), TIMESTAMP_HEADER: str(int(time.time())).translate(FULL_WIDTH).encode()}

    def rejections(self, body: bytes) -> list[Rejected]:
        """The signature failures every channel refuses with 401; ``body`` is a valid payload."""
        return [
            ("unsigned", body, self.unsigned, 401, "missing X-Aduan-Timestamp"),
            ("bad signature", body, self.wrong_key, 401, "signature does not match"),
            ("malformed signature", body, self.malformed, 401, "signature does not match"),
            ("tampered body", body, self.tampered, 401, "signature does not match"),
            ("stale timestamp", body, self.stale, 401, "outside the 300 s window"),
            ("just past the window", body, self.at(-WINDOW_S - 2), 401, "outside the 300 s window"),
            ("future timestamp", body, self.at(STALE_S), 401, "outside the 300 s window"),
            ("just ahead of the window", body, self.at(WINDOW_S + 2), 401, "outside the 300 s window"),
            ("non-ASCII signature", body, self.non_ascii, 401, "signature does not match"),
            ("non-ASCII timestamp", body, self.non_ascii_timestamp, 401, "not Unix seconds"),
        ]


def ingest_count(metrics_text: str, channel: str, outcome: str) -> float:
    """The value of ``aduan_ingest_requests_total`` for ``channel`` and ``outcome`` (0 when absent)."""
    sample = f'aduan_ingest_requests_total{{channel="{channel}",outcome="{outcome}"}} '
    for line in metrics_text.splitlines():
        if line.startswith(sample):
            return float(line[len(sample) :])
    return 0.0


async def assert_rejected(
    common: CommonSettings, channel: str, app: FastAPI, cases: Sequence[Rejected], path: str = WEBHOOK_PATH
) -> None:
    """POST every case to ``app``: each gets its status and reason, is counted under its outcome, and
    nothing reaches ``aduan.raw.<channel>``.

    ``cases`` must cover each rejection status (401, 413, 422). The topic is the test's own (``common``
    has a prefix per test), so any record on it came from one of these requests.
    """
    statuses = {status for _, _, _, status, _ in cases}
    assert statuses >= OUTCOMES.keys(), (
        f"cases cover statuses {sorted(statuses)}, not all of {list(OUTCOMES)}"
    )
    topic = common.topics.raw(channel)
    await ensure_topics(common.kafka_bootstrap, [(topic, 3)])
    async with running(app) as client:
        before = (await client.get("/metrics")).text
        for case, body, headers, status, reason in cases:
            resp = await client.post(path, content=body, headers=on_wire(headers(body)))
            assert resp.status_code == status, f"{case}: {resp.text}"
            assert reason in resp.json()["detail"], case
        after = (await client.get("/metrics")).text
    published = await read_topic(common, topic, 1, timeout=1.5)
    assert published == [], [r.key for r in published]
    for status, outcome in OUTCOMES.items():
        expected = sum(1 for _, _, _, s, _ in cases if s == status)
        counted = ingest_count(after, channel, outcome) - ingest_count(before, channel, outcome)
        assert counted == expected, f"{outcome}: counted {counted:g}, expected {expected}"


def assert_accepted(
    resp: httpx.Response,
    records: Sequence[ConsumerRecord[Any, Any]],
    channel: str,
    channel_message_id: str,
) -> ConsumerRecord[Any, Any]:
    """The 202 answer to one report and the one raw record it published; returns that record.

    Checks the body (with the ``report_id`` the report keeps downstream), the record's key and its
    CloudEvents headers.
    """
    assert resp.status_code == 202, resp.text
    assert resp.json() == {
        "status": "accepted",
        "channel": channel,
        "channel_message_id": channel_message_id,
        "report_id": report_id_for(channel, channel_message_id),
    }
    assert len(records) == 1, [r.key for r in records]
    rec = records[0]
    assert rec.key == channel_message_id.encode()
    headers = dict(rec.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"aduan.report.raw.v1"
    assert headers["ce_id"] == f"raw:{channel}:{channel_message_id}".encode()
    assert headers["ce_source"] == f"/aduan/ingest-{channel}".encode()
    assert headers["ce_subject"] == channel_message_id.encode()
    assert headers["ce_time"]
    assert headers["content-type"] == b"application/json"
    return rec


async def assert_published(
    common: CommonSettings,
    channel: str,
    app: FastAPI,
    body: bytes,
    headers: Headers,
    channel_message_id: str,
    model: type[R],
    path: str = WEBHOOK_PATH,
) -> R:
    """POST one valid report to ``app``: it is accepted (``assert_accepted``), published once to
    ``aduan.raw.<channel>``, counted as accepted, and the service stays ready.

    Returns the published raw event, parsed with the channel's ``model``, for its test to check the fields.
    """
    await create_topics(common)
    async with running(app) as client:
        before = (await client.get("/metrics")).text
        resp = await client.post(path, content=body, headers=on_wire(headers(body)))
        records = await read_topic(common, common.topics.raw(channel), 1, settle=0.5)
        after = (await client.get("/metrics")).text
        ready = await client.get("/readyz")
    rec = assert_accepted(resp, records, channel, channel_message_id)
    counted = ingest_count(after, channel, "accepted") - ingest_count(before, channel, "accepted")
    assert counted == 1, f"accepted: counted {counted:g}, expected 1"
    assert ready.status_code == 200, ready.text
    raw = model.model_validate_json(rec.value)
    assert (raw.channel, raw.channel_message_id) == (channel, channel_message_id)
    return raw


def assert_secret_required(monkeypatch: pytest.MonkeyPatch, cls: type[IngestSettings], env: str) -> None:
    """Start-up stops, naming ``env``, when the webhook secret is missing or too short (not echoing it)."""
    monkeypatch.delenv(env, raising=False)
    with pytest.raises(SystemExit, match=f"{env}: Field required"):
        load_settings(cls)
    monkeypatch.setenv(env, "secret")
    with pytest.raises(SystemExit, match=f"{env}: .*at least 16 characters") as info:
        load_settings(cls)
    assert "'secret'" not in str(info.value)


Posted = tuple[bytes, dict[str, str]]
"""One request to an adapter: (body, headers)."""


async def assert_restart_keeps_outbox(
    broker: OwnBroker,
    common: CommonSettings,
    channel: str,
    make_app: Callable[[CommonSettings], FastAPI],
    before: Sequence[Posted],
    after: Sequence[Posted],
    expected_keys: Sequence[str],
    path: str = WEBHOOK_PATH,
    ok: int = 202,
) -> list[ConsumerRecord[Any, Any]]:
    """Restart mid-work: ``before`` is accepted while the broker hangs, the adapter stops with all of it
    unpublished, a new one on the same outbox accepts ``after`` (re-deliveries among them), then the
    broker resumes. The raw topic ends with exactly one record per expected key (nothing lost, nothing
    doubled), which is returned. ``make_app`` must give every app the same ``outbox_dir``.
    """
    c = broker.settings(common)
    topic = c.topics.raw(channel)
    await ensure_topics(c.kafka_bootstrap, [(topic, 3)])
    broker.pause()
    for batch in (before, after):
        app = make_app(c)
        async with running(app) as client:
            for body, headers in batch:
                resp = await client.post(path, content=body, headers=headers)
                assert resp.status_code == ok, resp.text
            if batch is after:
                broker.resume()
                await eventually(lambda: app.state.intake.outbox.count == 0, timeout=60)  # noqa: B023
    records = await read_topic(c, topic, len(expected_keys), timeout=30, settle=1.5)
    keys = [r.key.decode() for r in records]
    assert sorted(keys) == sorted(expected_keys), keys
    return records
