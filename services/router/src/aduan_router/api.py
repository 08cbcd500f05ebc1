"""The router's operator API: triaged reports, operator decisions, rules reload.

Every endpoint but ``GET /v1/rules`` needs ``Authorization: Bearer <ADUAN_ROUTER_OPERATOR_TOKEN>``;
without a configured token they answer 503 (the API is off), with a wrong one 401.

- ``GET /v1/triage?limit=`` — open triaged reports, oldest first.
- ``POST /v1/triage/{report_id}/decision`` — ``Decision`` body (at most ``MAX_DECISION_BYTES``): publish
  the report with the operator's unit to ``aduan.reports.routed`` and ``aduan.skpd.<code>``, then close
  the item. Publish first: if the process dies in between, the item stays open and the operator's retry
  publishes the same event again (same CloudEvents id), which consumers deduplicate.
- ``POST /v1/reports/{report_id}/category`` — ``Recategorisation`` body: an operator's new category for
  a report that is already a unit's. Published as a ``StatusUpdate`` (``reassigned``, ``reason_code``
  ``recategorised``) on ``aduan.reports.status``; the SLA monitor, which holds the report, sends it back
  here on ``aduan.reports.reroute`` and the rules pick the unit for the new category (202).
- ``POST /v1/duplicates/{report_id}/split`` — ``DuplicateCorrection`` body (``by``, ``note``): the
  report, linked as a near-duplicate, becomes its own case. ``POST /v1/duplicates/{report_id}/merge``
  (``into``, ``by``, ``note``): the report's case joins case ``into``. Both are published as a
  ``DuplicateDecision`` on ``aduan.reports.duplicates``; the SLA monitor applies them (202).
- ``POST /v1/admin/reload-rules`` — re-read the city files; 422 with the reason when refused.
- ``GET /v1/rules`` — versions of the active configuration and the last refused reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from aduan_kit.http import BodyTooLarge, read_limited_body
from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.logs import get_logger
from aduan_router.active import ActiveCity, RulesRefused
from aduan_router.triage import OPEN, Decision, TriageItem, TriageStore, decide, emits_for
from aduan_schemas.events import (
    MAX_ID,
    DuplicateAction,
    DuplicateDecision,
    ReasonCode,
    ReportStatus,
    StatusUpdate,
)
from aduan_schemas.topics import TopicNames

MAX_DECISION_BYTES = 16_384
MAX_LIST = 500
TOKEN_ENV = "ADUAN_ROUTER_OPERATOR_TOKEN"
M = TypeVar("M", bound=BaseModel)

log = get_logger(component="router-operator")


@dataclass
class Operator:
    """What the operator endpoints and the SIGHUP handler share with the consume path."""

    token: SecretStr | None
    active: ActiveCity
    topics: TopicNames
    store: TriageStore | None = None  # set once MongoDB is connected
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def reload(self) -> dict[str, Any]:
        """Reload the city files off the event loop; raises ``RulesRefused`` (old rules stay)."""
        async with self._reload_lock:
            old = self.active.city.routing.version
            try:
                await asyncio.to_thread(self.active.reload, datetime.now(UTC))
            except RulesRefused as e:
                log.error("rules reload refused; the previous rules stay active", version=old, error=str(e))
                raise
            log.info("rules reloaded", previous=old, version=self.active.city.routing.version)
            return self.active.status()

    def on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_quietly())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_quietly(self) -> None:
        with contextlib.suppress(RulesRefused):  # logged by reload()
            await self.reload()


class Recategorisation(BaseModel):
    """An operator's new category for a report (the body of ``POST /v1/reports/{id}/category``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=MAX_ID, description="The new category code")
    by: str = Field(min_length=1, max_length=MAX_ID, description="Operator name or id")
    note: str | None = Field(default=None, max_length=2_000)


class DuplicateCorrection(BaseModel):
    """An operator's split or merge (the body of ``POST /v1/duplicates/{id}/split|merge``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    into: str | None = Field(default=None, min_length=1, max_length=MAX_ID, description="merge: the case")
    by: str = Field(min_length=1, max_length=MAX_ID, description="Operator name or id")
    note: str | None = Field(default=None, max_length=MAX_ID)


def _summary(item: TriageItem) -> dict[str, Any]:
    r = item.report
    return {
        "report_id": r.report_id,
        "held_at": item.created_at.isoformat(),
        "received_at": r.received_at.isoformat(),
        "channel": r.channel,
        "category": r.category,
        "candidate": {"skpd_code": r.skpd_code, "skpd_name": r.skpd_name},
        "runner_up": r.routing.runner_up,
        "confidence": r.routing.confidence,
        "reason": r.routing.reason,
        "text": r.text,
        "address_text": r.address_text,
        "place": r.place.model_dump() if r.place else None,
        "respond_by": r.sla.respond_by.isoformat(),
    }


def operator_routes(op: Operator) -> APIRouter:
    router = APIRouter(tags=["operator"])

    def authorize(request: Request) -> None:
        if op.token is None:
            raise HTTPException(503, f"operator API is off: set {TOKEN_ENV} to enable it")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = op.token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(
                401, "missing or wrong operator token", headers={"WWW-Authenticate": "Bearer"}
            )

    def store() -> TriageStore:
        if op.store is None:
            raise HTTPException(503, "triage store not connected yet")
        return op.store

    @router.get("/v1/rules")
    async def rules() -> dict[str, Any]:
        return op.active.status()

    @router.post("/v1/admin/reload-rules", dependencies=[Depends(authorize)])
    async def reload_rules() -> dict[str, Any]:
        try:
            return await op.reload()
        except RulesRefused as e:
            raise HTTPException(422, {"error": str(e), "active": op.active.status()}) from e

    @router.get("/v1/triage", dependencies=[Depends(authorize)])
    async def open_items(limit: int = Query(default=50, ge=1, le=MAX_LIST)) -> dict[str, Any]:
        items = await store().open_items(limit)
        return {"items": [_summary(i) for i in items], "count": len(items)}

    @router.post("/v1/triage/{report_id}/decision", dependencies=[Depends(authorize)])
    async def decision(report_id: str, request: Request) -> dict[str, Any]:
        d = await _body_as(Decision, request)
        city = op.active.city
        unit = city.skpd.by_code.get(d.skpd_code)
        if unit is None:
            raise HTTPException(422, f"unknown unit {d.skpd_code!r}: not in the SKPD registry")
        if d.category is not None and d.category not in {c.code for c in city.taxonomy.categories}:
            raise HTTPException(422, f"unknown category {d.category!r}: not in the taxonomy")
        item = await store().get(report_id) if len(report_id) <= MAX_ID else None
        if item is None:
            raise HTTPException(404, f"no triaged report {report_id!r}")
        if item.status != OPEN:
            raise HTTPException(409, f"report {report_id!r} was already decided by {item.decided_by}")
        now = datetime.now(UTC)
        decided = decide(item.report, d, unit, now)
        producer: EventProducer = request.app.state.runtime.producer
        try:
            await asyncio.gather(*await producer.send_all(emits_for(decided, op.topics)))
        except Exception as e:
            log.warning("decision not published", report_id=report_id, error=repr(e))
            raise HTTPException(503, "the broker did not accept the decision; retry") from e
        closed = await store().mark_decided(decided, d, now)
        log.info("triage decided", report_id=report_id, skpd_code=unit.code, by=d.by, closed=closed)
        return {
            "report_id": decided.report_id,
            "skpd_code": decided.skpd_code,
            "skpd_name": decided.skpd_name,
            "routing": decided.routing.model_dump(),
        }

    @router.post("/v1/reports/{report_id}/category", status_code=202, dependencies=[Depends(authorize)])
    async def recategorise(report_id: str, request: Request) -> dict[str, Any]:
        r = await _body_as(Recategorisation, request)
        if len(report_id) > MAX_ID:
            raise HTTPException(422, f"report id longer than {MAX_ID} characters")
        if r.category not in {c.code for c in op.active.city.taxonomy.categories}:
            raise HTTPException(422, f"unknown category {r.category!r}: not in the taxonomy")
        update = StatusUpdate(
            report_id=report_id,
            status=ReportStatus.REASSIGNED,
            reason_code=ReasonCode.RECATEGORISED,
            category=r.category,
            at=datetime.now(UTC),
            by=r.by,
            note=r.note,
        )
        producer: EventProducer = request.app.state.runtime.producer
        try:
            await producer.send_and_wait(Emit(op.topics.status, update))
        except Exception as e:
            log.warning("re-categorisation not published", report_id=report_id, error=repr(e))
            raise HTTPException(503, "the broker did not accept the re-categorisation; retry") from e
        log.info("report re-categorised", report_id=report_id, category=r.category, by=r.by)
        return {"status": "accepted", "report_id": report_id, "event_id": update.event_id()}

    @router.post("/v1/duplicates/{report_id}/{action}", status_code=202, dependencies=[Depends(authorize)])
    async def correct_duplicate(report_id: str, action: DuplicateAction, request: Request) -> dict[str, Any]:
        c = await _body_as(DuplicateCorrection, request)
        try:
            decision = DuplicateDecision(
                report_id=report_id,
                action=action,
                into=c.into if action == DuplicateAction.MERGE else None,
                at=datetime.now(UTC),
                by=c.by,
                note=c.note,
            )
        except ValidationError as e:
            raise _unprocessable(e) from e
        producer: EventProducer = request.app.state.runtime.producer
        try:
            await producer.send_and_wait(Emit(op.topics.duplicates, decision))
        except Exception as e:
            log.warning("duplicate decision not published", report_id=report_id, error=repr(e))
            raise HTTPException(503, "the broker did not accept the decision; retry") from e
        log.info("duplicate decision", report_id=report_id, action=action.value, by=c.by)
        return {"status": "accepted", "report_id": report_id, "event_id": decision.event_id()}

    return router


def _unprocessable(e: ValidationError) -> HTTPException:
    """422 naming each invalid field."""
    return HTTPException(422, [f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()])


async def _body_as(model: type[M], request: Request) -> M:
    """The request's JSON body as ``model``: 413 over ``MAX_DECISION_BYTES``, 422 naming invalid fields."""
    try:
        body = await read_limited_body(request, MAX_DECISION_BYTES)
    except BodyTooLarge as e:
        raise HTTPException(413, str(e)) from e
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise _unprocessable(e) from e
