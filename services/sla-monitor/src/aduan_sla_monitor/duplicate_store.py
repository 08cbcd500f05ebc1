"""Near-duplicate links in the case store, and the operator's corrections (``DuplicateDecision``).

A linked duplicate has no case, so its routed report is kept in ``linked_reports`` (``_id`` = its
report id, ``case`` = the case it joined, ``report`` = the routed report as JSON): a split needs it to
open the report's own case and send the unit its ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from aduan_kit.mongo import insert_new
from aduan_schemas.events import DuplicateDecision, RoutedReport
from aduan_sla_monitor.store import CaseStore

LINKED = "linked_reports"
MERGED = "merged"  # the status of a case an operator merged into another: its clocks stop


class DuplicateLinks:
    def __init__(self, cases: CaseStore) -> None:
        self.cases = cases
        self.linked: AsyncCollection[dict[str, Any]] = cases.coll.database[LINKED]

    async def link(self, links: Sequence[tuple[str, RoutedReport]], now: datetime) -> None:
        """Add each duplicate to its case's ``duplicates`` and keep its routed report: one bulk write of
        the cases, one ``insert_many`` of the reports (an upsert costs SecantusDB about ten times an
        insert, measured); a report kept already (a re-delivery) is replaced in one more bulk write."""
        if not links:
            return
        await self.cases.link_duplicates([(case, r.report_id) for case, r in links], now)
        latest = {r.report_id: (case, r) for case, r in links}
        docs = [
            {"_id": rid, "case": case, "report": r.model_dump(mode="json"), "at": now}
            for rid, (case, r) in latest.items()
        ]
        existing = set(await insert_new(self.linked, docs))
        if existing:
            await self.linked.bulk_write(
                [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs if d["_id"] in existing],
                ordered=False,
            )

    async def split(self, decision: DuplicateDecision, now: datetime) -> RoutedReport | None:
        """The report leaves its case and becomes a case of its own (its own clocks, from its routed
        report). Returns that report, for the unit's ticket; None when it was not a linked duplicate.
        Idempotent: a re-delivered split does the same again (the ticket keeps its event id)."""
        doc = await self.linked.find_one({"_id": decision.report_id})
        if doc is None:
            return None
        report = RoutedReport.model_validate(doc["report"]).model_copy(update={"duplicate_of": None})
        await self.cases.coll.update_one(
            {"_id": doc["case"]}, {"$pull": {"duplicates": report.report_id}, "$set": {"updated_at": now}}
        )
        await self.cases.apply_routed_batch([report], now)
        await self.cases.coll.update_one(
            {"_id": report.report_id}, {"$set": {"split_from": doc["case"], "split_by": decision.by}}
        )
        await self.linked.update_one({"_id": report.report_id}, {"$set": {"split_at": decision.at}})
        return report

    async def merge(self, decision: DuplicateDecision, now: datetime) -> bool:
        """The report's case joins ``into`` (listed in its ``duplicates``); its own case, if any, is
        closed as ``merged`` so its clocks stop. False when the target case is unknown."""
        into = decision.into
        assert into is not None  # the model requires it for a merge
        if await self.cases.coll.find_one({"_id": into}, {"_id": 1}) is None:
            return False
        rid = decision.report_id
        await self.cases.coll.bulk_write(
            [
                UpdateOne({"duplicates": rid, "_id": {"$ne": into}}, {"$pull": {"duplicates": rid}}),
                UpdateOne({"_id": into}, {"$addToSet": {"duplicates": rid}, "$set": {"updated_at": now}}),
                UpdateOne(
                    {"_id": rid, "closed_at": None},
                    {
                        "$set": {
                            "status": MERGED,
                            "merged_into": into,
                            "merged_by": decision.by,
                            "closed_at": decision.at,
                            "updated_at": now,
                        }
                    },
                ),
            ],
            ordered=True,
        )
        await self.linked.update_one({"_id": rid}, {"$set": {"case": into}})
        return True
