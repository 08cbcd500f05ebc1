"""The open near-duplicate roots in MongoDB, so the windowed state survives restarts and rebalances.

One document per root: its ``Evidence``, its ``partition`` (``neardup.partition_key``),
``expires_at`` (received_at + ``DuplicatePolicy.keep_for`` its category), ``updated_at`` (when it was
last written) and ``writer`` (the worker that wrote it; empty for a resolution). A TTL index on
``expires_at`` lets the database forget roots whose windows closed, so the collection is bounded by the
windows, not by history; reads also skip the expired ones the TTL monitor has not removed yet.

A stream worker keeps every unexpired root in memory (``neardup_stream``): it reads them all once
(``unexpired``) and then, per batch, only what other workers wrote since (``changed_since``, by the
``updated_at`` index). ``candidates`` (by lookup keys) and ``load`` (by partition) serve the benchmark
and the tests (their indexes only with ``ensure_indexes(lookups=True)``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from aduan_kit.mongo import find_in, insert_new, update_many_in
from aduan_normalizer.neardup import DuplicatePolicy, Evidence, candidate_keys

EXPIRY_INDEX = "neardup_expiry"
PARTITION_INDEX = "neardup_partition"
KEYS_INDEX = "neardup_keys"
UPDATED_INDEX = "neardup_updated"
RESOLVER = ""  # ``writer`` of a resolution: every worker reads it back, its author included


def to_document(
    ev: Evidence,
    partition: str,
    policy: DuplicatePolicy,
    *,
    writer: str = RESOLVER,
    at: datetime | None = None,
) -> dict[str, Any]:
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
        "keys": list(candidate_keys(ev)),  # what ``candidates`` searches
        "updated_at": at or datetime.now(UTC),
        "writer": writer,
    }


def _shared(code: str | None) -> str | None:
    return None if code is None else sys.intern(code)


def from_document(doc: dict[str, Any]) -> Evidence:
    """A stored root as evidence. Words and codes are interned: a worker holds every open root, and
    their words repeat (about 3 KB a root without, measured)."""
    received = doc["received_at"]
    if received.tzinfo is None:  # BSON dates come back naive (UTC)
        received = received.replace(tzinfo=UTC)
    return Evidence(
        report_id=str(doc["_id"]),
        category=doc["category"],
        received_at=received,
        lat=doc.get("lat"),
        lon=doc.get("lon"),
        kelurahan_code=_shared(doc.get("kelurahan")),
        kecamatan_code=_shared(doc.get("kecamatan")),
        streets=frozenset(tuple(map(sys.intern, s)) for s in doc.get("streets", [])),
        tokens=frozenset(map(sys.intern, doc.get("tokens", []))),
        strong=frozenset(map(sys.intern, doc.get("strong", []))),
        resolved=bool(doc.get("resolved")),
    )


class OpenRootStore:
    def __init__(
        self, coll: AsyncCollection[dict[str, Any]], policy: DuplicatePolicy, writer: str | None = None
    ) -> None:
        self.coll = coll
        self.policy = policy
        self.writer = writer or uuid.uuid4().hex  # this worker, so it skips its own writes when it syncs

    async def ensure_indexes(self, lookups: bool = False) -> None:
        """TTL on ``expires_at`` (each document carries its own expiry: ``expireAfterSeconds`` 0) and
        ``updated_at`` (what workers read per batch). ``lookups``: also ``partition`` and ``keys``, for
        ``load`` and ``candidates`` (the benchmark); the service does not create them, as every index
        costs each insert (the multikey ``keys`` index three entries a root)."""
        await self.coll.create_index("expires_at", name=EXPIRY_INDEX, expireAfterSeconds=0)
        await self.coll.create_index("updated_at", name=UPDATED_INDEX)
        if lookups:
            await self.coll.create_index("partition", name=PARTITION_INDEX)
            await self.coll.create_index("keys", name=KEYS_INDEX)

    async def save(self, roots: Iterable[tuple[Evidence, str]]) -> None:
        """Store new roots in one ``insert_many`` (idempotent by report id: a root stored already, a
        replayed report's, is left as it is, its resolution included)."""
        at = datetime.now(UTC)
        docs = [to_document(ev, part, self.policy, writer=self.writer, at=at) for ev, part in roots]
        await insert_new(self.coll, docs)

    async def resolve(self, report_id: str) -> None:
        await self.set_resolved([report_id], True)

    async def set_resolved(self, report_ids: Iterable[str], resolved: bool) -> None:
        """Mark roots resolved (no longer a target) or open again (reopened), in one update. The writer
        is cleared: the worker that owned the root must read the change too."""
        ids = list(dict.fromkeys(report_ids))
        if ids:
            change = {"resolved": resolved, "updated_at": datetime.now(UTC), "writer": RESOLVER}
            await update_many_in(self.coll, "_id", ids, {"$set": change})

    async def unexpired(self, now: datetime) -> list[Evidence]:
        """Every root still inside its window (what a worker reads when it starts)."""
        return [from_document(d) async for d in self.coll.find({"expires_at": {"$gt": now}})]

    async def changed_since(self, since: datetime, now: datetime) -> list[Evidence]:
        """Unexpired roots written at or after ``since`` by anyone but this worker."""
        query = {"updated_at": {"$gte": since}, "writer": {"$ne": self.writer}, "expires_at": {"$gt": now}}
        return [from_document(d) async for d in self.coll.find(query)]

    async def candidates(self, keys: Iterable[str], now: datetime) -> list[Evidence]:
        """The unexpired roots stored under any of ``keys`` (one query for a whole batch)."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        return [from_document(d) async for d in find_in(self.coll, "keys", wanted, expires_at={"$gt": now})]

    async def load(self, partitions: Iterable[str], now: datetime) -> list[Evidence]:
        """The unexpired roots of ``partitions``."""
        wanted = list(partitions)
        if not wanted:
            return []
        cursor = find_in(self.coll, "partition", wanted, expires_at={"$gt": now})
        return [from_document(d) async for d in cursor]
