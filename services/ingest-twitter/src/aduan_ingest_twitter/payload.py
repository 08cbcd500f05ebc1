"""The X API v2 tweet payload (filtered stream / webhook) and its translation to ``RawTwitter``.

Pure functions, no I/O. Only the fields we use are modelled; the whole payload is kept in ``raw``.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aduan_kit.ingest import PayloadError, json_object
from aduan_schemas.events import (
    MAX_ATTACHMENTS,
    MAX_SHORT,
    MAX_TEXT,
    MAX_URL,
    Attachment,
    GeoPoint,
    RawTwitter,
    Reporter,
)

Short = Annotated[str, Field(max_length=MAX_SHORT)]
XId = Annotated[str, Field(pattern=r"^[0-9]{1,30}$")]
MAX_INCLUDES = 100

# X media types -> Attachment.media_type (videos and GIFs are represented by their preview image).
MEDIA_TYPES = {"photo": "image", "video": "video", "animated_gif": "video"}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Point(_Wire):
    type: Literal["Point"]
    coordinates: Annotated[list[float], Field(min_length=2, max_length=2)]  # [lon, lat] (GeoJSON order)


class TweetGeo(_Wire):
    coordinates: Point | None = None
    place_id: Short | None = None


class TweetAttachments(_Wire):
    media_keys: list[Short] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class NoteTweet(_Wire):
    text: Annotated[str, Field(max_length=MAX_TEXT)]


class ReferencedTweet(_Wire):
    type: Short  # retweeted | quoted | replied_to
    id: XId


class Tweet(_Wire):
    id: XId
    text: Annotated[str, Field(max_length=MAX_TEXT)]
    created_at: AwareDatetime | None = None
    author_id: XId | None = None
    geo: TweetGeo | None = None
    attachments: TweetAttachments | None = None
    note_tweet: NoteTweet | None = None  # the full text of a tweet longer than 280 characters
    conversation_id: XId | None = None
    in_reply_to_user_id: XId | None = None
    referenced_tweets: list[ReferencedTweet] = Field(default_factory=list, max_length=MAX_INCLUDES)


class User(_Wire):
    id: XId
    username: Short
    name: Short | None = None


class Media(_Wire):
    media_key: Short
    type: Short
    url: Annotated[str, Field(max_length=MAX_URL)] | None = None
    preview_image_url: Annotated[str, Field(max_length=MAX_URL)] | None = None


class Place(_Wire):
    id: Short
    full_name: Short | None = None


class Includes(_Wire):
    users: list[User] = Field(default_factory=list, max_length=MAX_INCLUDES)
    media: list[Media] = Field(default_factory=list, max_length=MAX_INCLUDES)
    places: list[Place] = Field(default_factory=list, max_length=MAX_INCLUDES)


class TweetPayload(_Wire):
    data: Tweet
    includes: Includes = Field(default_factory=Includes)


def tweet_text(tweet: Tweet) -> str:
    """The full text, with the HTML entities X escapes in ``text`` (``&amp;``, ``&lt;``, ``&gt;``) decoded."""
    text = tweet.note_tweet.text if tweet.note_tweet else tweet.text
    return html.unescape(text)


def location(geo: TweetGeo | None) -> GeoPoint | None:
    if geo is None or geo.coordinates is None:
        return None
    lon, lat = geo.coordinates.coordinates
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PayloadError("invalid payload: data.geo.coordinates must be [longitude, latitude]")
    return GeoPoint(lat=lat, lon=lon)


def place_name(geo: TweetGeo | None, includes: Includes) -> str | None:
    if geo is None or geo.place_id is None:
        return None
    return next((p.full_name for p in includes.places if p.id == geo.place_id and p.full_name), None)


def author(tweet: Tweet, includes: Includes) -> Reporter | None:
    user = next((u for u in includes.users if u.id == tweet.author_id), None)
    if user is None:
        return None
    return Reporter(handle=f"@{user.username.lstrip('@')}", name=user.name)


def attachments(tweet: Tweet, includes: Includes) -> list[Attachment]:
    """The tweet's photos (videos and GIFs by their preview image), in the tweet's order."""
    by_key = {m.media_key: m for m in includes.media}
    out = []
    for key in tweet.attachments.media_keys if tweet.attachments else []:
        media = by_key.get(key)
        url = media and (media.url or media.preview_image_url)
        if media is not None and url and url.startswith(("https://", "http://")):
            out.append(Attachment(url=url, media_type=MEDIA_TYPES.get(media.type, media.type)))
    return out


def ignore_reason(payload: TweetPayload, own_ids: frozenset[str]) -> str | None:
    """Why a tweet is not a report: a retweet (its text is someone else's), or a tweet of the city's own
    accounts (announcements and the city's replies to citizens). None for a citizen's tweet."""
    if any(ref.type == "retweeted" for ref in payload.data.referenced_tweets):
        return "retweet"
    if payload.data.author_id is not None and payload.data.author_id in own_ids:
        return "the city's own tweet"
    return None


def read_payload(body: bytes) -> tuple[dict[str, Any], TweetPayload]:
    """Decode and validate one tweet payload. Raises ``PayloadError``/``ValidationError`` when bad."""
    original = json_object(body)
    return original, TweetPayload.model_validate(original)


def timeline_payloads(page: dict[str, Any]) -> list[dict[str, Any]]:
    """A timeline page (``data`` = many tweets, one shared ``includes``) -> one stream-shaped payload per
    tweet, each with only the users, media and places that tweet refers to."""
    includes = _dict(page.get("includes"))
    tweets = _list(page.get("data"))

    def by(kind: str, key: str) -> dict[str, Any]:
        return {str(i.get(key)): i for i in _list(includes.get(kind)) if isinstance(i, dict)}

    users, media, places = by("users", "id"), by("media", "media_key"), by("places", "id")
    out = []
    for t in tweets:
        if not isinstance(t, dict):
            out.append({"data": t})  # refused by the parser, with the reason
            continue
        keys = _dict(t.get("attachments")).get("media_keys")
        place, author_id = _dict(t.get("geo")).get("place_id"), t.get("author_id")
        own: dict[str, Any] = {
            "users": [users[author_id]] if isinstance(author_id, str) and author_id in users else [],
            "media": [media[k] for k in keys if isinstance(k, str) and k in media]
            if isinstance(keys, list)
            else [],
            "places": [places[place]] if isinstance(place, str) and place in places else [],
        }
        out.append({"data": t, "includes": own})
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_tweet(body: bytes, now: datetime) -> RawTwitter:
    """An X API v2 tweet payload -> ``RawTwitter``. Raises ``PayloadError``/``ValidationError`` when bad."""
    original, p = read_payload(body)
    return to_raw(original, p, now)


def to_raw(original: dict[str, Any], p: TweetPayload, now: datetime) -> RawTwitter:
    """A validated payload -> ``RawTwitter``; ``original`` (conversation and reply ids included) is kept
    whole in ``raw``."""
    tweet = p.data
    return RawTwitter(
        channel_message_id=tweet.id,
        received_at=min(tweet.created_at, now) if tweet.created_at else now,
        text=tweet_text(tweet),
        location=location(tweet.geo),
        address_text=place_name(tweet.geo, p.includes),
        reporter=author(tweet, p.includes),
        attachments=attachments(tweet, p.includes),
        raw=original,
    )
