"""The SMS webhook against the real broker: single messages, parts reassembled, rejections, restarts."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from aduan_ingest_sms.config import SmsSettings
from aduan_ingest_sms.main import build
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
)
from aduan_kit.testing.kafka import create_topics, read_topic
from aduan_schemas.events import RawSms

SECRET = "sms-test-secret-0123456789"
SIGNER = Signer(SECRET, {"content-type": "application/json"})
signed = SIGNER.signed


def sms(msg_id: str = "gw-100", text: str = "Selokan mampet di RT 03", **extra: Any) -> bytes:
    body = {
        "id": msg_id,
        "from": "081234567890",
        "to": "1708",
        "text": text,
        "timestamp": "2026-03-02T15:40:00+07:00",
    }
    return json.dumps({**body, **extra}).encode()


def part(n: int, text: str, total: int = 2, ref: int = 7) -> bytes:
    return sms(f"gw-p{n}", text, concat={"ref": ref, "part": n, "total": total})


def service(common: CommonSettings, **overrides: Any) -> FastAPI:
    return build(SmsSettings(common=common, webhook_secret=SECRET, **overrides))  # type: ignore[arg-type]


async def test_signed_sms_is_published_with_the_sender_in_e164(
    common: CommonSettings, tmp_path: Path
) -> None:
    raw = await assert_published(
        common, "sms", service(common, outbox_dir=tmp_path), sms(), signed, "gw-100", RawSms
    )
    assert raw.reporter is not None and raw.reporter.phone == "+6281234567890"
    assert (raw.text, raw.to_number) == ("Selokan mampet di RT 03", "1708")


async def test_parts_are_published_once_as_one_message(common: CommonSettings, tmp_path: Path) -> None:
    """Two parts (the second re-delivered) -> one record under the first part's id.
    Fails if the outbox's fragments lose their primary key (the re-delivered part is stored twice)."""
    await create_topics(common)
    app = service(common, outbox_dir=tmp_path)
    bodies = [part(2, "di depan pasar"), part(2, "di depan pasar"), part(1, "Sampah menumpuk ")]
    async with running(app) as client:
        answers = [await client.post(WEBHOOK_PATH, content=b, headers=signed(b)) for b in bodies]
        records = await read_topic(common, common.topics.raw("sms"), 1, settle=1.5)
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [a.json()["part"]["outcome"] for a in answers] == ["held", "duplicate", "complete"]
    assert len(records) == 1 and records[0].key == b"gw-p1"
    raw = RawSms.model_validate_json(records[0].value)
    assert (raw.text, raw.parts, raw.parts_expected) == ("Sampah menumpuk di depan pasar", 2, 2)


async def test_an_incomplete_set_is_published_after_the_wait(common: CommonSettings, tmp_path: Path) -> None:
    """Part 2 of 3 never comes: after ``fragment_wait_s`` what arrived is published with a gap marker.
    Fails if the relay does not call ``Outbox.expire``."""
    await create_topics(common)
    app = service(common, outbox_dir=tmp_path, fragment_wait_s=1.0)
    async with running(app) as client:
        for b in (part(1, "Pohon tumbang", total=3), part(3, "jalan utama", total=3)):
            assert (await client.post(WEBHOOK_PATH, content=b, headers=signed(b))).status_code == 202
        records = await read_topic(common, common.topics.raw("sms"), 1, timeout=20, settle=1.0)
    assert len(records) == 1
    raw = RawSms.model_validate_json(records[0].value)
    assert raw.text == "Pohon tumbang […] jalan utama" and (raw.parts, raw.parts_expected) == (2, 3)


REJECTED = [
    *SIGNER.rejections(sms()),
    ("malformed JSON", b'{"id": "gw-1", ', signed, 422, "malformed JSON"),
    (
        "no sender",
        json.dumps({"id": "x", "text": "t", "timestamp": "2026-03-02T15:40:00+07:00"}).encode(),
        signed,
        422,
        "from",
    ),
    ("alphanumeric sender", sms(**{"from": "PROMO"}), signed, 422, "from: not a phone number"),
    ("part beyond total", part(3, "x", total=2), signed, 422, "concat.part"),
    ("oversized", b'{"text": "' + b"a" * 1_000_001 + b'"}', signed, 413, "exceeds 1000000 bytes"),
]


async def test_rejected_requests_publish_nothing(common: CommonSettings, tmp_path: Path) -> None:
    await assert_rejected(common, "sms", service(common, outbox_dir=tmp_path), REJECTED)


async def test_restart_mid_work_keeps_messages_and_held_parts(
    own_broker: OwnBroker, common: CommonSettings, tmp_path: Path
) -> None:
    """A message and the first part of another are accepted, the adapter restarts, the second part
    completes the pair: nothing lost, nothing doubled. Fails with the outbox in ``:memory:``."""
    single, first, second = sms("gw-single"), part(1, "Banjir setinggi "), part(2, "lutut")
    await assert_restart_keeps_outbox(
        own_broker,
        common,
        "sms",
        lambda c: service(c, outbox_dir=tmp_path),
        before=[(single, signed(single)), (first, signed(first))],
        after=[(second, signed(second)), (single, signed(single))],
        expected_keys=["gw-single", "gw-p1"],
    )


def test_missing_or_short_webhook_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_secret_required(monkeypatch, SmsSettings, "ADUAN_INGEST_SMS_WEBHOOK_SECRET")
