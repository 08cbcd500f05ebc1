"""Where the mailbox reader stands, in MongoDB: per mailbox folder, its UIDVALIDITY, the last UID handled
and the folder that message was moved to (so a move cut short by a crash is finished on restart)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

COLLECTION = "ingest_email_checkpoints"


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int = 0
    last_destination: str = ""  # where the message last_uid goes ("" : it stays, marked \Seen)


class Checkpoints:
    def __init__(self, coll: AsyncCollection[dict[str, Any]]) -> None:
        self.coll = coll

    async def load(self, mailbox: str) -> Checkpoint | None:
        doc = await self.coll.find_one({"_id": mailbox})
        if doc is None:
            return None
        return Checkpoint(int(doc["uidvalidity"]), int(doc["last_uid"]), str(doc.get("last_destination", "")))

    async def save(self, mailbox: str, cp: Checkpoint) -> None:
        await self.coll.update_one(
            {"_id": mailbox},
            {
                "$set": {
                    "uidvalidity": cp.uidvalidity,
                    "last_uid": cp.last_uid,
                    "last_destination": cp.last_destination,
                }
            },
            upsert=True,
        )
