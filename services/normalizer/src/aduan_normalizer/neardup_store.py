"""The open near-duplicate roots in MongoDB, so the windowed state survives restarts and rebalances.

One document per root: its ``Evidence``, its ``partition`` (``neardup.partition_key``) and
``expires_at`` (received_at + ``DuplicatePolicy.keep_for`` its category). A TTL index on ``expires_at``
lets the database forget roots whose windows closed, so the collection is bounded by the windows, not by
history; ``load`` also skips the expired ones the TTL monitor has not removed yet. A worker that is
assigned partitions (start-up or rebalance) loads exactly their roots.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

from aduan_kit.mongo import find_in, update_many_in
from aduan_normalizer.neardup import DuplicatePolicy, Evidence, candidate_keys

EXPIRY_INDEX = "neardup_expiry"
PARTITION_INDEX = "neardup_partition"
KEYS_INDEX = "neardup_keys"


def to_document(ev: Evidence, partition: str, policy: DuplicatePolicy) -> dict[str, Any]:
    return {
        "_id": ev.report_id,
        "partition": partition,
        "category": ev.category,
        "received_at": ev.received_at,
        "expires_at": ev.received_at + policy.keep_for(ev.category),
        "lat": ev.lat,
        "lon": ev.lon,
        "kelurahan": ev.kelurahan_code,
        "kecamatan": ev.kecamatan_code,
        "streets": sorted(list(s) for s in ev.streets),
        "tokens": sorted(ev.tokens),
        "strong": sorted(ev.strong),
        "resolved": ev.resolved,
        "keys": list(candidate_keys(ev)),  # what ``candidates`` searches (the stream's batch lookup)
    }


def from_document(doc: dict[str, Any]) -> Evidence:
    received = doc["received_at"]
    if received.tzinfo is None:  # BSON dates come back naive (UTC)
        received = received.replace(tzinfo=UTC)
    return Evidence(
        report_id=str(doc["_id"]),
        category=doc["category"],
        received_at=received,
        lat=doc.get("lat"),
        lon=doc.get("lon"),
        kelurahan_code=doc.get("kelurahan"),
        kecamatan_code=doc.get("kecamatan"),
        streets=frozenset(tuple(s) for s in doc.get("streets", [])),
        tokens=frozenset(doc.get("tokens", [])),
        strong=frozenset(doc.get("strong", [])),
        resolved=bool(doc.get("resolved")),
    )


class OpenRootStore:
    def __init__(self, coll: AsyncCollection[dict[str, Any]], policy: DuplicatePolicy) -> None:
        self.coll = coll
        self.policy = policy

    async def ensure_indexes(self) -> None:
        """TTL on ``expires_at`` (each document carries its own expiry: ``expireAfterSeconds`` 0)."""
        await self.coll.create_index("expires_at", name=EXPIRY_INDEX, expireAfterSeconds=0)
        await self.coll.create_index("partition", name=PARTITION_INDEX)
        await self.coll.create_index("keys", name=KEYS_INDEX)

    async def save(self, roots: Iterable[tuple[Evidence, str]]) -> None:
        """Store new roots in one bulk write (idempotent by report id: a replayed report rewrites its own
        document)."""
        ops = [
            ReplaceOne({"_id": ev.report_id}, to_document(ev, partition, self.policy), upsert=True)
            for ev, partition in roots
        ]
        if ops:
            await self.coll.bulk_write(ops, ordered=False)

    async def resolve(self, report_id: str) -> None:
        await self.set_resolved([report_id], True)

    async def set_resolved(self, report_ids: Iterable[str], resolved: bool) -> None:
        """Mark roots resolved (no longer a target) or open again (reopened), in one update."""
        ids = list(dict.fromkeys(report_ids))
        if ids:
            await update_many_in(self.coll, "_id", ids, {"$set": {"resolved": resolved}})

    async def candidates(self, keys: Iterable[str], now: datetime) -> list[Evidence]:
        """The unexpired roots stored under any of ``keys`` (one query for a whole batch)."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        return [from_document(d) async for d in find_in(self.coll, "keys", wanted, expires_at={"$gt": now})]

    async def load(self, partitions: Iterable[str], now: datetime) -> list[Evidence]:
        """The unexpired roots of ``partitions`` (what a worker needs after an assignment)."""
        wanted = list(partitions)
        if not wanted:
            return []
        cursor = find_in(self.coll, "partition", wanted, expires_at={"$gt": now})
        return [from_document(d) async for d in cursor]
