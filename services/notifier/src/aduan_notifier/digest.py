"""The breach digest: one email per unit per period listing the unit's deadline breaches.

Each breach is filed (collection ``notifier_digest``, ``_id`` = ``<ce_id>|<unit>``, so a re-delivered
breach is filed once) under the period in which the notifier received it: ``slot`` =
``floor(unix time / digest_interval_s)``. A period is sent once it has closed, so a breach never joins a
digest already sent. The digest's idempotency key is ``digest:<unit>:<slot>`` in the sent log: a crash
after the email and before its entries are marked sent does not send it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from aduan_kit.mongo import insert_many_ignoring_duplicates
from aduan_schemas.events import SlaEvent

COLLECTION = "notifier_digest"


def slot_of(at: datetime, interval_s: int) -> int:
    return int(at.timestamp() // interval_s)


def slot_start(slot: int, interval_s: int) -> datetime:
    return datetime.fromtimestamp(slot * interval_s, UTC)


def digest_key(unit: str, slot: int) -> str:
    return f"digest:{unit}:{slot}"


def entry(event: SlaEvent, unit: str, now: datetime, interval_s: int) -> dict[str, Any]:
    return {"_id": f"{event.event_id()}|{unit}", "unit": unit, "slot": slot_of(now, interval_s),
            "report_id": event.report_id, "kind": event.kind, "due_at": event.due_at, "done": False,
            "at": now}  # fmt: skip


def due(entries: Sequence[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Entries grouped per (unit, slot), each group in due-time order."""
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for e in entries:
        out.setdefault((str(e["unit"]), int(e["slot"])), []).append(e)
    for group in out.values():
        group.sort(key=lambda e: (e["due_at"], e["report_id"]))
    return out


class DigestLog:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.coll: AsyncCollection[dict[str, Any]] = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.coll.create_index([("done", 1), ("slot", 1)], name="pending")

    async def file_many(self, entries: list[dict[str, Any]]) -> None:
        await insert_many_ignoring_duplicates(self.coll, entries)

    async def closed(self, current_slot: int, limit: int = 10_000) -> list[dict[str, Any]]:
        """Entries not yet sent of periods before ``current_slot`` (bounded per pass)."""
        cursor = self.coll.find({"done": False, "slot": {"$lt": current_slot}}).limit(limit)
        return [d async for d in cursor]

    async def mark_done(self, unit: str, slot: int) -> None:
        await self.coll.update_many({"unit": unit, "slot": slot, "done": False}, {"$set": {"done": True}})
