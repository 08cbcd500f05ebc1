"""Wiring: consume aduan.reports.routed and aduan.reports.status into the case store, scan deadlines
into aduan.sla.events, and serve the cases over HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request

from aduan_kit import metrics
from aduan_kit.kafka import Emit, PermanentError, Received, Subscription, parser_for
from aduan_kit.logs import get_logger
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import load_settings
from aduan_schemas.events import MAX_ID, RoutedReport, StatusUpdate
from aduan_sla_monitor.cases import InvalidStatus, public_view, status_change
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.scanner import Scanner
from aduan_sla_monitor.store import CaseStore

NAME = "sla-monitor"
log = get_logger(component=NAME)


def _store(request: Request) -> CaseStore:
    store: CaseStore = request.app.state.cases
    return store


def api() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["cases"])

    @router.get("/cases/{report_id}")
    async def get_case(
        request: Request, report_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)]
    ) -> dict[str, Any]:
        case = await _store(request).get(report_id)
        if case is None:
            raise HTTPException(
                status_code=404,
                detail=f"no case for report {report_id!r}: no routed report or status update received for it",
            )
        return public_view(case)

    return router


def build(settings: SlaMonitorSettings) -> FastAPI:
    city = settings.common.load_city()
    topics = settings.common.topics
    app: FastAPI

    async def setup(rt: Runtime) -> Wiring:
        store = CaseStore(rt.db, history_limit=settings.history_limit)
        await store.ensure_indexes()
        app.state.cases = store

        async def on_routed(report: RoutedReport, _: Received) -> Sequence[Emit]:
            if await store.apply_routed(report, datetime.now(UTC)):
                metrics.CASES_STORED.inc()
            return []

        async def on_status(update: StatusUpdate, _: Received) -> Sequence[Emit]:
            try:
                change = status_change(update, city.skpd)
            except InvalidStatus as e:
                raise PermanentError(str(e)) from e
            applied, created = await store.apply_status(change, datetime.now(UTC))
            if created:
                metrics.CASES_STORED.inc()
            if applied:
                metrics.STATUS_UPDATES.labels(change.status).inc()
            else:
                log.info(
                    "status update already applied", report_id=update.report_id, event_id=change.event_id
                )
            return []

        tasks = []
        if settings.scanner_enabled:
            scanner = Scanner(
                store,
                rt.producer,
                city.skpd,
                topics.sla_events,
                settings.scan_interval_s,
                settings.scan_batch,
            )
            tasks.append(scanner.run)
        return Wiring(
            subscriptions=[
                Subscription(topics.routed, parser_for(RoutedReport), on_routed),
                Subscription(topics.status, parser_for(StatusUpdate), on_status),
            ],
            stage="sla",
            tasks=tasks,
        )

    app = build_service(NAME, settings.common, setup, uses_mongo=True, routers=[api()])
    return app


def main() -> None:
    settings = load_settings(SlaMonitorSettings)
    serve(NAME, build(settings), settings)
