"""Wiring: consume aduan.reports.normalized, produce aduan.reports.routed and aduan.skpd.<code>."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fastapi import FastAPI

from aduan_kit import metrics
from aduan_kit.kafka import Emit, Received, Subscription, parser_for
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import load_settings
from aduan_router.config import RouterSettings
from aduan_router.rules import route
from aduan_schemas.events import NormalizedReport

NAME = "router"


def build(settings: RouterSettings) -> FastAPI:
    city = settings.common.load_city()
    topics = settings.common.topics

    async def handle(report: NormalizedReport, _: Received) -> Sequence[Emit]:
        routed = route(report, city, datetime.now(UTC))
        unit = city.skpd.get(routed.skpd_code)
        metrics.REPORTS_ROUTED.labels(unit.level.value, routed.routing.rule).inc()
        return [Emit(topics.routed, routed), Emit(topics.skpd(routed.skpd_code), routed)]

    async def setup(_: Runtime) -> Wiring:
        return Wiring(
            subscriptions=[Subscription(topics.normalized, parser_for(NormalizedReport), handle)],
            stage="route",
        )

    return build_service(NAME, settings.common, setup)


def main() -> None:
    settings = load_settings(RouterSettings)
    serve(NAME, build(settings), settings)
