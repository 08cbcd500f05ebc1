"""Near-duplicates against the real broker and database: a routed report with ``duplicate_of`` joins the
open case of the first report (listed in its ``duplicates``) and has no case, no clocks of its own; a
duplicate of a case resolved meanwhile is a case of its own (a recurring problem); operators split and
merge with ``DuplicateDecision`` events."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from aduan_kit.mongo import mongo_client
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, find_events, publish_bytes
from aduan_schemas.events import (
    DuplicateAction,
    DuplicateDecision,
    Event,
    ReportStatus,
    RoutedReport,
    StatusUpdate,
)
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.duplicate_store import DuplicateLinks
from aduan_sla_monitor.main import build
from aduan_sla_monitor.store import CaseStore

MakeRouted = Callable[..., RoutedReport]


async def publish(common: CommonSettings, topic: str, event: Event) -> None:
    key = event.subject()
    await publish_bytes(common, topic, event.model_dump_json().encode(), key=key.encode() if key else None)


async def case_where(client: httpx.AsyncClient, rid: str, check: Callable[[dict[str, Any]], bool]) -> Any:
    async def probe() -> dict[str, Any] | None:
        r = await client.get(f"/v1/cases/{rid}")
        return r.json() if r.status_code == 200 and check(r.json()) else None

    return await eventually(probe, timeout=20)


async def test_duplicates_join_the_open_case_and_a_closed_one_is_not_joined(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    """Fails if ``on_routed`` stores duplicates as cases (checked: ``duplicate_target`` returning None
    leaves ``duplicates`` unset) and if ``duplicate_target`` ignores the case's status (checked: the late
    copy of the resolved case was linked)."""
    await create_topics(common)
    t = common.topics
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    first = make_routed("dlh", received_at=start)
    sms = make_routed(
        "dlh", received_at=start + timedelta(minutes=5), duplicate_of=first.report_id, channel="sms"
    )
    tweet = make_routed("dlh", received_at=start - timedelta(minutes=5), duplicate_of=first.report_id)
    closed = make_routed("dlh", received_at=start)
    late = make_routed("dlh", received_at=start + timedelta(hours=2), duplicate_of=closed.report_id)
    done = StatusUpdate(
        report_id=closed.report_id,
        status=ReportStatus.RESOLVED,
        at=start + timedelta(hours=1),
        by="petugas-1",
        evidence=["https://example.org/sesudah.jpg"],
    )
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=0.2))) as client:
        await publish(common, t.routed, first)
        await publish(common, t.routed, closed)
        await publish(common, t.status, done)
        await case_where(client, first.report_id, lambda c: "sla" in c)
        await case_where(client, closed.report_id, lambda c: c["status"] == "resolved")
        for r in (sms, tweet, late):
            await publish(common, t.routed, r)
        case = await case_where(client, first.report_id, lambda c: len(c.get("duplicates") or ()) == 2)
        own = await case_where(client, late.report_id, lambda c: "sla" in c)
        for r in (sms, tweet):
            assert (await client.get(f"/v1/cases/{r.report_id}")).status_code == 404
        closed_case = (await client.get(f"/v1/cases/{closed.report_id}")).json()

    assert sorted(case["duplicates"]) == sorted([sms.report_id, tweet.report_id])
    assert case["sla"]["resolve_by"] == first.sla.resolve_by.isoformat()  # the first report's clocks
    assert own["status"] != "resolved" and "duplicates" not in closed_case


async def test_an_operator_splits_a_wrong_link_and_merges_two_cases(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    """Fails if ``DuplicateLinks.split`` does not open the report's own case (checked: no case for the
    split report), or if ``merge`` leaves the merged case open (checked: its ``closed_at`` unset, so its
    clocks would still run)."""
    t = common.topics
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    first = make_routed("dlh", received_at=start)
    wrong = make_routed("dlh", received_at=start + timedelta(minutes=3), duplicate_of=first.report_id)
    await create_topics(common, [wrong.skpd_code])
    other = make_routed("dlh", received_at=start + timedelta(minutes=4))
    split = DuplicateDecision(
        report_id=wrong.report_id, action=DuplicateAction.SPLIT, at=start, by="operator-1"
    )
    merge = DuplicateDecision(
        report_id=other.report_id,
        action=DuplicateAction.MERGE,
        into=first.report_id,
        at=start,
        by="operator-1",
    )
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=0.2))) as client:
        await publish(common, t.routed, first)
        await publish(common, t.routed, other)
        await case_where(client, other.report_id, lambda c: "sla" in c)
        await publish(common, t.routed, wrong)
        await case_where(client, first.report_id, lambda c: c.get("duplicates") == [wrong.report_id])
        await publish(common, t.duplicates, split)
        own = await case_where(client, wrong.report_id, lambda c: "sla" in c and "split_from" in c)
        await publish(common, t.duplicates, merge)
        case = await case_where(client, first.report_id, lambda c: c.get("duplicates") == [other.report_id])
        merged = (await client.get(f"/v1/cases/{other.report_id}")).json()
        tickets = await find_events(
            common, t.skpd(wrong.skpd_code), RoutedReport, lambda r: r.report_id == wrong.report_id
        )

    assert own["split_from"] == first.report_id and own["resolve_by"] == wrong.sla.resolve_by.isoformat()
    assert own.get("duplicate_of") is None and tickets[0].duplicate_of is None  # the unit's own ticket
    assert case["duplicates"] == [other.report_id]
    assert merged["status"] == "merged" and merged["merged_into"] == first.report_id and merged["closed_at"]


async def test_a_redelivered_duplicate_is_kept_once_with_its_latest_routing(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    """A duplicate's routed report is inserted first and replaced when it comes again (a re-delivery
    or a re-routing). Checked to fail: with the replace of reports kept already left out, the second
    routing (another unit name) was not kept."""
    client = mongo_client(common)
    try:
        cases = CaseStore(client[common.mongodb_db])
        linked = DuplicateLinks(cases)
        now = datetime.now(UTC).replace(microsecond=0)
        first = make_routed("dlh", received_at=now)
        dup = make_routed("dlh", received_at=now, duplicate_of=first.report_id)
        again = dup.model_copy(update={"skpd_name": "Suku Dinas Lingkungan Hidup (dialihkan)"})
        await cases.apply_routed_batch([first], now)
        await linked.link([(first.report_id, dup)], now)
        await linked.link([(first.report_id, again)], now + timedelta(minutes=1))
        kept = [d async for d in linked.linked.find({"_id": dup.report_id})]
        case = await cases.get(first.report_id)
    finally:
        await client.close()
    assert len(kept) == 1 and kept[0]["report"]["skpd_name"] == again.skpd_name
    assert case is not None and case["duplicates"] == [dup.report_id]
