"""The case store against the real database: guarded writes, re-delivery, ordering, bounded history."""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from aduan_kit.mongo import mongo_client
from aduan_kit.settings import CommonSettings
from aduan_schemas.city import CityConfig
from aduan_schemas.events import ReportStatus, RoutedReport, StatusUpdate
from aduan_sla_monitor.cases import status_change
from aduan_sla_monitor.store import CaseStore, Replan, Sent

MakeRouted = Callable[..., RoutedReport]
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def store(common: CommonSettings) -> AsyncIterator[CaseStore]:
    client = mongo_client(common)
    s = CaseStore(client[common.mongodb_db], history_limit=3)
    await s.ensure_indexes()
    try:
        yield s
    finally:
        await client.close()


def update(report_id: str, status: ReportStatus, at: datetime, **kw: object) -> StatusUpdate:
    return StatusUpdate(report_id=report_id, status=status, at=at, by="x", **kw)  # type: ignore[arg-type]


async def test_redelivered_status_is_recognised(store: CaseStore, city: CityConfig) -> None:
    change = status_change(update("r1", ReportStatus.RECEIVED, NOW), city.skpd)
    assert await store.apply_status(change, NOW) == (True, True)
    assert await store.apply_status(change, NOW) == (False, False)
    case = await store.get("r1")
    assert case is not None and len(case["history"]) == 1 and case["status"] == "received"


async def test_routed_is_new_once_and_keeps_the_status(
    store: CaseStore, make_routed: MakeRouted, city: CityConfig
) -> None:
    r = make_routed("dlh")
    assert await store.apply_routed(r, NOW) is True
    assert await store.apply_routed(r, NOW) is False
    await store.apply_status(
        status_change(update(r.report_id, ReportStatus.IN_PROGRESS, NOW), city.skpd), NOW
    )
    await store.apply_routed(r, NOW)
    case = await store.get(r.report_id)
    assert case is not None and case["status"] == "in_progress" and case["skpd_code"] == "dlh"


async def test_out_of_order_updates_keep_the_latest_status_and_the_first_answer(
    store: CaseStore, city: CityConfig
) -> None:
    later = status_change(update("r2", ReportStatus.RESOLVED, NOW + timedelta(hours=2)), city.skpd)
    earlier = status_change(update("r2", ReportStatus.IN_PROGRESS, NOW + timedelta(hours=1)), city.skpd)
    await store.apply_status(later, NOW)
    await store.apply_status(earlier, NOW)
    case = await store.get("r2")
    assert case is not None and case["status"] == "resolved"
    assert case["responded_at"] == NOW + timedelta(hours=1)
    assert case["closed_at"] == NOW + timedelta(hours=2)


async def test_history_is_bounded(store: CaseStore, city: CityConfig) -> None:
    for i in range(5):
        note = update("r3", ReportStatus.IN_PROGRESS, NOW + timedelta(minutes=i), note=f"step {i}")
        await store.apply_status(status_change(note, city.skpd), NOW)
    case = await store.get("r3")
    assert case is not None and [h["note"] for h in case["history"]] == ["step 2", "step 3", "step 4"]


async def test_claims_are_won_once_and_sent_alarms_recorded(
    store: CaseStore, make_routed: MakeRouted
) -> None:
    """Two claims of the same case with the value both read: one wins. Fails if the claim is not
    guarded by the ``next_alarm_at`` read (both replicas would send)."""
    r = make_routed("dlh", received_at=NOW - timedelta(days=8))
    await store.apply_routed(r, NOW)
    (doc,) = await store.due(NOW, 10)
    assert doc["next_alarm_at"] == r.received_at  # a new case is looked at from its receipt
    lease = NOW + timedelta(minutes=2)
    first = await store.replan_and_claim([], [(r.report_id, doc["next_alarm_at"])], lease, "a")
    second = await store.replan_and_claim([], [(r.report_id, doc["next_alarm_at"])], lease, "b")
    assert (first, second) == ({r.report_id}, set())
    assert await store.due(NOW, 10) == []  # held until the lease ends
    assert [d["_id"] for d in await store.due(lease, 10)] == [r.report_id]
    sent = Sent(r.report_id, {"respond_breached": NOW}, {"respond_breached": r.sla.respond_by}, None, lease)
    await store.record_sent([sent], "b")  # not the claim holder: alarms recorded, claim kept
    case = await store.get(r.report_id)
    assert case is not None and case["claim"] == "a" and case["next_alarm_at"] == lease
    await store.record_sent([sent], "a")
    case = await store.get(r.report_id)
    assert case is not None and "claim" not in case and "next_alarm_at" not in case
    assert case["breaches"] == {"respond_breached": r.sla.respond_by}
    assert await store.count_open() == 1


async def test_the_scan_reads_due_cases_in_pages_each_once(store: CaseStore, make_routed: MakeRouted) -> None:
    # Five cases to look at (two with the same time, so the _id continuation matters), one not yet.
    received = [NOW - timedelta(hours=h) for h in (10, 9, 9, 8, 7)]
    due = [make_routed("dlh", received_at=r) for r in received]
    await store.apply_routed_batch([*due, make_routed("dlh", received_at=NOW + timedelta(hours=1))], NOW)
    pages, after = [], None
    while True:
        page = await store.alarm_page(NOW, after, 2)
        pages.append([d["_id"] for d in page])
        if len(page) < 2:
            break
        after = (page[-1]["next_alarm_at"], page[-1]["_id"])
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [rid for p in pages for rid in p]
    assert sorted(seen) == sorted(r.report_id for r in due)  # every due case once, the others never
    docs = {d["_id"]: d for d in await store.alarm_page(NOW, None, 10)}
    later = NOW + timedelta(hours=1)
    await store.replan_and_claim(
        [Replan(rid, docs[rid]["next_alarm_at"], later, {}) for rid in seen[:3]], [], NOW, "x"
    )
    assert len(await store.alarm_page(NOW, None, 10)) == 2  # re-planned cases drop out


async def test_a_batch_of_status_updates_is_applied_in_order_once(store: CaseStore, city: CityConfig) -> None:
    first = status_change(update("r4", ReportStatus.RECEIVED, NOW), city.skpd)
    moved = status_change(
        update("r4", ReportStatus.REASSIGNED, NOW + timedelta(minutes=1), reassign_to="dbm"), city.skpd
    )
    done = status_change(update("r4", ReportStatus.RESOLVED, NOW + timedelta(minutes=2)), city.skpd)
    assert await store.apply_statuses([first, moved, first, done], NOW) == [
        (True, True),
        (True, False),
        (False, False),  # the same update twice in one batch
        (True, False),
    ]
    assert await store.apply_statuses([done], NOW) == [(False, False)]
    case = await store.get("r4")
    assert case is not None and case["status"] == "resolved" and case["skpd_code"] == "dbm"
    assert case["responded_at"] == NOW and len(case["history"]) == 3
