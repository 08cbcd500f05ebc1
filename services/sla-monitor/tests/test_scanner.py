"""The deadline scanner against the real broker and database, with an injected clock (no waiting for
hours): warning -> breach -> every ladder step, the ladder stopping at an answer, two replicas."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from aduan_kit.kafka import EventProducer
from aduan_kit.mongo import mongo_client
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import create_topics, read_topic
from aduan_schemas.city import CityConfig
from aduan_schemas.events import ReportStatus, RoutedReport, SlaEvent, StatusUpdate
from aduan_sla_monitor.cases import status_change
from aduan_sla_monitor.scanner import AlarmRules, Scanner
from aduan_sla_monitor.store import CaseStore

MakeRouted = Callable[..., RoutedReport]
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def parts(common: CommonSettings) -> AsyncIterator[tuple[CaseStore, EventProducer, EventProducer]]:
    await create_topics(common)
    client = mongo_client(common)
    store = CaseStore(client[common.mongodb_db])
    await store.ensure_indexes()
    a, b = EventProducer(common, "test.sla-a"), EventProducer(common, "test.sla-b")
    await a.start()
    await b.start()
    try:
        yield store, a, b
    finally:
        await a.stop()
        await b.stop()
        await client.close()


def scanner(
    store: CaseStore, producer: EventProducer, city: CityConfig, common: CommonSettings, clock: Clock
) -> Scanner:
    return Scanner(
        store,
        producer,
        city.skpd,
        common.topics.sla_events,
        interval_s=60,
        batch=7,
        clock=clock,
        sla=city.sla,
    )


@pytest.mark.parametrize("scheduled", [False, True], ids=["planned-by-scanner", "scheduled-at-insert"])
async def test_warning_breach_and_every_ladder_step_until_answered(
    common: CommonSettings,
    city: CityConfig,
    make_routed: MakeRouted,
    parts: tuple[CaseStore, EventProducer, EventProducer],
    scheduled: bool,
) -> None:
    """A kelurahan case (standard policy: 6 h / 7 days, warn at 0.75, steps every 2 h / 1 day).
    The respond clock: warning, breach to the lurah, step 2 to the camat; then the unit answers and
    step 3 never comes. The resolve clock: warning, breach, camat, wali kota, then the ladder ends.
    The same whether the case is stored with its first alarm time (as the service stores it) or with
    its receipt for the scanner to plan. Breaking it showed: with the `answered is not None` check
    removed from deadlines.timeline, the scan at 10 h sends the respond step 3 after the answer; with
    ``deadlines.first_alarm`` scheduling the first breach instead of the first alarm, the scheduled
    case is stored with its deadline (7:00) instead of its warning (5:30)."""
    store, producer, _ = parts
    clock = Clock()
    scan = scanner(store, producer, city, common, clock)
    case = make_routed("kel-3171011001", received_at=T0)
    schedule = AlarmRules(city.sla, city.skpd).first_alarm if scheduled else None
    assert await store.apply_routed_batch([case], T0, schedule) == 1
    stored = await store.get(case.report_id)
    assert stored is not None and stored["next_alarm_at"] == (T0 + 4.5 * H if scheduled else T0)
    answer = StatusUpdate(report_id=case.report_id, status=ReportStatus.RECEIVED, at=T0 + 9 * H, by="lurah")
    plan = [
        (T0 + 4 * H, 0),
        (T0 + 4.5 * H, 1),  # respond warning
        (T0 + 5 * H, 0),
        (T0 + 6 * H, 1),  # respond breached: lurah
        (T0 + 8 * H, 1),  # step 2: camat
        ("answer", None),
        (T0 + 10 * H, 0),  # step 3 would be due: the case was answered
        (T0 + 5.25 * D, 1),  # resolve warning
        (T0 + 7 * D, 1),  # resolve breached: lurah
        (T0 + 8 * D, 1),  # step 2: camat
        (T0 + 9 * D, 1),  # step 3: wali kota
        (T0 + 30 * D, 0),  # the ladder has no more rungs
    ]
    for at, expected in plan:
        if at == "answer":
            await store.apply_status(status_change(answer, city.skpd), T0 + 9 * H)
            continue
        clock.now = at  # type: ignore[assignment]
        assert await scan.scan_once() == expected, at

    records = await read_topic(common, common.topics.sla_events, 7, timeout=20, settle=1.0)
    events = [SlaEvent.model_validate_json(r.value) for r in records]
    got = [(e.kind, e.step, e.level, e.escalate_to, e.due_at) for e in events]
    kel, kec, kota = "kel-3171011001", "kec-317101", "kota-3171"
    assert got == [
        ("respond_warning", None, None, None, T0 + 4.5 * H),
        ("respond_breached", 1, "lurah", kel, T0 + 6 * H),
        ("respond_escalated", 2, "camat", kec, T0 + 8 * H),
        ("resolve_warning", None, None, None, T0 + 5.25 * D),
        ("resolve_breached", 1, "lurah", kel, T0 + 7 * D),
        ("resolve_escalated", 2, "camat", kec, T0 + 8 * D),
        ("resolve_escalated", 3, "wali_kota", kota, T0 + 9 * D),
    ]
    assert [dict(r.headers)["ce_id"].decode() for r in records][
        -1
    ] == f"sla:{case.report_id}:resolve_escalated:3"
    stored = await store.get(case.report_id)
    assert stored is not None and "next_alarm_at" not in stored and "claim" not in stored
    assert stored["breaches"] == {"respond_breached": T0 + 6 * H, "resolve_breached": T0 + 7 * D}


async def test_two_replicas_send_each_step_once(
    common: CommonSettings,
    city: CityConfig,
    make_routed: MakeRouted,
    parts: tuple[CaseStore, EventProducer, EventProducer],
) -> None:
    """Two scanners (own producers, own store objects) on the same database scan at the same moments.
    Each of 30 cases x 4 alarms (warning, breach, steps 2 and 3) is sent once. Breaking it showed:
    with the lease check removed from Scanner.scan_once, alarms are sent twice."""
    store, producer_a, producer_b = parts
    other = CaseStore(store.coll.database)
    clock = Clock()
    a, b = scanner(store, producer_a, city, common, clock), scanner(other, producer_b, city, common, clock)
    cases = [make_routed("kel-3171011001", received_at=T0) for _ in range(30)]
    await store.apply_routed_batch(cases, T0)
    sent = []
    for at in (T0 + 5 * H, T0 + 6 * H, T0 + 8 * H, T0 + 10 * H):
        clock.now = at
        sent.append(sum(await asyncio.gather(a.scan_once(), b.scan_once())))
    assert sent == [30, 30, 30, 30]
    records = await read_topic(common, common.topics.sla_events, 120, timeout=30, settle=1.5)
    ids = Counter(dict(r.headers)["ce_id"].decode() for r in records)
    assert len(ids) == 120 and set(ids.values()) == {1}


async def test_a_late_answer_stored_before_the_routed_report_is_judged_by_the_scanner(
    common: CommonSettings,
    city: CityConfig,
    make_routed: MakeRouted,
    parts: tuple[CaseStore, EventProducer, EventProducer],
) -> None:
    """The answer came first (no deadlines yet, so the status path could not judge it); the routed report
    then gives the deadlines and the scanner records the breach, late-detected. Breaking it showed:
    without the late_breaches loop in Scanner._page nothing is sent and no breach is recorded."""
    store, producer, _ = parts
    clock = Clock()
    case = make_routed("kel-3171011001", received_at=T0)
    answer = StatusUpdate(report_id=case.report_id, status=ReportStatus.RECEIVED, at=T0 + 7 * H, by="lurah")
    await store.apply_status(status_change(answer, city.skpd), T0 + 7 * H)
    await store.apply_routed(case, T0 + 7 * H)
    clock.now = T0 + 7 * H
    assert await scanner(store, producer, city, common, clock).scan_once() == 1
    (record,) = await read_topic(common, common.topics.sla_events, 1, timeout=20, settle=1.0)
    event = SlaEvent.model_validate_json(record.value)
    assert (event.kind, event.late_detected, event.due_at) == ("respond_breached", True, T0 + 6 * H)
    stored = await store.get(case.report_id)
    assert stored is not None and stored["breaches"] == {"respond_breached": T0 + 6 * H}
