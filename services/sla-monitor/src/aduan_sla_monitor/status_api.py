"""The status API for SKPD systems: a unit posts status updates on its own cases and lists its open ones.

Every request carries ``Authorization: Bearer <unit key>`` (see ``unit_keys``); the key names the unit.

- ``POST /v1/cases/{report_id}/status`` — body ``StatusBody`` (at most ``status_max_body_bytes``).
  Checked in this order: key (401), rate (429), body size (413), body (422), the case exists (404) and is
  the unit's (403), the same rules as the Kafka path (``cases.check_update``: 422 with the reason); then
  the ``StatusUpdate``, contacts typed into its note masked (``cases.masked_note``), is published on
  ``aduan.reports.status`` (key = report id) and, once the broker acknowledged it, answered 202. The
  status consumer applies it like any update from Kafka: one place applies updates. Nothing is published
  when a check fails.
- ``GET /v1/unit/cases?limit=&after=`` — the unit's open cases (no ``closed_at``) with their deadlines,
  in report-id order, ``limit`` at most ``MAX_PAGE``; ``next_after`` continues the listing.
"""

# No postponed annotations here: FastAPI resolves the routes' ``Depends`` on local functions.
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from aduan_kit.http import BodyTooLarge, read_limited_body
from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.logs import get_logger
from aduan_schemas.city import SkpdRegistry
from aduan_schemas.events import (
    MAX_ATTACHMENTS,
    MAX_ID,
    MAX_TEXT,
    ReasonCode,
    ReportStatus,
    ShortText,
    StatusUpdate,
    Url,
)
from aduan_schemas.topics import TopicNames
from aduan_sla_monitor.cases import InvalidStatus, check_update, masked_note, public_view
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.store import CaseStore
from aduan_sla_monitor.unit_keys import UnitKeys

MAX_PAGE = 200
RETRY_AFTER_S = 5
# What a unit may say; ``reopened`` comes from citizens' follow-ups, ``recategorised`` from operators.
UNIT_STATUSES = frozenset(ReportStatus) - {ReportStatus.REOPENED}
LISTED = ("status", "category", "received_at", "respond_by", "resolve_by", "responded_at", "text")

log = get_logger(component="status-api")


class StatusBody(BaseModel):
    """What a unit posts. ``at`` is required: a retry with the same body is the same update (one entry)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: ReportStatus
    at: AwareDatetime
    by: ShortText = Field(min_length=1, description="The officer or system that answers")
    note: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    evidence: list[Url] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    reason_code: ReasonCode | None = None
    reassign_to: ShortText | None = None


@dataclass
class RateLimit:
    """A fixed one-minute window per unit: enough to stop a runaway client, cheap to keep."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def retry_after(self, unit: str) -> int | None:
        """None when the request may go; else the seconds until the unit's window reopens."""
        now = self.clock()
        start, count = self._windows.get(unit, (now, 0))
        if now - start >= 60:
            start, count = now, 0
        if count >= self.per_minute:
            return max(1, int(60 - (now - start)) + 1)
        self._windows[unit] = (start, count + 1)
        return None


def _reasons(e: ValidationError) -> list[str]:
    return [
        f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}"
        for x in e.errors(include_input=False, include_url=False)[:5]
    ]


def status_routes(
    keys: UnitKeys,
    registry: SkpdRegistry,
    topics: TopicNames,
    settings: SlaMonitorSettings,
    keep: frozenset[str],
) -> APIRouter:
    """``keep``: the city's official accounts, left unmasked in notes (``cases.masked_note``)."""
    router = APIRouter(prefix="/v1", tags=["status"])
    limit = RateLimit(settings.status_rate_per_minute)

    def unit_of(request: Request) -> str:
        if not keys.configured:
            raise HTTPException(503, "status API is off: set ADUAN_SLA_MONITOR_UNIT_KEYS_FILE to enable it")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        unit = keys.unit_for(given.strip()) if scheme.lower() == "bearer" else None
        if unit is None:
            raise HTTPException(401, "missing or unknown unit key", headers={"WWW-Authenticate": "Bearer"})
        wait = limit.retry_after(unit)
        if wait is not None:
            raise HTTPException(
                429, f"more than {limit.per_minute} requests a minute", headers={"Retry-After": str(wait)}
            )
        return unit

    def store(request: Request) -> CaseStore:
        cases: CaseStore | None = getattr(request.app.state, "cases", None)
        if cases is None:
            raise HTTPException(503, "case store not connected yet")
        return cases

    @router.post("/cases/{report_id}/status", status_code=202)
    async def post_status(
        request: Request,
        report_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
        unit: Annotated[str, Depends(unit_of)],
    ) -> dict[str, Any]:
        try:
            raw = await read_limited_body(request, settings.status_max_body_bytes)
        except BodyTooLarge as e:
            raise HTTPException(413, str(e)) from e
        try:
            body = StatusBody.model_validate_json(raw)
        except ValidationError as e:
            raise HTTPException(422, _reasons(e)) from e
        if body.status not in UNIT_STATUSES:
            raise HTTPException(422, f"status {body.status.value!r} is not a unit's to send")
        if body.reason_code is ReasonCode.RECATEGORISED:
            raise HTTPException(422, "re-categorising is an operator's decision (router operator API)")
        case = (await store(request).find([report_id])).get(report_id)
        if case is None:
            raise HTTPException(404, f"no case for report {report_id!r}")
        owner = case.get("skpd_code")
        if owner != unit:
            log.warning("status refused: not the unit's case", report_id=report_id, unit=unit, owner=owner)
            raise HTTPException(403, f"report {report_id!r} is not assigned to your unit ({unit})")
        update = masked_note(StatusUpdate(report_id=report_id, skpd_code=unit, **body.model_dump()), keep)
        try:
            check_update(update, registry)
        except InvalidStatus as e:
            raise HTTPException(422, str(e)) from e
        producer: EventProducer = request.app.state.runtime.producer
        try:
            await asyncio.wait_for(
                producer.send_and_wait(Emit(topics.status, update)), settings.status_publish_timeout_s
            )
        except (TimeoutError, KafkaError, OSError) as e:
            log.error("status update not published", report_id=report_id, error=type(e).__name__)
            raise HTTPException(
                503,
                "the broker did not accept the update; retry",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from e
        log.info("status update accepted", report_id=report_id, unit=unit, status=update.status.value)
        return {"status": "accepted", "report_id": report_id, "event_id": update.event_id()}

    @router.get("/unit/cases")
    async def open_cases(
        request: Request,
        unit: Annotated[str, Depends(unit_of)],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[str | None, Query(max_length=MAX_ID)] = None,
    ) -> dict[str, Any]:
        docs = await store(request).open_cases_of(unit, after, limit)
        items = [
            {k: v for k, v in public_view(d).items() if k == "report_id" or k in LISTED or k == "sla"}
            for d in docs
        ]
        return {
            "skpd_code": unit,
            "items": items,
            "next_after": docs[-1]["_id"] if len(docs) == limit else None,
        }

    return router
