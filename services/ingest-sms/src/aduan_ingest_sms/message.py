"""The inbound-SMS gateway shape and its translation to ``RawSms``: pure functions, no I/O.

Body: ``{"id", "from", "to", "text", "timestamp"}`` (what SMS gateways post for a received message),
plus ``concat: {"ref", "part", "total"}`` for one part of a concatenated message (the UDH fields).
A part becomes a ``Fragment`` of group ``<sender>:<ref>:<total>``; ``assemble`` joins the parts in order.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aduan_kit.ingest import Fragment, PayloadError, json_object
from aduan_schemas.events import MAX_ID, MAX_SHORT, MAX_TEXT, RawSms, Reporter

GAP = " […] "  # stands for parts that never arrived
_SEPARATORS = re.compile(r"[\s().-]")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class Concat(BaseModel):
    ref: int = Field(ge=0, le=65_535)
    part: int = Field(ge=1, le=255)
    total: int = Field(ge=1, le=255)


class SmsPayload(BaseModel):
    # No stripping: a part of a long message may end or begin with the space between two words.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: Annotated[str, Field(min_length=1, max_length=MAX_ID)]
    sender: Annotated[str, Field(alias="from", min_length=1, max_length=40)]
    to: Annotated[str, Field(max_length=MAX_SHORT)] | None = None
    text: Annotated[str, Field(max_length=MAX_TEXT)]
    timestamp: AwareDatetime
    concat: Concat | None = None


def normalize_phone(number: str) -> str:
    """An Indonesian number as E.164: ``08…``, ``628…``, ``+628…`` (and ``8…`` without its 0) ->
    ``+628…``; another country's ``+…`` number is kept. Raises ``PayloadError`` for anything else
    (alphanumeric sender ids are operators' and businesses' messages, not citizens')."""
    n = _SEPARATORS.sub("", number)
    if n.startswith("00"):
        n = "+" + n[2:]
    if n.startswith("0"):
        n = "+62" + n[1:]
    elif n.startswith("62") or n.startswith("8"):
        n = "+" + n if n.startswith("62") else "+62" + n
    if not _E164.match(n) or (n.startswith("+62") and not 9 <= len(n) - 3 <= 12):
        raise PayloadError("invalid payload: from: not a phone number")
    return n


def parse_sms(body: bytes, now: datetime) -> RawSms | Fragment:
    """A gateway's body -> ``RawSms``, or a ``Fragment`` when it is one part of a longer message."""
    original = json_object(body)
    p = SmsPayload.model_validate(original)
    sender = normalize_phone(p.sender)
    received = min(p.timestamp, now)  # a gateway clock ahead of ours must not shift deadlines
    part = {"id": p.id, "from": sender, "to": p.to, "text": p.text, "timestamp": received.isoformat()}
    c = p.concat
    if c is None or c.total == 1:
        return _raw({1: part}, 1, [original])
    if c.part > c.total:
        raise PayloadError("invalid payload: concat.part: greater than concat.total")
    body_out = json.dumps({**part, "original": original}).encode()
    return Fragment(f"{sender}:{c.ref}:{c.total}", c.part, c.total, body_out, p.id)


def assemble(parts: dict[int, bytes], total: int, complete: bool) -> RawSms:
    """The parts of one message (by number) -> one ``RawSms``; gaps of an incomplete set read ``[…]``.

    Total: never raises for parts ``parse_sms`` made (a long join is cut to the text limit)."""
    decoded = {n: json.loads(b) for n, b in parts.items()}
    return _raw(decoded, total, [d.pop("original") for _, d in sorted(decoded.items())])


def _raw(parts: dict[int, dict[str, Any]], total: int, originals: list[Any]) -> RawSms:
    numbers = sorted(parts)
    text = ""
    for prev, n in zip([0, *numbers], numbers, strict=False):
        text += (GAP if n != prev + 1 else "") + parts[n]["text"]
    if numbers[-1] != total:
        text += GAP
    first = parts[numbers[0]]
    return RawSms(
        channel_message_id=first["id"],  # the first part's id: the same whichever part came last
        received_at=min(datetime.fromisoformat(p["timestamp"]) for p in parts.values()),
        text=text.strip()[:MAX_TEXT],
        reporter=Reporter(phone=first["from"]),
        to_number=first["to"],
        parts=len(numbers),
        parts_expected=total,
        raw={"parts": originals} if total > 1 else originals[0],
    )
