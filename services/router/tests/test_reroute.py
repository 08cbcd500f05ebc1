"""Routing again after a refusal: the next candidate outside the refusing units, deadlines unchanged,
triage once every candidate refused (pure; the service path is in tests/test_case_lifecycle.py)."""

from datetime import UTC, datetime, timedelta

from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.samples import normalized
from aduan_router.reroute import reroute
from aduan_router.rules import route, router_for
from aduan_schemas.city import load_city
from aduan_schemas.events import RerouteRequest

CITY = load_city(CITY_DIR)
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def request(exclude: list[str], **overrides: object) -> RerouteRequest:
    routed = route(normalized(received_at=NOW - timedelta(days=1), **overrides), CITY, NOW)
    return RerouteRequest(
        **routed.__dict__,
        exclude_units=exclude,
        requested_by=exclude[-1] if exclude else "op",
        requested_at=NOW,
    )


def test_candidates_of_uncollected_rubbish_are_the_sudin_then_the_kelurahan() -> None:
    report = normalized()
    assert [u.code for u, _ in router_for(CITY).candidates(report)] == ["dlh-3171", "kel-3171011001"]


def test_refused_report_goes_to_the_next_candidate_with_its_deadlines() -> None:
    """Fails if ``reroute`` ignores ``exclude_units`` (checked: it goes back to dlh-3171) or recomputes
    the deadlines (checked by routing with ``route``'s deadlines and a moved ``received_at``)."""
    req = request(["dlh-3171"])
    moved = req.model_copy(
        update={"sla": req.sla.model_copy(update={"resolve_by": NOW + timedelta(days=30)})}
    )
    out = reroute(moved, CITY, NOW)
    assert (out.skpd_code, out.needs_triage, out.routing.rule) == ("kel-3171011001", False, "reroute")
    assert out.sla == moved.sla and out.rerouted_at == NOW
    assert out.rerouted_from == "dlh-3171"  # the unit it leaves, told by the notifier
    assert "refused by dlh-3171" in out.routing.reason
    assert out.event_id() == f"routed:{req.report_id}:kel-3171011001:{NOW.isoformat()}"


def test_refused_by_every_candidate_goes_to_triage() -> None:
    out = reroute(request(["dlh-3171", "kel-3171011001"]), CITY, NOW)
    assert out.needs_triage and out.skpd_code == "kel-3171011001"
    assert "no other candidate" in out.routing.reason
    assert out.event_id() == f"routed:{out.report_id}:triage:{NOW.isoformat()}"


def test_a_new_category_is_routed_by_its_own_rules() -> None:
    req = request([]).model_copy(update={"category": "jalan", "category_confidence": 1.0})
    assert reroute(req, CITY, NOW).skpd_code == "dbm-3171"
