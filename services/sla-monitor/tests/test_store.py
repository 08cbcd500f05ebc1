"""The case store against the real database: guarded writes, re-delivery, ordering, bounded history."""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from aduan_kit.mongo import mongo_client
from aduan_kit.settings import CommonSettings
from aduan_schemas.city import CityConfig
from aduan_schemas.events import ReportStatus, RoutedReport, StatusUpdate
from aduan_sla_monitor.cases import status_change
from aduan_sla_monitor.store import STATUS_INDEX, CaseStore, Replan

MakeRouted = Callable[..., RoutedReport]
NOW = datetime.now(UTC).replace(microsecond=0)
PHOTO = "https://example.org/after.jpg"


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
    later = status_change(
        update("r2", ReportStatus.RESOLVED, NOW + timedelta(hours=2), evidence=[PHOTO]), city.skpd
    )
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


async def test_the_scanner_lease_is_held_by_one_replica_at_a_time(store: CaseStore) -> None:
    """Fails if take_lease grants a lease held by another (without the guard in its filter, the upsert
    matches the existing document and "b" takes it over)."""
    lease = timedelta(minutes=2)
    assert await store.take_lease("scanner", "a", NOW, NOW + lease) is True
    assert await store.take_lease("scanner", "b", NOW, NOW + lease) is False
    assert await store.take_lease("scanner", "a", NOW + lease / 2, NOW + lease * 1.5) is True  # renewed
    assert await store.take_lease("scanner", "b", NOW + lease * 1.2, NOW + lease * 2) is False
    later = NOW + lease * 2  # "a" stopped renewing: the lease expires and "b" takes over
    assert await store.take_lease("scanner", "b", later, later + lease) is True
    assert await store.take_lease("scanner", "a", later, later + lease) is False


async def test_a_replan_records_alarms_and_moves_the_next_alarm_unless_changed_meanwhile(
    store: CaseStore, make_routed: MakeRouted
) -> None:
    r, moved = (
        make_routed("dlh", received_at=NOW - timedelta(days=8)),
        make_routed("dlh", received_at=NOW + timedelta(minutes=1)),
    )
    await store.apply_routed_batch([r, moved], NOW)
    (doc,) = await store.due(NOW, 10)
    assert doc["_id"] == r.report_id and doc["next_alarm_at"] == r.received_at  # looked at from receipt
    due = {"respond_breached": r.sla.respond_by}
    await store.replan(
        [
            Replan(r.report_id, r.received_at, None, {"respond_breached": NOW}, due),
            # Read at another time than stored (re-planned meanwhile): the stored time stays.
            Replan(moved.report_id, NOW - timedelta(days=1), NOW + timedelta(days=30), {"x": NOW}),
        ]
    )
    case, other = await store.get(r.report_id), await store.get(moved.report_id)
    assert case is not None and "next_alarm_at" not in case and case["breaches"] == due
    assert other is not None and other["next_alarm_at"] == moved.received_at and other["alarms"] == {"x": NOW}
    assert await store.due(NOW, 10) == []
    assert await store.count_open() == 2


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
    await store.replan([Replan(rid, docs[rid]["next_alarm_at"], later) for rid in seen[:3]])
    assert len(await store.alarm_page(NOW, None, 10)) == 2  # re-planned cases drop out


async def test_a_batch_of_status_updates_is_applied_in_order_once(store: CaseStore, city: CityConfig) -> None:
    first = status_change(update("r4", ReportStatus.RECEIVED, NOW), city.skpd)
    moved = status_change(
        update("r4", ReportStatus.REASSIGNED, NOW + timedelta(minutes=1), reassign_to="dbm"), city.skpd
    )
    done = status_change(
        update("r4", ReportStatus.RESOLVED, NOW + timedelta(minutes=2), evidence=[PHOTO]), city.skpd
    )
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


async def test_open_cases_are_counted_by_unit_and_sla_state(
    store: CaseStore, make_routed: MakeRouted, city: CityConfig
) -> None:
    """Checked to fail: with resolve_overdue's precedence dropped (the respond_overdue sum without its
    ``not resolve_late``), the 15-day-old unanswered case counted in both states and on_time went to -1."""
    kel = "kel-3101011001"
    fresh = make_routed("dlh-3171", NOW)
    unanswered = make_routed("dlh-3171", NOW - timedelta(hours=7))
    answered = make_routed("dlh-3171", NOW - timedelta(hours=7))
    old = make_routed(kel, NOW - timedelta(days=15))  # past 14 days (Kepulauan Seribu)
    closed = make_routed(kel, NOW - timedelta(days=8))
    await store.apply_routed_batch([fresh, unanswered, answered, old, closed], NOW)
    answer = status_change(
        update(answered.report_id, ReportStatus.IN_PROGRESS, NOW - timedelta(hours=6)), city.skpd
    )
    done = status_change(update(closed.report_id, ReportStatus.RESOLVED, NOW, evidence=[PHOTO]), city.skpd)
    await store.apply_statuses([answer, done], NOW)
    assert await store.open_by_unit(NOW) == {
        ("dlh-3171", "on_time"): 2,
        ("dlh-3171", "respond_overdue"): 1,
        ("dlh-3171", "resolve_overdue"): 0,
        (kel, "on_time"): 0,
        (kel, "respond_overdue"): 0,
        (kel, "resolve_overdue"): 1,
    }


async def test_the_status_index_of_earlier_versions_is_dropped(store: CaseStore) -> None:
    """Checked to fail: without the drop in ``ensure_public_indexes`` the index stayed."""
    await store.coll.create_index([("status", 1), ("received_at", -1), ("_id", -1)])
    await store.ensure_indexes()
    names = set(await store.coll.index_information())
    assert STATUS_INDEX not in names and "category_1_received_at_-1__id_-1" in names
