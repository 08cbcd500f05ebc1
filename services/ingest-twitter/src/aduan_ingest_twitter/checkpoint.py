"""The mentions timeline's ``since_id`` per city account, in MongoDB. It only moves forward."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

COLLECTION = "ingest_twitter_checkpoints"


def newer(a: str | None, b: str | None) -> str | None:
    """The larger of two tweet ids (ids grow with time; compared as numbers)."""
    if a is None or b is None:
        return a or b
    return a if int(a) >= int(b) else b


class SinceIds:
    def __init__(self, coll: AsyncCollection[dict[str, Any]]) -> None:
        self.coll = coll

    async def load(self, user_id: str) -> str | None:
        doc = await self.coll.find_one({"_id": f"mentions:{user_id}"})
        return str(doc["since_id"]) if doc else None

    async def advance(self, user_id: str, tweet_id: str) -> None:
        """Move the checkpoint to ``tweet_id`` unless it is already past it (one writer: this service)."""
        current = await self.load(user_id)
        if newer(current, tweet_id) == current and current is not None:
            return
        await self.coll.update_one(
            {"_id": f"mentions:{user_id}"}, {"$set": {"since_id": tweet_id}}, upsert=True
        )
