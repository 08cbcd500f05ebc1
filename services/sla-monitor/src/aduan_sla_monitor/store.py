"""The case store in MongoDB (collection ``cases``, ``_id`` = report id). The only module that writes it.

SecantusDB note: no ``find_one_and_*`` here (a full scan there); every write is an ``update_one``
guarded by its filter, several per event sent in one ``bulk_write`` round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from aduan_kit.kafka import TransientError
from aduan_kit.mongo import DUPLICATE_KEY
from aduan_schemas.events import RoutedReport
from aduan_sla_monitor.cases import ROUTED, StatusChange, case_fields
from aduan_sla_monitor.deadlines import RESOLVE, RESPOND, BreachKind

COLLECTION = "cases"
# What the scanner needs of a case.
CLOCK_FIELDS = {
    "skpd_code": 1,
    "sla.policy": 1,
    "respond_by": 1,
    "resolve_by": 1,
    "responded_at": 1,
    "closed_at": 1,
    "breaches": 1,
}


class CaseStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], history_limit: int = 50) -> None:
        self.coll: AsyncCollection[dict[str, Any]] = db[COLLECTION]
        self.history_limit = history_limit

    async def ensure_indexes(self) -> None:
        # Equality on the missing answer first, then the deadline range: the scan reads only open
        # cases whose deadline passed, however many closed cases the store holds.
        await self.coll.create_index([("responded_at", ASCENDING), ("respond_by", ASCENDING)])
        await self.coll.create_index([("closed_at", ASCENDING), ("resolve_by", ASCENDING)])

    async def apply_routed(self, report: RoutedReport, now: datetime) -> bool:
        """Upsert the case from its routed report. Returns True when the case is new."""
        ops = [
            UpdateOne(
                {"_id": report.report_id},
                {
                    "$set": {**case_fields(report), "updated_at": now},
                    "$setOnInsert": {"status": ROUTED, "created_at": now},
                },
                upsert=True,
            ),
            # The routed unit, unless a reassignment (which may have arrived first) already named another.
            UpdateOne(
                {"_id": report.report_id, "reassigned_at": {"$exists": False}},
                {"$set": {"skpd_code": report.skpd_code, "skpd_name": report.skpd_name}},
            ),
        ]
        try:
            res = await self.coll.bulk_write(ops, ordered=True)
        except BulkWriteError as e:
            if _only_duplicates(e):  # a status update inserted the case at the same moment: retry
                raise TransientError(f"case {report.report_id} was created concurrently") from e
            raise
        return res.upserted_count > 0

    async def apply_status(self, change: StatusChange, now: datetime) -> tuple[bool, bool]:
        """Apply a status update. Returns (applied, created); applied is False for a re-delivery."""
        rid = change.report_id
        first: dict[str, Any] = {
            "$push": {"history": {"$each": [change.entry], "$slice": -self.history_limit}},
            "$set": {"updated_at": now},
            "$setOnInsert": {"created_at": now},
        }
        earliest = {
            k: v for k, v in (("responded_at", change.responded_at), ("closed_at", change.closed_at)) if v
        }
        if earliest:
            first["$min"] = earliest  # the first answer counts, whatever order updates arrive in
        ops = [
            # Guarded by the event id: a re-delivered update matches nothing, and its upsert then
            # collides with the existing ``_id`` (duplicate key), which is how a duplicate shows.
            UpdateOne({"_id": rid, "history.event_id": {"$ne": change.event_id}}, first, upsert=True),
            # The latest update by its own time sets the status.
            UpdateOne(
                {"_id": rid, "$or": [{"status_at": {"$exists": False}}, {"status_at": {"$lte": change.at}}]},
                {"$set": {"status": change.status, "status_at": change.at}},
            ),
        ]
        if change.reassign_to is not None:
            ops.append(
                UpdateOne(
                    {
                        "_id": rid,
                        "$or": [
                            {"reassigned_at": {"$exists": False}},
                            {"reassigned_at": {"$lte": change.at}},
                        ],
                    },
                    {
                        "$set": {
                            "skpd_code": change.reassign_to,
                            "skpd_name": change.reassign_name,
                            "reassigned_at": change.at,
                        }
                    },
                )
            )
        try:
            res = await self.coll.bulk_write(ops, ordered=False)
        except BulkWriteError as e:
            if not _only_duplicates(e):
                raise
            seen = await self.coll.find_one({"_id": rid, "history.event_id": change.event_id}, {"_id": 1})
            if seen is None:  # not a re-delivery: the case was created concurrently; retry
                raise TransientError(f"case {rid} was created concurrently") from e
            return False, False
        return True, res.upserted_count > 0

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Cases with a passed deadline, no answer and no breach recorded yet (by kind, index-backed)."""
        queries = [
            {"responded_at": None, "respond_by": {"$lte": now}, f"breaches.{RESPOND}": {"$exists": False}},
            {"closed_at": None, "resolve_by": {"$lte": now}, f"breaches.{RESOLVE}": {"$exists": False}},
        ]
        found: dict[Any, dict[str, Any]] = {}
        for q in queries:
            async for doc in self.coll.find(q, CLOCK_FIELDS).limit(limit):
                found[doc["_id"]] = doc
        return list(found.values())

    async def mark_breaches(self, marks: Sequence[tuple[str, BreachKind, datetime]]) -> int:
        """Record emitted breaches; guarded so each is recorded once. Returns how many were new."""
        if not marks:
            return 0
        ops = [
            UpdateOne(
                {"_id": rid, f"breaches.{kind}": {"$exists": False}},
                {"$set": {f"breaches.{kind}": at}},
            )
            for rid, kind, at in marks
        ]
        res = await self.coll.bulk_write(ops, ordered=False)
        return res.modified_count

    async def count_open(self) -> int:
        return await self.coll.count_documents({"closed_at": None})

    async def get(self, report_id: str) -> dict[str, Any] | None:
        return await self.coll.find_one({"_id": report_id})


def _only_duplicates(e: BulkWriteError) -> bool:
    errors = e.details.get("writeErrors", [])
    return bool(errors) and all(w.get("code") == DUPLICATE_KEY for w in errors)
