"""Triage: where a routed report goes, what an operator's decision makes of it, and the triage store.

- ``emits_for``: a report with ``needs_triage`` goes to ``aduan.reports.routed`` (so its case and clocks
  exist) and to ``aduan.reports.triage``, never to its candidate unit's topic; any other report goes to
  ``aduan.reports.routed`` and ``aduan.skpd.<code>``.
- ``decide``: the operator's unit replaces the candidate: ``routing.rule = "operator"``, a reason naming
  who decided, confidence 1.0, ``needs_triage`` False. Deadlines stay: they count from the citizen's report.
- ``TriageStore`` (MongoDB, ``_id`` = report id) keeps each triaged report until an operator decides.
  Writes are guarded (an insert that a duplicate id refuses, one per batch; an update that matches only an
  open item),
  never the find_one_and_* family, which scans on the embedded database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from aduan_kit.kafka import Emit
from aduan_kit.mongo import find_in, insert_new
from aduan_schemas.city import SkpdUnit
from aduan_schemas.events import MAX_ID, MAX_SHORT, RoutedReport, Routing
from aduan_schemas.topics import TopicNames

OPERATOR_RULE = "operator"
OPEN = "open"
DECIDED = "decided"


class Decision(BaseModel):
    """An operator's decision on one triaged report (the body of ``POST /v1/triage/{id}/decision``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    skpd_code: str = Field(min_length=1, max_length=MAX_ID, description="The unit that handles the report")
    category: str | None = Field(default=None, max_length=MAX_ID, description="Corrected category code")
    by: str = Field(min_length=1, max_length=MAX_ID, description="Operator name or id")
    note: str | None = Field(default=None, max_length=2_000)


def emits_for(routed: RoutedReport, topics: TopicNames) -> list[Emit]:
    if routed.duplicate_of is not None:  # one problem, one ticket: the unit already has the first report's
        return [Emit(topics.routed, routed)]  # the SLA monitor links it to that case
    if routed.needs_triage:
        return [Emit(topics.routed, routed), Emit(topics.triage, routed)]
    return [Emit(topics.routed, routed), Emit(topics.skpd(routed.skpd_code), routed)]


def decide(report: RoutedReport, decision: Decision, unit: SkpdUnit, now: datetime) -> RoutedReport:
    """The report as the operator routes it on (``unit`` is ``decision.skpd_code`` from the registry)."""
    reason = f"operator {decision.by} chose {unit.code}"
    if decision.note:
        reason += f": {decision.note}"
    if len(reason) > MAX_SHORT:
        reason = reason[: MAX_SHORT - 1] + "…"
    update: dict[str, Any] = {
        "skpd_code": unit.code,
        "skpd_name": unit.name,
        "routing": Routing(
            rule=OPERATOR_RULE,
            version=report.routing.version,
            reason=reason,
            confidence=1.0,
            runner_up=report.skpd_code if report.skpd_code != unit.code else None,
        ),
        "needs_triage": False,
        "routed_at": now,
    }
    if decision.category is not None and decision.category != report.category:
        update |= {"category": decision.category, "category_confidence": 1.0}
    return report.model_copy(update=update)


@dataclass(frozen=True)
class TriageItem:
    report: RoutedReport
    status: str
    created_at: datetime
    decided: RoutedReport | None = None
    decided_by: str | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TriageItem:
        decided = doc.get("decided_report")
        return cls(
            report=RoutedReport.model_validate(doc["report"]),
            status=doc["status"],
            created_at=doc["created_at"],
            decided=RoutedReport.model_validate(decided) if decided else None,
            decided_by=(doc.get("decision") or {}).get("by"),
        )


class TriageStore:
    def __init__(self, coll: AsyncCollection[dict[str, Any]]) -> None:
        self.coll = coll

    async def ensure_indexes(self) -> None:
        await self.coll.create_index([("status", ASCENDING), ("created_at", ASCENDING)])

    async def hold(self, report: RoutedReport, now: datetime) -> RoutedReport | None:
        """Keep a triaged report (idempotent). Returns the operator's version when it was decided
        already (a re-delivered report must not undo the decision), else None."""
        return (await self.hold_many([report], now)).get(report.report_id)

    async def hold_many(self, reports: Sequence[RoutedReport], now: datetime) -> dict[str, RoutedReport]:
        """Keep a batch's triaged reports: one ``insert_many`` (a report held already is refused by its
        id and left as it is), then one read of those held already. Returns the operator's version of
        each report decided already, by report id."""
        docs = [
            {"_id": rid, "status": OPEN, "report": r.model_dump(mode="json"), "created_at": now}
            for rid, r in {r.report_id: r for r in reports}.items()
        ]
        held = await insert_new(self.coll, docs)
        out: dict[str, RoutedReport] = {}
        async for doc in find_in(self.coll, "_id", held, status=DECIDED):
            decided = TriageItem.from_doc(doc).decided
            if decided is not None:
                out[str(doc["_id"])] = decided
        return out

    async def hold_again(self, report: RoutedReport, now: datetime) -> None:
        """Open the item again for a report every candidate unit refused (it may have been decided
        before). Idempotent per re-routing request: a re-delivery finds ``rerouted_at`` already set."""
        doc = {
            "status": OPEN,
            "report": report.model_dump(mode="json"),
            "created_at": now,
            "rerouted_at": report.rerouted_at,
        }
        with contextlib.suppress(DuplicateKeyError):  # held for this request already
            await self.coll.update_one(
                {"_id": report.report_id, "rerouted_at": {"$ne": report.rerouted_at}},
                {"$set": doc, "$unset": {"decision": "", "decided_report": "", "decided_at": ""}},
                upsert=True,
            )

    async def get(self, report_id: str) -> TriageItem | None:
        doc = await self.coll.find_one({"_id": report_id})
        return TriageItem.from_doc(doc) if doc is not None else None

    async def open_items(self, limit: int) -> Sequence[TriageItem]:
        cursor = self.coll.find({"status": OPEN}).sort("created_at", ASCENDING).limit(limit)
        return [TriageItem.from_doc(d) async for d in cursor]

    async def mark_decided(self, decided: RoutedReport, decision: Decision, now: datetime) -> bool:
        """Close an open item; False when it was not open (decided meanwhile, or unknown)."""
        res = await self.coll.update_one(
            {"_id": decided.report_id, "status": OPEN},
            {
                "$set": {
                    "status": DECIDED,
                    "decided_at": now,
                    "decision": decision.model_dump(),
                    "decided_report": decided.model_dump(mode="json"),
                }
            },
        )
        return res.modified_count == 1
