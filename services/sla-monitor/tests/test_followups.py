"""Citizens' follow-ups against the real broker and database: a follow-up of a resolved case reopens it
with a new resolve clock (a ``reopened`` status on ``aduan.reports.status``, applied by the monitor's own
status consumer); a follow-up of an open case is only linked; neither becomes a case of its own."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, find_events, publish_bytes
from aduan_schemas.events import Event, ReportStatus, RoutedReport, StatusUpdate
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.main import build

MakeRouted = Callable[..., RoutedReport]


async def publish(common: CommonSettings, topic: str, event: Event) -> None:
    key = event.subject()
    await publish_bytes(common, topic, event.model_dump_json().encode(), key=key.encode() if key else None)


async def case_where(client: httpx.AsyncClient, rid: str, check: Callable[[dict[str, Any]], bool]) -> Any:
    async def probe() -> dict[str, Any] | None:
        r = await client.get(f"/v1/cases/{rid}")
        return r.json() if r.status_code == 200 and check(r.json()) else None

    return await eventually(probe, timeout=20)


async def test_follow_up_reopens_a_resolved_case_once_with_a_new_resolve_clock(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    """Fails if ``reopen.follow_up`` never reopens (checked: the case stays resolved), if the reopen op
    in ``store._status_ops`` keeps ``closed_at`` (checked), and if ``follow_up`` reopens whatever the
    earlier case's state (checked: three ``reopened`` events, from the re-delivery and the open case)."""
    await create_topics(common)
    t = common.topics
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=12)
    resolved = make_routed("dlh", received_at=start)
    still_open = make_routed("dbm", received_at=start)
    reply = make_routed("dlh", received_at=start + timedelta(days=10), follow_up_of=resolved.report_id)
    nudge = make_routed("dbm", received_at=start + timedelta(days=1), follow_up_of=still_open.report_id)
    done = StatusUpdate(
        report_id=resolved.report_id,
        status=ReportStatus.RESOLVED,
        at=start + timedelta(days=2),
        by="petugas-1",
        evidence=["https://example.org/sesudah.jpg"],
    )
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=0.2))) as client:
        for r in (resolved, still_open):
            await publish(common, t.routed, r)
        await publish(common, t.status, done)
        await case_where(client, resolved.report_id, lambda c: c.get("status") == "resolved" and "sla" in c)
        await case_where(client, still_open.report_id, lambda c: "sla" in c)
        await publish(common, t.routed, reply)
        await publish(common, t.routed, nudge)
        case = await case_where(client, resolved.report_id, lambda c: c.get("status") == "reopened")
        linked = await case_where(client, still_open.report_id, lambda c: c.get("follow_ups"))
        await publish(common, t.routed, reply)  # re-delivered: no second reopening
        reopened = await find_events(
            common,
            t.status,
            StatusUpdate,
            lambda u: u.status is ReportStatus.REOPENED,
            timeout=20,
            settle=3.0,
        )
        assert (await client.get(f"/v1/cases/{reply.report_id}")).status_code == 404
        assert (await client.get(f"/v1/cases/{nudge.report_id}")).status_code == 404
        case = (await client.get(f"/v1/cases/{resolved.report_id}")).json()

    assert len(reopened) == 1
    (event,) = reopened
    new_clock = reply.received_at + timedelta(days=7)
    assert event.report_id == resolved.report_id and event.follow_up_id == reply.report_id
    assert event.resolve_by == new_clock and event.at == reply.received_at and event.skpd_code == "dlh"
    assert case["status"] == "reopened" and "closed_at" not in case
    assert datetime.fromisoformat(case["resolve_by"]) == new_clock
    assert datetime.fromisoformat(case["respond_by"]) == resolved.sla.respond_by  # unchanged
    assert case["follow_ups"] == [reply.report_id] and case["reopen_count"] == 1
    assert [h["status"] for h in case["history"]] == ["resolved", "reopened"]
    # An open case is linked, not reopened.
    assert linked["follow_ups"] == [nudge.report_id] and linked["status"] == "routed"
