"""The Qlue wire format and its translation to ``RawQlue``: pure functions, no I/O.

Qlue publishes no spec, so this module defines the one its webhook relay sends (see the README):
``id``, ``created_at`` (RFC 3339 with offset) and ``description`` are required, the rest optional.
The whole original payload is kept in ``raw``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aduan_kit.ingest import PayloadError, json_object
from aduan_schemas.events import (
    MAX_ATTACHMENTS,
    MAX_ID,
    MAX_SHORT,
    MAX_TEXT,
    MAX_URL,
    Attachment,
    GeoPoint,
    RawQlue,
    Reporter,
)

Short = Annotated[str, Field(max_length=MAX_SHORT)]
PhotoUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL, pattern=r"^https?://\S+$")]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class QlueUser(_Wire):
    id: Short | None = None
    name: Short | None = None
    phone: Short | None = None


class QluePayload(_Wire):
    id: Annotated[str, Field(min_length=1, max_length=MAX_ID)]
    created_at: AwareDatetime
    description: Annotated[str, Field(max_length=MAX_TEXT)]
    category: Short | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    address: Short | None = None
    photos: list[PhotoUrl] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    user: QlueUser | None = None


def location(lat: float | None, lng: float | None) -> GeoPoint | None:
    """Both coordinates or neither. Kept as sent, (0, 0) too: the kit flags what cannot be trusted
    (``location_flag``: zero, outside_city) and the normalizer then geocodes from the words."""
    if lat is None and lng is None:
        return None
    if lat is None or lng is None:
        raise PayloadError("invalid payload: lat and lng must be given together")
    return GeoPoint(lat=lat, lon=lng)


def reporter(user: QlueUser | None) -> Reporter | None:
    if user is None or not (user.id or user.name or user.phone):
        return None
    return Reporter(handle=user.id, name=user.name, phone=user.phone)


def parse_qlue(body: bytes, now: datetime) -> RawQlue:
    """A Qlue report webhook body -> ``RawQlue``. Raises ``PayloadError``/``ValidationError`` when bad."""
    original = json_object(body)
    p = QluePayload.model_validate(original)
    return RawQlue(
        channel_message_id=p.id,
        received_at=min(p.created_at, now),  # a phone clock ahead of ours must not shift deadlines
        text=p.description,
        category_hint=p.category or None,
        location=location(p.lat, p.lng),
        address_text=p.address or None,
        reporter=reporter(p.user),
        attachments=[Attachment(url=u, media_type="image") for u in p.photos],
        raw=original,
    )
