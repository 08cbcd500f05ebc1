"""The SLA monitor against the real broker and database: case store, status updates, deadline scan."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, publish_bytes, read_topic
from aduan_schemas.events import DeadLetter, Event, ReportStatus, RoutedReport, SlaEvent, StatusUpdate
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.main import build

MakeRouted = Callable[..., RoutedReport]


async def publish(common: CommonSettings, topic: str, event: Event) -> None:
    key = event.subject()
    await publish_bytes(common, topic, event.model_dump_json().encode(), key=key.encode() if key else None)


def status(report_id: str, st: ReportStatus, at: datetime, **kw: Any) -> StatusUpdate:
    return StatusUpdate(report_id=report_id, status=st, at=at, by="petugas-1", **kw)


async def case_where(
    client: httpx.AsyncClient, report_id: str, check: Callable[[dict[str, Any]], bool]
) -> Any:
    async def probe() -> dict[str, Any] | None:
        r = await client.get(f"/v1/cases/{report_id}")
        return r.json() if r.status_code == 200 and check(r.json()) else None

    return await eventually(probe, timeout=20)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_routed_report_becomes_a_case_that_status_updates_advance(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    await create_topics(common)
    t = common.topics
    report = make_routed("dlh")
    received = status(report.report_id, ReportStatus.RECEIVED, report.received_at + timedelta(minutes=30))
    resolved = status(
        report.report_id,
        ReportStatus.RESOLVED,
        report.received_at + timedelta(days=1),
        note="sudah diangkut",
        evidence=["https://example.org/after.jpg"],
    )
    settings = SlaMonitorSettings(common=common, scan_interval_s=0.1)
    async with running(build(settings)) as client:
        missing = await client.get("/v1/cases/rpt-unknown")
        assert missing.status_code == 404 and "no case" in missing.json()["detail"]

        await publish(common, t.routed, report)
        case = await case_where(client, report.report_id, lambda c: "respond_by" in c)
        assert case["status"] == "routed" and case["skpd_code"] == "dlh"
        assert at(case["respond_by"]) == report.received_at + timedelta(hours=6)
        assert at(case["resolve_by"]) == report.received_at + timedelta(days=7)
        assert case["category"] == report.category and case["sla"]["policy"] == "standard"

        await publish(common, t.status, received)
        case = await case_where(client, report.report_id, lambda c: c["status"] == "received")
        assert at(case["responded_at"]) == received.at and "closed_at" not in case

        await publish(common, t.status, resolved)
        case = await case_where(client, report.report_id, lambda c: c["status"] == "resolved")
        assert at(case["closed_at"]) == resolved.at and at(case["responded_at"]) == received.at

        # Re-delivery of every record: nothing is duplicated or moved back.
        for topic, ev in ((t.routed, report), (t.status, received), (t.status, resolved)):
            await publish(common, topic, ev)
        sentinel = make_routed("dbm")
        await publish(common, t.routed, sentinel)  # the status topic is consumed in parallel: wait on both
        await publish(
            common, t.status, status(sentinel.report_id, ReportStatus.RECEIVED, sentinel.received_at)
        )
        await case_where(
            client, sentinel.report_id, lambda c: c["status"] == "received" and "respond_by" in c
        )
        case = (await client.get(f"/v1/cases/{report.report_id}")).json()
        assert [h["status"] for h in case["history"]] == ["received", "resolved"]
        assert case["status"] == "resolved" and case["history"][1]["evidence"] == [
            "https://example.org/after.jpg"
        ]
        metrics_text = (await client.get("/metrics")).text
    assert "aduan_cases_open" in metrics_text and "aduan_status_updates_total" in metrics_text


async def test_status_before_routed_keeps_both_and_reassignment_wins(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    await create_topics(common)
    t = common.topics
    first = make_routed("dlh")
    moved = make_routed("dlh")
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=0.1))) as client:
        await publish(common, t.status, status(first.report_id, ReportStatus.IN_PROGRESS, first.received_at))
        await publish(
            common,
            t.status,
            status(moved.report_id, ReportStatus.REASSIGNED, moved.received_at, reassign_to="dbm"),
        )
        await case_where(client, first.report_id, lambda c: c["status"] == "in_progress")
        await case_where(client, moved.report_id, lambda c: c["status"] == "reassigned")
        await publish(common, t.routed, first)
        await publish(common, t.routed, moved)
        a = await case_where(client, first.report_id, lambda c: "respond_by" in c)
        b = await case_where(client, moved.report_id, lambda c: "respond_by" in c)
    assert a["status"] == "in_progress" and a["skpd_code"] == "dlh"
    assert at(a["responded_at"]) == first.received_at
    assert at(a["resolve_by"]) == first.received_at + timedelta(days=7)
    # The reassignment arrived first; the routed report does not undo it. Deadlines stay.
    assert (b["skpd_code"], b["skpd_name"], b["status"]) == ("dbm", "Dinas Bina Marga", "reassigned")
    assert at(b["respond_by"]) == moved.received_at + timedelta(hours=6)
    assert "responded_at" not in b


async def test_past_deadlines_produce_each_breach_and_step_once(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    await create_topics(common)
    t = common.topics
    now = datetime.now(UTC)
    # Respond: breach (6 h) and steps 2 (8 h) and 3 (10 h) passed. Resolve: breach (7 d) and step 2
    # (8 d) passed, step 3 (9 d) not yet. The warnings are skipped: their deadlines passed too.
    late = make_routed("kel-3171011001", received_at=now - timedelta(days=8, hours=1))
    answered = make_routed("dbm", received_at=now - timedelta(hours=7))  # responded in time
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=0.1))) as client:
        # The answer is stored before the deadlines, so no scan can see the case unanswered.
        await publish(
            common,
            t.status,
            status(answered.report_id, ReportStatus.RECEIVED, answered.received_at + timedelta(hours=1)),
        )
        await case_where(client, answered.report_id, lambda c: "responded_at" in c)
        await publish(common, t.routed, answered)
        await publish(common, t.routed, late)
        await publish(common, t.routed, late)  # re-delivered
        # Many scan cycles run while we read on after the expected events.
        records = await read_topic(common, t.sla_events, 5, timeout=20, settle=2.0)
        case = await case_where(client, late.report_id, lambda c: len(c.get("breaches", {})) == 2)
        answered_case = (await client.get(f"/v1/cases/{answered.report_id}")).json()
        metrics_text = (await client.get("/metrics")).text

    events = [SlaEvent.model_validate_json(r.value) for r in records]
    assert sorted((e.kind, e.step, e.escalate_to) for e in events) == [
        ("resolve_breached", 1, "kel-3171011001"),
        ("resolve_escalated", 2, "kec-317101"),
        ("respond_breached", 1, "kel-3171011001"),
        ("respond_escalated", 2, "kec-317101"),
        ("respond_escalated", 3, "kota-3171"),
    ]
    assert {e.report_id for e in events} == {late.report_id}
    by_kind = {e.kind: e for e in events}
    assert by_kind["respond_breached"].due_at == late.sla.respond_by
    assert by_kind["resolve_breached"].due_at == late.sla.resolve_by
    assert {r.key for r in records} == {late.report_id.encode()}
    assert {dict(r.headers)["ce_id"] for r in records} == {
        f"sla:{late.report_id}:{k}".encode()
        for k in (
            "respond_breached",
            "respond_escalated:2",
            "respond_escalated:3",
            "resolve_breached",
            "resolve_escalated:2",
        )
    }
    assert case["breaches"] == {
        "respond_breached": late.sla.respond_by.isoformat(),
        "resolve_breached": late.sla.resolve_by.isoformat(),
    }
    assert set(case["alarms"]) == {
        "respond_warning",
        "resolve_warning",
        *(r.decode().split(":", 2)[2] for r in {dict(r.headers)["ce_id"] for r in records}),
    }
    assert "breaches" not in answered_case
    unit = 'kota="Jakarta Pusat",level="kelurahan",skpd_code="kel-3171011001"'  # labels sorted by name
    assert f'aduan_sla_alarms_total{{kind="respond_breached",{unit}}}' in metrics_text
    assert f'aduan_sla_alarms_total{{kind="respond_escalated",{unit}}}' in metrics_text


async def test_an_answer_after_the_deadline_counts_as_a_breach_though_no_scan_saw_it(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    """The scanner is off (the monitor was down when the deadline passed). An answer whose own time is
    after the respond deadline records the breach with its due time and announces it, marked
    late_detected; a re-delivery of that answer re-sends the same event (same CloudEvents id); an
    answer in time announces nothing. Breaking it showed: without the lateness check in main.on_status
    no event arrives and the case has no breach (the KPI would count it as in time)."""
    await create_topics(common)
    t = common.topics
    now = datetime.now(UTC)
    late = make_routed("kel-3171011001", received_at=now - timedelta(hours=10))
    in_time = make_routed("kel-3171011001", received_at=now - timedelta(hours=10))
    late_answer = status(late.report_id, ReportStatus.IN_PROGRESS, late.sla.respond_by + timedelta(hours=2))
    settings = SlaMonitorSettings(common=common, scanner_enabled=False)
    async with running(build(settings)) as client:
        await publish(common, t.routed, late)
        await publish(common, t.routed, in_time)
        await case_where(client, in_time.report_id, lambda c: "respond_by" in c)
        await publish(
            common, t.status, status(in_time.report_id, ReportStatus.RECEIVED, now - timedelta(hours=9))
        )
        await publish(common, t.status, late_answer)
        case = await case_where(client, late.report_id, lambda c: "breaches" in c)
        await publish(common, t.status, late_answer)  # re-delivered
        records = await read_topic(common, t.sla_events, 2, timeout=20, settle=1.0)
        quiet = (await client.get(f"/v1/cases/{in_time.report_id}")).json()

    events = [SlaEvent.model_validate_json(r.value) for r in records]
    # The re-sent event is the same announcement (only its detection time differs).
    assert len(events) == 2
    assert events[0].model_dump(exclude={"detected_at"}) == events[1].model_dump(exclude={"detected_at"})
    ev = events[0]
    assert (ev.report_id, ev.kind, ev.step, ev.late_detected) == (late.report_id, "respond_breached", 1, True)
    assert ev.due_at == late.sla.respond_by and ev.escalate_to == "kel-3171011001"
    assert {dict(r.headers)["ce_id"] for r in records} == {f"sla:{late.report_id}:respond_breached".encode()}
    assert case["breaches"] == {"respond_breached": late.sla.respond_by.isoformat()}
    assert "breaches" not in quiet


async def test_invalid_records_are_dead_lettered_and_consumption_continues(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    await create_topics(common)
    t = common.topics
    report = make_routed("dlh")
    await publish_bytes(common, t.routed, b'{"report_id": "x"}', key=b"x")  # schema-invalid
    bad_move = status(report.report_id, ReportStatus.REASSIGNED, report.received_at, reassign_to="nowhere")
    await publish(common, t.status, bad_move)
    await publish(common, t.routed, report)
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=0.1))) as client:
        dlq = await read_topic(common, t.dlq, 2)
        case = await case_where(client, report.report_id, lambda c: "respond_by" in c)
    letters = sorted((DeadLetter.model_validate_json(r.value) for r in dlq), key=lambda d: d.stage)
    assert [(d.original_topic, d.stage) for d in letters] == [(t.routed, "parse"), (t.status, "sla")]
    assert letters[0].error.startswith("ValidationError: ") and "Field required" in letters[0].error
    assert "not in the SKPD registry" in letters[1].error
    assert case["status"] == "routed" and "history" not in case
