"""Wiring: consume aduan.reports.routed and aduan.reports.status into the case store, scan deadlines
into aduan.sla.events, and serve the cases over HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request

from aduan_kit.kafka import BatchResult, Emit, PermanentError, Received, Subscription, parser_for
from aduan_kit.logs import get_logger
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import load_settings
from aduan_schemas.events import MAX_ID, DuplicateAction, DuplicateDecision, RoutedReport, StatusUpdate
from aduan_sla_monitor import metrics
from aduan_sla_monitor.cases import InvalidStatus, StatusChange, masked_note, public_view, status_change
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.duplicate_store import DuplicateLinks
from aduan_sla_monitor.duplicates import duplicate_target
from aduan_sla_monitor.lateness import late_findings
from aduan_sla_monitor.public_api import public_api
from aduan_sla_monitor.public_case import official_handles
from aduan_sla_monitor.reopen import follow_up
from aduan_sla_monitor.reroute import reroute_request, waiting
from aduan_sla_monitor.scanner import AlarmRules, Scanner
from aduan_sla_monitor.status_api import status_routes
from aduan_sla_monitor.store import CaseStore
from aduan_sla_monitor.unit_keys import UnitKeys

NAME = "sla-monitor"
log = get_logger(component=NAME)


def _emits(outcome: Sequence[Emit] | BaseException) -> list[Emit]:
    """The records already planned for a batch position (none when it is dead-lettered)."""
    return [] if isinstance(outcome, BaseException) else list(outcome)


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
    keep = official_handles(city)  # accounts of offices: not masked in notes
    app: FastAPI

    async def setup(rt: Runtime) -> Wiring:
        store = CaseStore(rt.db, history_limit=settings.history_limit)
        await store.ensure_indexes()
        app.state.cases = store
        linked = DuplicateLinks(store)
        rules = AlarmRules(city.sla, city.skpd)

        async def on_routed(batch: list[tuple[RoutedReport, Received]]) -> BatchResult:
            out: BatchResult = [[] for _ in batch]
            reports = [r for r, _ in batch]
            earlier = await store.find(
                [r.follow_up_of for r in reports if r.follow_up_of]
                + [r.duplicate_of for r in reports if r.duplicate_of]
            )
            plain, links, duplicates = [], [], []
            for i, report in enumerate(reports):
                target = duplicate_target(report, earlier.get(report.duplicate_of or ""))
                if target is not None:  # one problem, one case: no clocks of its own
                    duplicates.append((target, report))
                    continue
                f = follow_up(report, earlier.get(report.follow_up_of or ""), city.sla)
                if f is None:
                    plain.append(report)
                    continue
                links.append((f.earlier_id, report.report_id))
                if f.reopen is not None:  # applied by the status consumer, like every update
                    out[i] = [Emit(topics.status, f.reopen)]
                    log.info("follow-up reopens its case", report_id=f.earlier_id, follow_up=report.report_id)
            now = settings.now()
            await store.link_follow_ups(links, now)
            await linked.link(duplicates, now)
            metrics.DUPLICATES_LINKED.inc(len(duplicates))
            metrics.CASES_STORED.inc(await store.apply_routed_batch(plain, now, rules.first_alarm))
            for report in plain:
                metrics.INTAKE_TO_CASE_SECONDS.observe(max((now - report.received_at).total_seconds(), 0.0))
            return out

        async def on_status(batch: list[tuple[StatusUpdate, Received]]) -> BatchResult:
            out: BatchResult = [[] for _ in batch]
            changes: list[tuple[int, StatusChange]] = []
            for i, (update, _) in enumerate(batch):
                try:
                    changes.append((i, status_change(masked_note(update, keep), city.skpd)))
                except InvalidStatus as e:
                    out[i] = PermanentError(str(e))  # this update alone is dead-lettered
            now = settings.now()
            results = await store.apply_statuses([c for _, c in changes], now)
            cases = await _judge_lateness(changes, out, now)
            for (_, change), (applied, created) in zip(changes, results, strict=True):
                if created:
                    metrics.CASES_STORED.inc()
                if applied:
                    metrics.STATUS_UPDATES.labels(change.status).inc()
                    _time_to_answer(change, cases.get(change.report_id))
                else:
                    log.info(
                        "status update already applied", report_id=change.report_id, event_id=change.event_id
                    )
            # Re-routing: sent (again) while the case still waits for it, so a crash between the write
            # and the send, or a re-delivery, never loses the request.
            asked = [(i, c) for i, c in changes if c.reroute]
            cases = await store.find([c.report_id for _, c in asked])
            for i, change in asked:
                case = cases.get(change.report_id)
                if case is None or not waiting(case, change.at):
                    continue
                request = reroute_request(case, change)
                if request is None:
                    log.warning(
                        "re-routing asked before the routed report arrived", report_id=change.report_id
                    )
                    continue
                out[i] = [*_emits(out[i]), Emit(topics.reroute, request)]
                log.info(
                    "report sent back to the router",
                    report_id=change.report_id,
                    exclude=request.exclude_units,
                )
            return out

        def _time_to_answer(change: StatusChange, case: dict[str, Any] | None) -> None:
            """Observe the time to the unit's first answer and to closing, when this update set them."""
            if case is None or case.get("received_at") is None:
                return
            received, unit = case["received_at"], case.get("skpd_code") or "unknown"
            for at, stored, family in (
                (change.responded_at, case.get("responded_at"), metrics.RESPOND_SECONDS),
                (change.closed_at, case.get("closed_at"), metrics.RESOLVE_SECONDS),
            ):
                # The store keeps the first answer (to the millisecond): this update is it if they agree.
                if at is not None and stored is not None and abs(stored - at) < timedelta(milliseconds=1):
                    family.labels(unit).observe(max((at - received).total_seconds(), 0.0))

        async def _judge_lateness(
            indexed: list[tuple[int, StatusChange]], out: BatchResult, now: datetime
        ) -> dict[str, dict[str, Any]]:
            """Record and announce breaches the updates' own times reveal (``lateness``); returns the
            answered cases' clocks."""
            changes = [c for _, c in indexed]
            positions = [i for i, _ in indexed]
            answering = [c for c in changes if c.responded_at is not None or c.closed_at is not None]
            if not answering:
                return {}
            cases = await store.clocks([c.report_id for c in answering])
            found = late_findings(changes, cases, city.sla, city.skpd, now)
            new = await store.mark_late(
                [(f.report_id, f.alarm.key, f.alarm.at, f.event_id, now) for f in found]
            )
            emits: dict[int, list[Emit]] = {}
            for f in found:
                emits.setdefault(positions[f.index], []).append(Emit(topics.sla_events, f.event))
                if not f.resent:
                    metrics.count_alarm(f.alarm.kind, cases[f.report_id].get("skpd_code"), city.skpd)
                log.warning(
                    "deadline breached, found from the answer's time",
                    report_id=f.report_id,
                    kind=f.alarm.kind,
                    due_at=f.alarm.at.isoformat(),
                    resent=f.resent,
                )
            for pos, records in emits.items():
                out[pos] = [*_emits(out[pos]), *records]
            if found and new < sum(not f.resent for f in found):
                log.info("late breaches recorded already", found=len(found), new=new)
            return cases

        async def on_duplicate(batch: list[tuple[DuplicateDecision, Received]]) -> BatchResult:
            """Operators' corrections, in order: a split report gets its own case and its unit a ticket."""
            out: BatchResult = [[] for _ in batch]
            now = settings.now()
            for i, (decision, _) in enumerate(batch):
                if decision.action == DuplicateAction.SPLIT:
                    report = await linked.split(decision, now)
                    if report is None:
                        out[i] = PermanentError(f"{decision.report_id} is not a linked duplicate")
                        continue
                    out[i] = [Emit(topics.skpd(report.skpd_code), report)]
                elif not await linked.merge(decision, now):
                    out[i] = PermanentError(f"no case {decision.into} to merge {decision.report_id} into")
                    continue
                log.info("duplicate decision applied", report_id=decision.report_id, action=decision.action)
            return out

        tasks = []
        if settings.scanner_enabled:
            scanner = Scanner(
                store,
                rt.producer,
                city.skpd,
                topics.sla_events,
                settings.scan_interval_s,
                settings.scan_batch,
                count_interval_s=settings.open_count_interval_s,
                clock=settings.now,
                sla=city.sla,
                lease=timedelta(seconds=settings.claim_lease_s),
            )
            tasks.append(scanner.run)
        return Wiring(
            subscriptions=[
                Subscription(topics.routed, parser_for(RoutedReport), handle_batch=on_routed),
                Subscription(topics.status, parser_for(StatusUpdate), handle_batch=on_status),
                Subscription(topics.duplicates, parser_for(DuplicateDecision), handle_batch=on_duplicate),
            ],
            stage="sla",
            tasks=tasks,
        )

    keys = UnitKeys(settings.unit_keys_file)
    public = public_api(city, ZoneInfo(settings.public_timezone))
    app = build_service(
        NAME,
        settings.common,
        setup,
        uses_mongo=True,
        routers=[api(), public, status_routes(keys, city.skpd, topics, settings, keep)],
    )
    return app


def main() -> None:
    settings = load_settings(SlaMonitorSettings)
    serve(NAME, build(settings), settings)
