"""Alarm timelines and escalation ladders (pure): what is due when, and who is told."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aduan_schemas.city import CityConfig
from aduan_sla import policy_named
from aduan_sla_monitor.deadlines import RESOLVE, RESPOND, CaseClock, alarm_event, late_breaches, plan
from aduan_sla_monitor.escalation import Rung, ladder

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
KEL = "kel-3171011001"


def clock(**overrides: object) -> CaseClock:
    fields: dict[str, object] = {
        "report_id": "rpt-1",
        "skpd_code": KEL,
        "policy": "standard",
        "received_at": T0,
        "respond_by": T0 + 6 * H,
        "resolve_by": T0 + 7 * D,
    }
    fields.update(overrides)
    return CaseClock(**fields)  # type: ignore[arg-type]


def keys_due(city: CityConfig, case: CaseClock, now: datetime) -> list[str]:
    p = plan(
        case, policy_named(city.sla, case.policy), ladder(case.skpd_code or "", city.sla, city.skpd), now
    )
    return [a.key for a in p.due]


def test_kelurahan_ladder_is_lurah_camat_wali_kota(city: CityConfig) -> None:
    """Fails if `parent` rungs stop walking the registry (camat and wali kota would repeat the unit)."""
    assert ladder(KEL, city.sla, city.skpd) == [
        Rung("lurah", KEL),
        Rung("camat", "kec-317101"),
        Rung("wali_kota", "kota-3171"),
    ]


def test_suku_dinas_and_dinas_ladders_reach_the_province(city: CityConfig) -> None:
    assert [r.target for r in ladder("dbm-3171", city.sla, city.skpd)] == ["dbm-3171", "dbm", "pemprov"]
    assert [r.level for r in ladder("dbm", city.sla, city.skpd)] == ["kepala_dinas", "koordinator_provinsi"]


def test_a_ladder_ends_at_the_top_and_unknown_units_fall_back_to_the_parent(city: CityConfig) -> None:
    # pemprov (level other) is the province's coordinator itself: told once.
    assert [r.target for r in ladder("pemprov", city.sla, city.skpd)] == ["pemprov"]
    assert [r.target for r in ladder("inspektorat", city.sla, city.skpd)] == ["inspektorat", "pemprov"]
    assert ladder("not-in-registry", city.sla, city.skpd) == [Rung(None, None)]


def test_warning_then_breach_then_each_ladder_step(city: CityConfig) -> None:
    """Respond clock of a kelurahan case: warning at 4.5 h (0.75 of 6 h), breach at 6 h, steps 2 and 3
    every 2 h after. Fails if warn_at or respond_escalate_every are ignored."""
    case = clock()
    assert keys_due(city, case, T0 + 4 * H) == []
    assert keys_due(city, case, T0 + 4.5 * H) == ["respond_warning"]
    case = replace(case, sent=frozenset({"respond_warning"}))
    assert keys_due(city, case, T0 + 6 * H) == [RESPOND]
    case = replace(case, sent=case.sent | {RESPOND})
    assert keys_due(city, case, T0 + 8 * H - timedelta(seconds=1)) == []
    assert keys_due(city, case, T0 + 8 * H) == ["respond_escalated:2"]
    case = replace(case, sent=case.sent | {"respond_escalated:2"})
    assert keys_due(city, case, T0 + 10 * H) == ["respond_escalated:3"]
    case = replace(case, sent=case.sent | {"respond_escalated:3"})
    p = plan(case, policy_named(city.sla, "standard"), ladder(KEL, city.sla, city.skpd), T0 + 10 * H)
    assert p.next_at == T0 + 5.25 * D  # the resolve warning: 0.75 of 7 days


def test_an_answer_stops_the_ladder(city: CityConfig) -> None:
    case = clock(sent=frozenset({"respond_warning", RESPOND}), responded_at=T0 + 7 * H)
    assert keys_due(city, case, T0 + 12 * H) == []
    closed = clock(responded_at=T0 + H, closed_at=T0 + 2 * D)
    p = plan(closed, policy_named(city.sla, "standard"), ladder(KEL, city.sla, city.skpd), T0 + 30 * D)
    assert p.due == [] and p.next_at is None


def test_found_late_the_warning_is_skipped_and_every_passed_step_is_sent(city: CityConfig) -> None:
    p = plan(clock(), policy_named(city.sla, "standard"), ladder(KEL, city.sla, city.skpd), T0 + 11 * H)
    assert [a.key for a in p.due] == [RESPOND, "respond_escalated:2", "respond_escalated:3"]
    assert [a.key for a in p.skipped] == ["respond_warning"]
    assert [a.at for a in p.due] == [T0 + 6 * H, T0 + 8 * H, T0 + 10 * H]


def test_a_reopened_resolve_clock_has_its_own_round(city: CityConfig) -> None:
    sent = frozenset({"resolve_warning", RESOLVE})
    reopened = clock(
        responded_at=T0 + H, resolve_started_at=T0 + 9 * D, resolve_by=T0 + 16 * D, resolve_round=1, sent=sent
    )
    assert keys_due(city, reopened, T0 + 16 * D) == [f"{RESOLVE}@r1"]


def test_events_carry_step_level_target_and_stable_ids(city: CityConfig) -> None:
    case = clock()
    p = plan(case, policy_named(city.sla, "standard"), ladder(KEL, city.sla, city.skpd), T0 + 11 * H)
    events = [alarm_event(case, a, T0 + 11 * H) for a in p.due]
    assert [e.event_id() for e in events] == [
        "sla:rpt-1:respond_breached",
        "sla:rpt-1:respond_escalated:2",
        "sla:rpt-1:respond_escalated:3",
    ]
    assert [(e.step, e.level, e.escalate_to) for e in events] == [
        (1, "lurah", KEL),
        (2, "camat", "kec-317101"),
        (3, "wali_kota", "kota-3171"),
    ]
    assert all(e.deadline == T0 + 6 * H and e.skpd_code == KEL and not e.late_detected for e in events)


def test_late_breaches_are_judged_from_the_answer_times(city: CityConfig) -> None:
    """Fails if lateness compares with the scan time instead of the answer's own time."""
    policy, rungs = policy_named(city.sla, "standard"), ladder(KEL, city.sla, city.skpd)
    late = clock(responded_at=T0 + 7 * H, closed_at=T0 + 8 * D)
    assert [(a.key, a.at) for a in late_breaches(late, policy, rungs)] == [
        (RESPOND, T0 + 6 * H),
        (RESOLVE, T0 + 7 * D),
    ]
    assert late_breaches(replace(late, sent=frozenset({RESPOND, RESOLVE})), policy, rungs) == []
    in_time = clock(responded_at=T0 + 5 * H, closed_at=T0 + 6 * D)
    assert late_breaches(in_time, policy, rungs) == []


def test_clock_from_a_stored_case_counts_old_breach_marks_as_sent() -> None:
    doc = {"_id": "rpt-9", "skpd_code": "dbm", "sla": {"policy": "standard"}, "breaches": {RESPOND: T0}}
    case = CaseClock.from_case(doc)
    assert case.report_id == "rpt-9" and case.sent == frozenset({RESPOND})
    assert CaseClock.from_case({"_id": "x"}).policy == "unknown"
