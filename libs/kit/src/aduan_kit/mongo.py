"""MongoDB edges (PyMongo's async client) and a processed-keys store for idempotent consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from aduan_kit.settings import CommonSettings

DUPLICATE_KEY = 11000


def mongo_client(common: CommonSettings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        common.mongodb_url.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
    )


async def reachable(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    try:
        await asyncio.wait_for(client.admin.command("ping"), timeout=3)
    except Exception:
        return False
    return True


async def insert_many_ignoring_duplicates(
    coll: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]]
) -> int:
    """Insert in one round trip, skipping documents whose ``_id`` exists; returns the inserted count."""
    if not docs:
        return 0
    try:
        res = await coll.insert_many(docs, ordered=False)
        return len(res.inserted_ids)
    except BulkWriteError as e:
        others = [w for w in e.details.get("writeErrors", []) if w.get("code") != DUPLICATE_KEY]
        if others:
            raise
        return int(e.details.get("nInserted", 0))


class ProcessedKeys:
    """Remembers which keys were processed (``_id`` = key), so re-deliveries can be dropped."""

    def __init__(self, coll: AsyncCollection[dict[str, Any]]) -> None:
        self.coll = coll

    async def seen(self, key: str) -> bool:
        return await self.coll.find_one({"_id": key}, projection={"_id": 1}) is not None

    async def mark(self, keys: Iterable[str]) -> None:
        now = datetime.now(UTC)
        await insert_many_ignoring_duplicates(self.coll, [{"_id": k, "at": now} for k in dict.fromkeys(keys)])
