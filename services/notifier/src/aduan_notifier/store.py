"""What was delivered (MongoDB collection ``notifier_sent``, ``_id`` = ``<ce_id>|<recipient>``).

Read once per batch before any POST, and written once per batch (one ``insert_many``) after its
webhooks were answered, so a re-delivered record is not POSTed again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from aduan_kit.mongo import find_in, insert_many_ignoring_duplicates

COLLECTION = "notifier_sent"


def sent_entry(
    key: str, *, report_id: str, about: str, recipient: str, attempts: int, at: datetime
) -> dict[str, Any]:
    return {"_id": key, "report_id": report_id, "about": about, "recipient": recipient,
            "attempts": attempts, "at": at}  # fmt: skip


class SentLog:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.coll: AsyncCollection[dict[str, Any]] = db[COLLECTION]

    async def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The entries of those ``keys`` that were delivered: one query (``_id`` index)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        return {str(d["_id"]): d async for d in find_in(self.coll, "_id", wanted)}

    async def record_many(self, entries: list[dict[str, Any]]) -> None:
        await insert_many_ignoring_duplicates(self.coll, entries)
