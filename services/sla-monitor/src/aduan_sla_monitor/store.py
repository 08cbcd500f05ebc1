"""The case store in MongoDB (collection ``cases``, ``_id`` = report id). The only module that writes it.

Batched: a batch of routed reports is one ``insert_many`` of new cases (unordered; the ones that exist
already get guarded updates in one more ``bulk_write``); a batch of status updates is one read of the
event ids already applied and one ordered ``bulk_write`` of guarded updates. The deadline scan reads
pages by index (a range on ``next_alarm_at``, continued after the last ``(next_alarm_at, _id)``), then
per page one bulk write records what was sent and each case's next alarm. The scanner's lease is one
document in ``leases``.

SecantusDB note: no ``find_one_and_*`` here (a full scan there); every update is an ``update_one``
guarded by its filter, sent in one ``bulk_write`` round trip per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from aduan_kit.kafka import TransientError
from aduan_kit.mongo import DUPLICATE_KEY, find_in
from aduan_schemas.events import RoutedReport
from aduan_sla_monitor.cases import REROUTING, ROUTED, TRIAGE, StatusChange, case_fields
from aduan_sla_monitor.open311 import RequestQuery as PublicQuery
from aduan_sla_monitor.public_case import CLOSED
from aduan_sla_monitor.public_case import FIELDS as PUBLIC_FIELDS

COLLECTION = "cases"
LEASES = "leases"  # one document per lease: the deadline scanner's, held by one replica at a time
OPERATOR_RULE = "operator"  # the router's rule id of an operator's decision
CLOCK_KEYS = ("respond_by", "resolve_by", "sla")
# What the scanner and the lateness check need of a case.
CLOCK_FIELDS = {
    "skpd_code": 1,
    "sla.policy": 1,
    "received_at": 1,
    "respond_by": 1,
    "resolve_by": 1,
    "resolve_started_at": 1,
    "resolve_round": 1,
    "responded_at": 1,
    "closed_at": 1,
    "breaches": 1,
    "alarms": 1,
    "next_alarm_at": 1,
}
STATUS_INDEX = "status_1_received_at_-1__id_-1"  # no longer created (ensure_public_indexes)
# What the public views may read of a case (nothing else is fetched for them).
PUBLIC_PROJECTION = dict.fromkeys(PUBLIC_FIELDS, 1)

# The scanner's one index: cases by when their next alarm falls (absent: nothing scheduled).
NEXT_ALARM = "next_alarm_at"
ALARM_INDEX = [(NEXT_ALARM, ASCENDING), ("_id", ASCENDING)]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# When a new case's first alarm falls, from its document (None: nothing to announce).
Schedule = Callable[[Mapping[str, Any]], datetime | None]


def alarm_due(now: datetime, after: tuple[datetime, str] | None) -> dict[str, Any]:
    """Cases whose next alarm is due at ``now``, after the continuation point (all in the index).

    The range is bounded below too (``EPOCH``, or the continuation's time): SecantusDB walks a range
    open at the bottom from the start of the index (4 s at 100 k cases, against 6 ms bounded)."""
    q: dict[str, Any] = {NEXT_ALARM: {"$gte": EPOCH, "$lte": now}}
    if after is not None:
        last_at, last_id = after
        q[NEXT_ALARM]["$gte"] = last_at
        q["$or"] = [{NEXT_ALARM: {"$gt": last_at}}, {NEXT_ALARM: last_at, "_id": {"$gt": last_id}}]
    return q


@dataclass(frozen=True)
class Replan:
    """After a case's look: the alarms recorded (sent, or skipped) and its next alarm time, guarded by
    the ``next_alarm_at`` read (a case re-planned meanwhile, e.g. by a routed report, keeps its new one)."""

    report_id: str
    seen: datetime
    next_at: datetime | None
    alarms: dict[str, datetime] = field(default_factory=dict)  # key -> detected at
    breaches: dict[str, datetime] = field(default_factory=dict)  # breach key -> due at


class CaseStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], history_limit: int = 50) -> None:
        self.coll: AsyncCollection[dict[str, Any]] = db[COLLECTION]
        self.leases: AsyncCollection[dict[str, Any]] = db[LEASES]
        self.history_limit = history_limit

    async def ensure_indexes(self) -> None:
        # The scan reads a range of ``next_alarm_at`` (absent once a case has nothing more to announce),
        # so it reads only cases with something due, however many open, closed or quiet cases the store
        # holds. ``closed_at`` serves the open-cases count.
        await self.coll.create_index(ALARM_INDEX)
        await self.coll.create_index([("closed_at", ASCENDING)])
        await self.ensure_public_indexes()
        # A unit's open cases (status API), in report-id order.
        await self.coll.create_index([("skpd_code", ASCENDING), ("closed_at", ASCENDING), ("_id", ASCENDING)])

    async def apply_routed(self, report: RoutedReport, now: datetime) -> bool:
        """Upsert the case from its routed report. Returns True when the case is new."""
        return await self.apply_routed_batch([report], now) == 1

    async def apply_routed_batch(
        self, reports: Sequence[RoutedReport], now: datetime, schedule: Schedule | None = None
    ) -> int:
        """Upsert the cases of a batch of routed reports; returns how many cases are new.

        New cases are inserted whole (one ``insert_many``), with their first alarm time from
        ``schedule`` (without one, their receipt: the scanner then plans them on its first look, one
        more write per case); a case that exists already (a re-delivery, or a status update that
        arrived first) gets the report's fields and, unless a reassignment named another unit, the
        routed unit (guarded updates, one ``bulk_write``; the scanner plans it again)."""
        latest = {r.report_id: r for r in reports}  # a re-delivery inside the batch: one is enough
        docs = []
        for rid, r in latest.items():
            doc = {
                "_id": rid,
                **case_fields(r),
                "skpd_code": r.skpd_code,
                "skpd_name": r.skpd_name,
                "status": ROUTED,
                "created_at": now,
                "updated_at": now,
            }
            first = r.received_at if schedule is None else schedule(doc)
            if first is not None:
                doc[NEXT_ALARM] = first
            docs.append(doc)
        if not docs:
            return 0
        try:
            await self.coll.insert_many(docs, ordered=False)
            return len(docs)
        except BulkWriteError as e:
            if not _only_duplicates(e):
                raise
            existing = [docs[w["index"]]["_id"] for w in e.details["writeErrors"]]
            inserted = int(e.details.get("nInserted", len(docs) - len(existing)))
        ops = []
        for rid in existing:
            ops += self._routed_ops(latest[rid], now)
        try:
            await self.coll.bulk_write(ops, ordered=True)
        except BulkWriteError as e:
            if _only_duplicates(e):  # created concurrently by another consumer: retry the batch
                raise TransientError("a case was created concurrently") from e
            raise
        return inserted

    def _routed_ops(self, report: RoutedReport, now: datetime) -> list[UpdateOne]:
        """Guarded updates of an existing case from a routed report (a re-delivery, a re-routed report,
        an operator's decision, or a case a status update created first)."""
        rid, code = report.report_id, report.skpd_code
        fields = case_fields(report)
        clocks = {k: fields.pop(k) for k in CLOCK_KEYS}
        # A unit that refused the report never gets it back from a re-delivered or re-routed report;
        # an operator may still choose it on purpose.
        unit_guard: dict[str, Any] = (
            {} if report.routing.rule == OPERATOR_RULE else {"rejected_by": {"$ne": code}}
        )
        if report.needs_triage:
            waiting: dict[str, Any] = {"_id": rid, "status": REROUTING}
        else:
            waiting = {"_id": rid, "status": {"$in": [REROUTING, TRIAGE]}, **unit_guard}
        return [
            UpdateOne(
                {"_id": rid},
                {
                    # A new look by the scanner: the deadlines or the unit (its ladder) may have changed.
                    "$set": {**fields, "updated_at": now, NEXT_ALARM: report.received_at},
                    "$setOnInsert": {
                        "status": ROUTED,
                        "created_at": now,
                        "skpd_code": report.skpd_code,
                        "skpd_name": report.skpd_name,
                    },
                },
                upsert=True,
            ),
            # The deadlines, unless a citizen's follow-up reopened the case with a new resolve clock.
            UpdateOne({"_id": rid, "reopened_at": {"$exists": False}}, {"$set": clocks}),
            # The answer to a re-routing: the case waits for its new unit again (or for an operator).
            UpdateOne(waiting, {"$set": {"status": TRIAGE if report.needs_triage else ROUTED}}),
            # The routed unit, unless a reassignment (which may have arrived first) already named another.
            UpdateOne(
                {"_id": rid, "reassigned_at": {"$exists": False}, **unit_guard},
                {"$set": {"skpd_code": code, "skpd_name": report.skpd_name}},
            ),
        ]

    async def link_follow_ups(self, links: Sequence[tuple[str, str]], now: datetime) -> None:
        """Record citizens' follow-up reports on their earlier cases: ``(earlier_id, follow_up_id)``."""
        if links:
            ops = [
                UpdateOne({"_id": earlier}, {"$addToSet": {"follow_ups": fid}, "$set": {"updated_at": now}})
                for earlier, fid in links
            ]
            await self.coll.bulk_write(ops, ordered=False)

    async def link_duplicates(self, links: Sequence[tuple[str, str]], now: datetime) -> None:
        """Record near-duplicate reports on the case of the first report: ``(case_id, duplicate_id)``."""
        if links:
            ops = [
                UpdateOne({"_id": case}, {"$addToSet": {"duplicates": did}, "$set": {"updated_at": now}})
                for case, did in links
            ]
            await self.coll.bulk_write(ops, ordered=False)

    async def find(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Cases by id, without their history (one query)."""
        if not ids:
            return {}
        return {doc["_id"]: doc async for doc in find_in(self.coll, "_id", ids, {"history": 0})}

    async def apply_status(self, change: StatusChange, now: datetime) -> tuple[bool, bool]:
        """Apply a status update. Returns (applied, created); applied is False for a re-delivery."""
        (result,) = await self.apply_statuses([change], now)
        return result

    async def apply_statuses(self, changes: Sequence[StatusChange], now: datetime) -> list[tuple[bool, bool]]:
        """Apply a batch of status updates in order; per update (applied, created), applied False for a
        re-delivery (its event id is in the case's history already, or earlier in the batch)."""
        ids = list(dict.fromkeys(c.report_id for c in changes))
        applied_before: dict[str, set[str]] = {rid: set() for rid in ids}
        exists: set[str] = set()
        units: dict[str, str | None] = {}
        async for doc in find_in(self.coll, "_id", ids, {"history.event_id": 1, "skpd_code": 1}):
            exists.add(doc["_id"])
            units[doc["_id"]] = doc.get("skpd_code")
            applied_before[doc["_id"]] = {h.get("event_id") for h in doc.get("history") or ()}
        ops: list[UpdateOne] = []
        results: list[tuple[bool, bool]] = []
        for change in changes:
            seen = applied_before[change.report_id]
            if change.event_id in seen:
                results.append((False, False))
                continue
            seen.add(change.event_id)
            created = change.report_id not in exists
            exists.add(change.report_id)
            results.append((True, created))
            ops += self._status_ops(change, now, change.sender or units.get(change.report_id))
        if ops:
            try:
                # Ordered: a case's first update creates it before the guarded updates that follow.
                await self.coll.bulk_write(ops, ordered=True)
            except BulkWriteError as e:
                if _only_duplicates(e):  # created concurrently (another consumer): retry the batch
                    raise TransientError("a case was created concurrently") from e
                raise
        return results

    def _status_ops(self, change: StatusChange, now: datetime, unit: str | None) -> list[UpdateOne]:
        """``unit``: the unit that sent the update (its own word, else the case's unit when read)."""
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
        if change.not_ours and unit is not None:
            first["$addToSet"] = {"rejected_by": unit}
        ops = [
            # Guarded by the event id, so a re-delivery racing this one is applied once.
            UpdateOne({"_id": rid, "history.event_id": {"$ne": change.event_id}}, first, upsert=True),
        ]
        if change.reopen_resolve_by is not None:
            # Only a case resolved before the follow-up reopens: a new resolve clock, open again, and its
            # resolve breach cleared so the new clock is watched.
            ops.append(
                UpdateOne(
                    {"_id": rid, "status": "resolved", "closed_at": {"$lte": change.at}},
                    {
                        "$set": {
                            "status": change.status,
                            "status_at": change.at,
                            "resolve_by": change.reopen_resolve_by,
                            "reopened_at": change.at,
                            # A new round of the resolve clock (its alarms get keys and ids of their
                            # own, ``deadlines.alarm_key``), watched from now by the scanner.
                            "resolve_started_at": change.at,
                            NEXT_ALARM: change.at,
                        },
                        "$unset": {"closed_at": "", "breaches.resolve_breached": ""},
                        "$inc": {"reopen_count": 1, "resolve_round": 1},
                    },
                )
            )
            return ops
        # The latest update by its own time sets the status.
        ops.append(
            UpdateOne(
                {"_id": rid, "$or": [{"status_at": {"$exists": False}}, {"status_at": {"$lte": change.at}}]},
                {"$set": {"status": change.status, "status_at": change.at}},
            )
        )
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
        return ops

    async def alarm_page(
        self, now: datetime, after: tuple[datetime, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """One page of cases with an alarm due, in (next_alarm_at, _id) order after the continuation."""
        cursor = (
            self.coll.find(alarm_due(now, after), CLOCK_FIELDS)
            .sort([(NEXT_ALARM, ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """The first page of cases with an alarm due."""
        return await self.alarm_page(now, None, limit)

    async def replan(self, replans: Sequence[Replan]) -> None:
        """Record each case's alarms and move its next alarm: one guarded update per case in one bulk
        write. When a guard misses (the case was re-planned meanwhile), the alarms are still recorded by
        a second, unguarded write (idempotent ``$set``s)."""
        if not replans:
            return
        ops: list[UpdateOne] = []
        for r in replans:
            marks = _marks(r)
            update: dict[str, Any] = {}
            if r.next_at is None:
                update["$unset"] = {NEXT_ALARM: ""}
            else:
                marks[NEXT_ALARM] = r.next_at
            if marks:
                update["$set"] = marks
            ops.append(UpdateOne({"_id": r.report_id, NEXT_ALARM: r.seen}, update))
        res = await self.coll.bulk_write(ops, ordered=False)
        if res.matched_count < len(replans):
            marked = [UpdateOne({"_id": r.report_id}, {"$set": m}) for r in replans if (m := _marks(r))]
            if marked:
                await self.coll.bulk_write(marked, ordered=False)

    async def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease ``name`` until ``until``: granted when it is free (expired) or held by
        ``holder`` already. A guarded upsert on one small document: a lease held by another matches
        nothing, so the upsert's insert collides with its ``_id`` and is refused."""
        try:
            await self.leases.update_one(
                {"_id": name, "$or": [{"until": {"$lt": now}}, {"holder": holder}]},
                {"$set": {"holder": holder, "until": until}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def clocks(self, report_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The clock fields of the given cases (for the lateness check after status updates)."""
        ids = list(dict.fromkeys(report_ids))
        return {d["_id"]: d async for d in find_in(self.coll, "_id", ids, {**CLOCK_FIELDS, "late": 1})}

    async def mark_late(self, marks: Sequence[tuple[str, str, datetime, str, datetime]]) -> int:
        """Record breaches found from an answer's own time: (report id, breach key, due at, status event
        id, now). Guarded by the key, so each is recorded once; the status event that found it is kept,
        so a re-delivery of that event re-sends the same event. Returns how many were new."""
        if not marks:
            return 0
        ops = [
            UpdateOne(
                {"_id": rid, f"alarms.{key}": {"$exists": False}},
                {"$set": {f"alarms.{key}": now, f"breaches.{key}": due, f"late.{key}": event_id}},
            )
            for rid, key, due, event_id, now in marks
        ]
        res = await self.coll.bulk_write(ops, ordered=False)
        return res.modified_count

    async def open_cases_of(self, unit: str, after: str | None, limit: int) -> list[dict[str, Any]]:
        """One page of ``unit``'s open cases (no ``closed_at``), by report id after ``after``."""
        q: dict[str, Any] = {"skpd_code": unit, "closed_at": None}
        if after is not None:
            q["_id"] = {"$gt": after}
        cursor = self.coll.find(q, {"history": 0}).sort("_id", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def count_open(self) -> int:
        """Cases without ``closed_at`` (index-backed)."""
        return await self.coll.count_documents({"closed_at": None})

    async def open_by_unit(self, now: datetime) -> dict[tuple[str, str], int]:
        """Open cases per (unit, SLA state): one grouped pass over the open cases (the ``closed_at``
        index), each counted in one state (``metrics.OPEN_STATES``; resolve_overdue takes precedence).
        One pass, not one count per state: on SecantusDB each pass reads every open case (10.9 s for
        three passes at 100 k, measured)."""
        has = {"$gt": ["$$v", None]}  # present and not null (dates sort above null)

        def before(field: str) -> dict[str, Any]:
            return {"$let": {"vars": {"v": f"${field}"}, "in": {"$and": [has, {"$lt": ["$$v", now]}]}}}

        resolve_late = before("resolve_by")
        unanswered = {"$lte": ["$responded_at", None]}  # absent or null
        respond_late = {"$and": [unanswered, before("respond_by"), {"$not": [resolve_late]}]}
        pipeline: list[dict[str, Any]] = [
            {"$match": {"closed_at": None, "skpd_code": {"$ne": None}}},
            {
                "$group": {
                    "_id": "$skpd_code",
                    "open": {"$sum": 1},
                    "resolve_overdue": {"$sum": {"$cond": [resolve_late, 1, 0]}},
                    "respond_overdue": {"$sum": {"$cond": [respond_late, 1, 0]}},
                }
            },
        ]
        counts: dict[tuple[str, str], int] = {}
        async for row in await self.coll.aggregate(pipeline):
            unit, late, unanswered_late = row["_id"], row["resolve_overdue"], row["respond_overdue"]
            counts[(unit, "resolve_overdue")] = late
            counts[(unit, "respond_overdue")] = unanswered_late
            counts[(unit, "on_time")] = row["open"] - late - unanswered_late
        return counts

    async def get(self, report_id: str) -> dict[str, Any] | None:
        return await self.coll.find_one({"_id": report_id})

    # --- Public reads (Open311 API, citizen status page): only the public fields leave the database ---

    async def ensure_public_indexes(self) -> None:
        # Newest first within a date window, optionally per category: each query is one bounded index
        # range (the window) read in order, stopped after skip + limit matches. A category may be rare,
        # so it has an index of its own; open/closed is not (a large share of the window matches
        # either, and every index costs each insert and each status change: ~0.25 ms on SecantusDB).
        for prefix in ((), ("category",)):
            await self.coll.create_index(
                [*((k, ASCENDING) for k in prefix), ("received_at", DESCENDING), ("_id", DESCENDING)]
            )
        if STATUS_INDEX in await self.coll.index_information():  # created by earlier versions
            await self.coll.drop_index(STATUS_INDEX)

    async def public_get(self, report_id: str) -> dict[str, Any] | None:
        """One case by id, projected on the public fields."""
        return await self.coll.find_one({"_id": report_id}, PUBLIC_PROJECTION)

    async def public_find(self, q: PublicQuery) -> list[dict[str, Any]]:
        """Cases received in ``[q.start, q.end]``, newest first, filtered and paged; public fields only.
        Every value is typed (strings compared for equality or listed in ``$in``, dates, a bool), never a
        client's document.
        Ids, when given, override every other filter (GeoReport v2): at most ``MAX_IDS`` reads by ``_id``."""
        filt: dict[str, Any]
        if q.ids is not None:
            filt = {"_id": {"$in": [str(i) for i in q.ids]}}
        else:
            filt = {"received_at": {"$gte": q.start, "$lte": q.end}}
            if q.service_codes is not None:
                filt["category"] = {"$in": [str(c) for c in q.service_codes]}
            if q.closed is not None:
                filt["status"] = {"$in" if q.closed else "$nin": sorted(CLOSED)}
        cursor = (
            self.coll.find(filt, PUBLIC_PROJECTION)
            .sort([("received_at", DESCENDING), ("_id", DESCENDING)])
            .skip(q.skip)
            .limit(q.page_size)
        )
        return [doc async for doc in cursor]


def _marks(r: Replan) -> dict[str, Any]:
    marks: dict[str, Any] = {f"alarms.{k}": v for k, v in r.alarms.items()}
    return marks | {f"breaches.{k}": v for k, v in r.breaches.items()}


def _only_duplicates(e: BulkWriteError) -> bool:
    errors = e.details.get("writeErrors", [])
    return bool(errors) and all(w.get("code") == DUPLICATE_KEY for w in errors)
