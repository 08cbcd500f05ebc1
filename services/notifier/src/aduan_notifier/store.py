"""What was delivered (MongoDB collection ``notifier_sent``, ``_id`` = ``<ce_id>|<recipient>``).

Checked before a POST and written right after a 2xx, so a re-delivered record is not POSTed again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from aduan_kit.mongo import insert_many_ignoring_duplicates

COLLECTION = "notifier_sent"


class SentLog:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.coll: AsyncCollection[dict[str, Any]] = db[COLLECTION]

    async def get(self, key: str) -> dict[str, Any] | None:
        return await self.coll.find_one({"_id": key})

    async def record(
        self, key: str, *, report_id: str, about: str, recipient: str, attempts: int, at: datetime
    ) -> None:
        doc = {"_id": key, "report_id": report_id, "about": about, "recipient": recipient,
               "attempts": attempts, "at": at}  # fmt: skip
        await insert_many_ignoring_duplicates(self.coll, [doc])
