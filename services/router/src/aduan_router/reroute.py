"""Routing again: a report a unit refused ("not our authority") or an operator re-categorised.

Pure. The SLA monitor sends a ``RerouteRequest`` (the report as its case holds it, with every unit that
refused it); the next candidate of ``Router.candidates`` outside ``exclude_units`` gets the report. No
candidate left: the report goes to operator triage, naming the last unit that refused it. The deadlines
(``sla``) stay as they were: they count from the citizen's report, not from the hand-over.
"""

from __future__ import annotations

from datetime import datetime

from aduan_router.rules import router_for
from aduan_schemas.city import CityConfig
from aduan_schemas.events import MAX_SHORT, RerouteRequest, RoutedReport, Routing

REROUTE_RULE = "reroute"
REPLACED = frozenset(
    {"skpd_code", "skpd_name", "routing", "needs_triage", "routed_at", "rerouted_at", "rerouted_from"}
)


def reroute(request: RerouteRequest, city: CityConfig, now: datetime) -> RoutedReport:
    excluded = set(request.exclude_units)
    fields = {
        k: v for k, v in request.__dict__.items() if k in RoutedReport.model_fields and k not in REPLACED
    }
    refused = ", ".join(request.exclude_units) or "none"
    version = city.routing.version
    for unit, rule_id in router_for(city).candidates(request):
        if unit.code in excluded:
            continue
        reason = f"refused by {refused}; next candidate of rule {rule_id} -> {unit.name}"
        return RoutedReport(
            **fields,
            skpd_code=unit.code,
            skpd_name=unit.name,
            routing=Routing(rule=REROUTE_RULE, version=version, reason=reason[:MAX_SHORT]),
            needs_triage=False,
            routed_at=now,
            rerouted_at=request.requested_at,
            rerouted_from=request.skpd_code,  # the case's unit when the request was made: it is told
        )
    # Every candidate refused (or the rules know none): an operator decides.
    last = city.skpd.by_code.get(request.exclude_units[-1]) if request.exclude_units else None
    unit = last or city.skpd.get(city.routing.fallback)
    reason = f"refused by {refused}; no other candidate: held for triage"
    return RoutedReport(
        **fields,
        skpd_code=unit.code,
        skpd_name=unit.name,
        routing=Routing(rule=REROUTE_RULE, version=version, reason=reason[:MAX_SHORT], confidence=0.0),
        needs_triage=True,
        routed_at=now,
        rerouted_at=request.requested_at,
        rerouted_from=request.skpd_code,
    )
