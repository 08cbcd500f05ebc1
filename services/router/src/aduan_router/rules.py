"""Routing: pure functions from a normalized report and the city's rules to a routed report."""

from __future__ import annotations

from datetime import datetime

from aduan_schemas.city import KELURAHAN_TARGET, CityConfig, RoutingRule, SkpdUnit
from aduan_schemas.events import NormalizedReport, RoutedReport, Routing, SlaDeadlines


def pick_unit(report: NormalizedReport, city: CityConfig) -> tuple[SkpdUnit, Routing]:
    """The responsible unit, and why. The first rule for the report's category wins."""
    rule: RoutingRule | None = next((r for r in city.routing.rules if r.category == report.category), None)
    version = city.routing.version
    if rule is None:
        unit = city.skpd.get(city.routing.fallback)
        return unit, Routing(
            rule="fallback", version=version, reason=f"no rule for category {report.category}"
        )
    if rule.to != KELURAHAN_TARGET:
        return city.skpd.get(rule.to), Routing(
            rule=rule.id, version=version, reason=f"category {report.category} goes to {rule.to}"
        )
    kel = city.skpd.kelurahan_unit(report.area.kelurahan_code) if report.area else None
    if kel is not None:
        return kel, Routing(
            rule=rule.id, version=version, reason=f"category {report.category} is handled by its kelurahan"
        )
    fallback = rule.otherwise or city.routing.fallback
    return city.skpd.get(fallback), Routing(
        rule=rule.id,
        version=version,
        reason=f"kelurahan unknown; category {report.category} goes to {fallback}",
    )


def deadlines(report: NormalizedReport, city: CityConfig) -> SlaDeadlines:
    """Deadlines count from when the channel received the report (the citizen's clock)."""
    name, policy = city.sla.for_category(report.category)
    return SlaDeadlines(
        policy=name,
        respond_by=report.received_at + policy.respond_within,
        resolve_by=report.received_at + policy.resolve_within,
    )


def route(report: NormalizedReport, city: CityConfig, now: datetime) -> RoutedReport:
    unit, routing = pick_unit(report, city)
    return RoutedReport(
        **report.model_dump(),
        skpd_code=unit.code,
        skpd_name=unit.name,
        routing=routing,
        sla=deadlines(report, city),
        routed_at=now,
    )
