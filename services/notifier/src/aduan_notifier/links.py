"""What the notifier remembers of each routed report (MongoDB collection ``notifier_cases``).

Status updates and SLA events name a report only; to tell its unit and its reporter(s) the notifier
needs the unit the report was last routed to, the reporter's pseudonym (the recipient it publishes
instead of a contact) and which reports are duplicates of it (their reporters are told too). No contact
is kept here. ``_id`` = report id; the latest routing of a report wins; one ``insert_many`` per batch
(and a ``bulk_write`` of guarded updates for reports known already).

An operator's correction (``DuplicateDecision``) moves the link and marks it ``decided_at``: a split
report is linked to nothing (its reporter hears of its own case only), a merged report to the case it
joined, together with the reports that were linked to it (its case is closed into that one). A decided
link is not overwritten by a routed report re-delivered later, which still carries the old link.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from aduan_kit.mongo import find_in, insert_new
from aduan_schemas.events import DuplicateAction, DuplicateDecision, RoutedReport

COLLECTION = "notifier_cases"
RETENTION_INDEX = "notifier_cases_retention"
ROUTED = {"skpd_code": {"$exists": True}}  # a decision may come before its report's routing


@dataclass(frozen=True)
class CaseLink:
    report_id: str
    skpd_code: str
    skpd_name: str
    pseudonym: str | None = None
    duplicate_of: str | None = None


def link_of(report: RoutedReport) -> CaseLink:
    return CaseLink(
        report_id=report.report_id,
        skpd_code=report.skpd_code,
        skpd_name=report.skpd_name,
        pseudonym=report.reporter.pseudonym if report.reporter else None,
        duplicate_of=report.duplicate_of,
    )


def _link(doc: dict[str, Any]) -> CaseLink:
    return CaseLink(
        report_id=str(doc["_id"]),
        skpd_code=str(doc["skpd_code"]),
        skpd_name=str(doc["skpd_name"]),
        pseudonym=doc.get("pseudonym"),
        duplicate_of=doc.get("duplicate_of"),
    )


class CaseLinks:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.coll: AsyncCollection[dict[str, Any]] = db[COLLECTION]

    async def ensure_indexes(self, retention_s: int) -> None:
        await self.coll.create_index("duplicate_of", name="duplicate_of")
        current = (await self.coll.index_information()).get(RETENTION_INDEX)
        if current is not None and current.get("expireAfterSeconds") == retention_s:
            return
        if current is not None:
            await self.coll.drop_index(RETENTION_INDEX)
        await self.coll.create_index("at", name=RETENTION_INDEX, expireAfterSeconds=retention_s)

    async def record_many(self, links: Sequence[CaseLink], now: datetime) -> dict[str, CaseLink]:
        """New reports are inserted whole (one ``insert_many``); a report known already (a re-delivery,
        a re-routing, a decision that came first) gets guarded updates in one more ``bulk_write``.
        Returns the links inserted new: stored exactly as given, so they need not be read back."""
        latest = {x.report_id: x for x in links}  # the latest routing of a report in the batch wins
        docs = [
            {"_id": rid, **self._fields(x, now), "duplicate_of": x.duplicate_of} for rid, x in latest.items()
        ]
        existing = await insert_new(self.coll, docs)
        ops: list[UpdateOne] = []
        for rid in existing:
            x = latest[rid]
            ops.append(UpdateOne({"_id": rid}, {"$set": self._fields(x, now)}, upsert=True))
            # The link as routed, unless an operator has decided it since.
            routed = {"$set": {"duplicate_of": x.duplicate_of}}
            ops.append(UpdateOne({"_id": rid, "decided_at": {"$exists": False}}, routed))
        if ops:
            await self.coll.bulk_write(ops, ordered=True)
        known = set(existing)
        return {rid: x for rid, x in latest.items() if rid not in known}

    @staticmethod
    def _fields(x: CaseLink, now: datetime) -> dict[str, Any]:
        return {"skpd_code": x.skpd_code, "skpd_name": x.skpd_name, "pseudonym": x.pseudonym, "at": now}

    async def apply_decisions(self, decisions: Sequence[DuplicateDecision], now: datetime) -> None:
        """Splits and merges, in their order, in one ordered bulk write."""
        ops: list[UpdateOne | UpdateMany] = []
        for d in decisions:
            decided = {"decided_at": d.at, "at": now}
            if d.action == DuplicateAction.SPLIT:
                ops.append(
                    UpdateOne({"_id": d.report_id}, {"$set": {"duplicate_of": None, **decided}}, upsert=True)
                )
                continue
            ops.append(
                UpdateMany({"duplicate_of": d.report_id}, {"$set": {"duplicate_of": d.into, **decided}})
            )
            ops.append(
                UpdateOne({"_id": d.report_id}, {"$set": {"duplicate_of": d.into, **decided}}, upsert=True)
            )
        if ops:
            await self.coll.bulk_write(ops, ordered=True)

    async def get_many(self, report_ids: Iterable[str]) -> dict[str, CaseLink]:
        wanted = list(dict.fromkeys(report_ids))
        if not wanted:
            return {}
        return {str(d["_id"]): _link(d) async for d in find_in(self.coll, "_id", wanted, **ROUTED)}

    async def duplicates_of(self, report_ids: Iterable[str]) -> dict[str, list[CaseLink]]:
        """The reports recorded as duplicates of each of ``report_ids``: one query."""
        wanted = list(dict.fromkeys(report_ids))
        out: dict[str, list[CaseLink]] = {r: [] for r in wanted}
        if not wanted:
            return out
        async for d in find_in(self.coll, "duplicate_of", wanted, **ROUTED):
            out[str(d["duplicate_of"])].append(_link(d))
        return out
