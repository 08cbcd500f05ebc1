"""The contact store: the one protected place, besides the raw topics, that holds reporters' contacts.

MongoDB collection ``contacts``, ``_id`` = the report id the normalizer derives from the raw event
(``aduan_schemas.ids``), filled from the raw topics (``aduan.raw.*``) and nothing else: the case store
and every later topic carry a pseudonym only. Each document holds the channel, the channel's message id
(the tweet to reply to, the email's Message-ID, the Qlue id, the SMS number's message), an optional
conversation id and email subject, and the reporter's contact as the channel gave it.

Only the notifier reads it, to reply to the reporter; nothing logs it (log lines carry the report id).
A TTL index on ``at`` (when it was stored) forgets a contact after the retention setting. Writes are one
``insert_many`` per batch; the first raw event of a report wins (a re-delivery changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from aduan_kit.mongo import find_in, insert_many_ignoring_duplicates
from aduan_schemas.events import MAX_SHORT, RawReport
from aduan_schemas.ids import report_id

COLLECTION = "contacts"
RETENTION_INDEX = "contacts_retention"


@dataclass(frozen=True)
class Contact:
    """How to reach one report's reporter on its own channel (PII: never log or publish it)."""

    report_id: str
    channel: str
    channel_message_id: str
    conversation_id: str | None = None
    subject_line: str | None = None
    name: str | None = None
    handle: str | None = None
    email: str | None = None
    phone: str | None = None

    def __repr__(self) -> str:  # an accidental log line shows no contact
        return f"Contact(report_id={self.report_id!r}, channel={self.channel!r})"


def contact_document(raw: RawReport, now: datetime) -> dict[str, Any]:
    """The stored form of a raw event's reply context and contact."""
    payload = raw.raw or {}
    conversation = payload.get("conversation_id")
    who = raw.reporter
    return {
        "_id": report_id(raw),
        "channel": raw.channel,
        "channel_message_id": raw.channel_message_id,
        "conversation_id": str(conversation)[:MAX_SHORT] if conversation is not None else None,
        "subject_line": getattr(raw, "subject_line", None),
        "name": who.name if who else None,
        "handle": who.handle if who else None,
        "email": who.email if who else None,
        "phone": who.phone if who else None,
        "at": now,
    }


def _contact(doc: dict[str, Any]) -> Contact:
    return Contact(
        report_id=str(doc["_id"]),
        channel=str(doc["channel"]),
        channel_message_id=str(doc["channel_message_id"]),
        conversation_id=doc.get("conversation_id"),
        subject_line=doc.get("subject_line"),
        name=doc.get("name"),
        handle=doc.get("handle"),
        email=doc.get("email"),
        phone=doc.get("phone"),
    )


class ContactStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.coll: AsyncCollection[dict[str, Any]] = db[COLLECTION]

    async def ensure_retention(self, seconds: int) -> None:
        """A TTL index on ``at``; an index with another retention is replaced (the setting may change)."""
        current = (await self.coll.index_information()).get(RETENTION_INDEX)
        if current is not None and current.get("expireAfterSeconds") == seconds:
            return
        if current is not None:
            await self.coll.drop_index(RETENTION_INDEX)
        await self.coll.create_index("at", name=RETENTION_INDEX, expireAfterSeconds=seconds)

    async def record_many(self, docs: list[dict[str, Any]]) -> int:
        return await insert_many_ignoring_duplicates(self.coll, docs)

    async def get_many(self, report_ids: Iterable[str]) -> dict[str, Contact]:
        """The stored contacts of those reports: one query (``_id`` index)."""
        wanted = list(dict.fromkeys(report_ids))
        if not wanted:
            return {}
        return {str(d["_id"]): _contact(d) async for d in find_in(self.coll, "_id", wanted)}
