"""One report end to end, across every service as a real process, the real broker and the real database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from aduan_cli.stack import Stack
from aduan_kit.settings import CommonSettings
from aduan_kit.signing import sign
from aduan_kit.testing.kafka import eventually, find_events, publish_bytes, read_topic
from aduan_kit.testing.receiver import Receiver
from aduan_schemas.events import DeadLetter, NormalizedReport, Notification, RawQlue, RoutedReport, SlaEvent
from aduan_schemas.ids import report_id_for

MONAS = (-6.1754, 106.8272)


def qlue_payload(created_at: datetime | None = None, **over: Any) -> dict[str, Any]:
    payload = {
        "id": f"QLU-{uuid.uuid4().hex[:10]}",
        "created_at": (created_at or datetime.now(UTC)).replace(microsecond=0).isoformat(),  # BSON keeps ms
        "description": "Tumpukan sampah di trotoar, sudah tiga hari tidak diangkut",
        "category": "Sampah",
        "lat": MONAS[0],
        "lng": MONAS[1],
        "address": "Jl. Medan Merdeka Barat",
        "photos": ["https://example.org/foto/1.jpg"],
        "user": {"id": "u-77", "name": "Budi Santoso", "phone": "+6281234567890"},
    }
    payload.update(over)
    return payload


def post_signed(
    stack: Stack,
    channel: str,
    payload: dict[str, Any] | bytes,
    *,
    signed: bool = True,
    content_type: str = "application/json",
    timeout: float = 15,
) -> httpx.Response:
    """POST a report to a webhook adapter, signed with the stack's secret for that channel."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"content-type": content_type}
    if signed:
        headers |= sign(stack.secrets()[f"ADUAN_INGEST_{channel.upper()}_WEBHOOK_SECRET"], body)
    url = f"{stack.services[f'ingest-{channel}'].url}/v1/reports"
    return httpx.post(url, content=body, headers=headers, timeout=timeout)


def post_qlue(stack: Stack, payload: dict[str, Any] | bytes, signed: bool = True) -> httpx.Response:
    return post_signed(stack, "qlue", payload, signed=signed)


async def case_of(common: CommonSettings, report_id: str) -> dict[str, Any] | None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        common.mongodb_url.get_secret_value(), tz_aware=True
    )
    try:
        return await client[common.mongodb_db]["cases"].find_one({"_id": report_id})
    finally:
        await client.close()


async def routed_for(common: CommonSettings, msg_id: str, timeout: float = 30) -> RoutedReport:
    found = await find_events(
        common, common.topics.routed, RoutedReport, lambda e: e.channel_message_id == msg_id, timeout=timeout
    )
    return found[0]  # type: ignore[no-any-return]


async def test_signed_qlue_report_reaches_skpd_topic_case_store_and_webhook(
    stack: Stack, stack_common: CommonSettings, skpd_inbox: Receiver
) -> None:
    t = stack_common.topics
    payload = qlue_payload()
    resp = post_qlue(stack, payload)
    assert resp.status_code == 202, resp.text
    msg_id = payload["id"]
    assert resp.json()["report_id"] == report_id_for("qlue", msg_id)

    raw = await find_events(stack_common, t.raw("qlue"), RawQlue, lambda e: e.channel_message_id == msg_id)
    assert raw[0].category_hint == "Sampah" and raw[0].reporter.phone == "+6281234567890"

    (report,) = await find_events(
        stack_common, t.normalized, NormalizedReport, lambda e: e.channel_message_id == msg_id
    )
    assert report.area is not None and report.area.kelurahan == "Gambir"
    assert (report.geocode.method, report.category) == ("gps", "sampah")
    assert report.report_id == resp.json()["report_id"]
    serialized = report.model_dump_json()
    assert "+6281234567890" not in serialized and "Budi" not in serialized  # pseudonymised

    routed = await routed_for(stack_common, msg_id)
    assert (routed.skpd_code, routed.skpd_name) == (
        "dlh-3171",
        "Suku Dinas Lingkungan Hidup Kota Administrasi Jakarta Pusat",
    )
    on_skpd = await find_events(
        stack_common, t.skpd("dlh-3171"), RoutedReport, lambda e: e.report_id == report.report_id
    )
    assert on_skpd[0].sla == routed.sla

    case = await eventually(lambda: case_of(stack_common, report.report_id))
    received = datetime.fromisoformat(payload["created_at"])
    assert case["respond_by"] == received + timedelta(hours=6)
    assert case["resolve_by"] == received + timedelta(days=7)
    api = httpx.get(f"{stack.services['sla-monitor'].url}/v1/cases/{report.report_id}", timeout=5)
    assert api.status_code == 200 and api.json()["skpd_code"] == "dlh-3171"
    # The public side of the same case: Open311 and the citizen's page, without the reporter's contact.
    sla_url = stack.services["sla-monitor"].url
    public = httpx.get(f"{sla_url}/open311/v2/requests/{report.report_id}.json", timeout=5)
    assert public.status_code == 200 and public.json()[0]["agency_responsible"] == routed.skpd_name
    page = httpx.get(f"{sla_url}/laporan/{report.report_id}", timeout=5)
    assert page.status_code == 200 and "Status laporan" in page.text
    for r in (public, page):
        assert "Budi" not in r.text and "6281234567890" not in r.text

    await eventually(
        lambda: any(
            r.path == "/skpd/dlh-3171" and report.report_id.encode() in r.body for r in skpd_inbox.requests
        )
    )
    notes = await find_events(
        stack_common, t.notifications, Notification,
        lambda n: n.report_id == report.report_id and n.channel == "webhook",
    )  # fmt: skip
    assert notes[0].outcome == "delivered" and notes[0].recipient == "dlh-3171"


async def test_past_deadline_gives_exactly_one_breach_event(
    stack: Stack, stack_common: CommonSettings
) -> None:
    payload = qlue_payload(
        created_at=datetime.now(UTC) - timedelta(hours=7),
        category="Jalan Rusak",
        description="Jalan berlubang besar, sudah dua minggu belum diperbaiki",
    )
    assert post_qlue(stack, payload).status_code == 202
    routed = await routed_for(stack_common, payload["id"])
    # The scanner runs every 0.2 s: many cycles pass while this settles for 3 s.
    events = await find_events(
        stack_common,
        stack_common.topics.sla_events,
        SlaEvent,
        lambda e: e.report_id == routed.report_id,
        settle=3,
    )
    # The breach is step 1 of the Suku Dinas ladder (its own head); step 2 (the dinas) is 2 h later,
    # and the warning, found after the deadline, is skipped.
    assert [e.kind for e in events] == ["respond_breached"]
    assert (events[0].skpd_code, events[0].escalate_to, events[0].step) == ("dbm-3171", "dbm-3171", 1)
    assert events[0].level == "kepala_suku_dinas"


async def test_bad_webhooks_are_refused_and_publish_nothing(
    stack: Stack, stack_common: CommonSettings
) -> None:
    unsigned = qlue_payload()
    r = post_qlue(stack, unsigned, signed=False)
    assert r.status_code == 401 and r.json()["detail"]
    malformed = post_qlue(stack, b'{"id": "QLU-broken", "description": ')
    assert malformed.status_code == 422 and malformed.json()["detail"]
    invalid = qlue_payload(lat=123.0)
    assert post_qlue(stack, invalid).status_code == 422
    raw = await read_topic(stack_common, stack_common.topics.raw("qlue"), 10_000, timeout=3)
    keys = {r.key for r in raw}
    assert not {unsigned["id"].encode(), invalid["id"].encode(), b"QLU-broken"} & keys


async def test_garbage_on_a_raw_topic_is_dead_lettered_and_the_pipeline_keeps_going(
    stack: Stack, stack_common: CommonSettings
) -> None:
    t = stack_common.topics
    await publish_bytes(stack_common, t.raw("qlue"), b"\x00not json at all", key=b"garbage-1")
    payload = qlue_payload()
    assert post_qlue(stack, payload).status_code == 202
    (dead,) = await find_events(stack_common, t.dlq, DeadLetter, lambda d: d.key == "garbage-1")
    assert (dead.original_topic, dead.stage) == (t.raw("qlue"), "parse") and dead.error
    assert (await routed_for(stack_common, payload["id"])).skpd_code == "dlh-3171"
