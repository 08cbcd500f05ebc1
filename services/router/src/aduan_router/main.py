"""Wiring: consume aduan.reports.normalized, produce aduan.reports.routed and aduan.skpd.<code>, or
aduan.reports.triage for reports the rules are unsure of; serve the operator API; reload rules on SIGHUP."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from fastapi import FastAPI

from aduan_kit.kafka import BatchResult, Emit, Received, Subscription, parser_for
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import load_settings
from aduan_router import metrics
from aduan_router.active import ActiveCity
from aduan_router.api import Operator, operator_routes
from aduan_router.config import RouterSettings
from aduan_router.reroute import reroute
from aduan_router.rules import route
from aduan_router.triage import TriageStore, emits_for
from aduan_schemas.city import CityConfig
from aduan_schemas.events import NormalizedReport, RerouteRequest, RoutedReport

NAME = "router"

RouteFn = Callable[[NormalizedReport, CityConfig, datetime], RoutedReport]


def _held(report: RoutedReport) -> bool:
    """Held for an operator: unsure, and not a duplicate (a duplicate joins its case)."""
    return report.needs_triage and report.duplicate_of is None


def build(settings: RouterSettings, *, route_fn: RouteFn = route) -> FastAPI:
    common = settings.common
    topics = common.topics
    active = ActiveCity(common.city_dir, common.load_city(), datetime.now(UTC))
    op = Operator(settings.operator_token, active, topics)

    async def handle_batch(batch: list[tuple[NormalizedReport, Received]]) -> BatchResult:
        now = datetime.now(UTC)
        city = active.city  # read once: a reload swaps it between batches, never within one
        routed: list[RoutedReport | BaseException] = []
        for report, _ in batch:
            try:
                routed.append(route_fn(report, city, now))
            except Exception as e:  # this record alone: retried, then dead-lettered
                routed.append(e)
        assert op.store is not None
        # A re-delivered report whose triage an operator already decided keeps that decision.
        held = [r for r in routed if isinstance(r, RoutedReport) and _held(r)]
        decided = await op.store.hold_many(held, now)
        out: BatchResult = []
        for r in routed:
            if isinstance(r, BaseException):
                out.append(r)
                continue
            r = decided.get(r.report_id, r) if _held(r) else r
            unit = city.skpd.by_code.get(r.skpd_code)
            level = unit.level.value if unit else "unknown"
            metrics.REPORTS_ROUTED.labels(level, r.routing.rule).inc()
            if not r.needs_triage:  # on the unit's topic now (a triaged report waits for an operator)
                waited = (datetime.now(UTC) - r.received_at).total_seconds()
                metrics.INTAKE_TO_SKPD_SECONDS.labels(level).observe(max(waited, 0.0))
            out.append(emits_for(r, topics))
        return out

    async def handle_reroute(request: RerouteRequest, _: Received) -> Sequence[Emit]:
        now = datetime.now(UTC)
        city = active.city
        routed = reroute(request, city, now)
        if routed.needs_triage:
            assert op.store is not None
            await op.store.hold_again(routed, now)
        unit = city.skpd.by_code.get(routed.skpd_code)
        metrics.REPORTS_ROUTED.labels(unit.level.value if unit else "unknown", routed.routing.rule).inc()
        return emits_for(routed, topics)

    async def setup(rt: Runtime) -> Wiring:
        op.store = TriageStore(rt.db[settings.triage_collection])
        await op.store.ensure_indexes()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, op.on_sighup)

        async def stop() -> None:
            loop.remove_signal_handler(signal.SIGHUP)

        return Wiring(
            subscriptions=[
                Subscription(topics.normalized, parser_for(NormalizedReport), handle_batch=handle_batch),
                Subscription(topics.reroute, parser_for(RerouteRequest), handle_reroute),
            ],
            stage="route",
            on_stop=stop,
        )

    return build_service(NAME, common, setup, uses_mongo=True, routers=[operator_routes(op)])


def main() -> None:
    settings = load_settings(RouterSettings)
    serve(NAME, build(settings), settings)
