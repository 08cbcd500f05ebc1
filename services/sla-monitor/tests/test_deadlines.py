from datetime import UTC, datetime, timedelta

from aduan_schemas.city import CityConfig
from aduan_sla_monitor.deadlines import RESOLVE, RESPOND, Breach, CaseClock, breach_event, due_breaches

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def clock(**overrides: object) -> CaseClock:
    fields: dict[str, object] = {
        "report_id": "rpt-1",
        "skpd_code": "kel-3171011001",
        "policy": "standard",
        "respond_by": T0 + timedelta(hours=6),
        "resolve_by": T0 + timedelta(days=7),
    }
    fields.update(overrides)
    return CaseClock(**fields)  # type: ignore[arg-type]


def test_nothing_is_due_before_the_deadlines() -> None:
    assert due_breaches(clock(), T0 + timedelta(hours=5, minutes=59)) == []


def test_respond_deadline_passed_without_an_answer() -> None:
    assert due_breaches(clock(), T0 + timedelta(hours=6)) == [Breach(RESPOND, T0 + timedelta(hours=6))]


def test_both_deadlines_passed() -> None:
    kinds = [b.kind for b in due_breaches(clock(), T0 + timedelta(days=8))]
    assert kinds == [RESPOND, RESOLVE]


def test_an_answer_stops_the_respond_clock_and_closing_stops_both() -> None:
    later = T0 + timedelta(days=8)
    responded = clock(responded_at=T0 + timedelta(hours=1))
    assert [b.kind for b in due_breaches(responded, later)] == [RESOLVE]
    closed = clock(responded_at=T0 + timedelta(hours=1), closed_at=T0 + timedelta(days=2))
    assert due_breaches(closed, later) == []


def test_a_recorded_breach_is_not_due_again() -> None:
    case = clock(breached=frozenset({RESPOND}))
    assert [b.kind for b in due_breaches(case, T0 + timedelta(days=8))] == [RESOLVE]
    assert due_breaches(clock(breached=frozenset({RESPOND, RESOLVE})), T0 + timedelta(days=8)) == []


def test_a_case_without_deadlines_yet_is_never_due() -> None:
    assert due_breaches(clock(respond_by=None, resolve_by=None), T0 + timedelta(days=30)) == []


def test_breach_escalates_to_the_registry_parent(city: CityConfig) -> None:
    now = T0 + timedelta(days=8)
    ev = breach_event(clock(), Breach(RESPOND, T0 + timedelta(hours=6)), now, city.skpd)
    assert (ev.skpd_code, ev.escalate_to) == ("kel-3171011001", "kec-317101")
    assert ev.event_id() == "sla:rpt-1:respond_breached"
    assert ev.due_at == T0 + timedelta(hours=6) and ev.detected_at == now
    top = breach_event(clock(skpd_code="pemprov"), Breach(RESOLVE, T0), now, city.skpd)
    assert top.escalate_to is None
    unknown = breach_event(clock(skpd_code="not-in-registry"), Breach(RESOLVE, T0), now, city.skpd)
    assert unknown.escalate_to is None


def test_clock_from_a_stored_case() -> None:
    doc = {
        "_id": "rpt-9",
        "skpd_code": "dbm",
        "sla": {"policy": "standard"},
        "respond_by": T0,
        "resolve_by": T0,
        "breaches": {RESPOND: T0},
    }
    case = CaseClock.from_case(doc)
    assert case.report_id == "rpt-9" and case.breached == frozenset({RESPOND})
    assert CaseClock.from_case({"_id": "x"}).policy == "unknown"
