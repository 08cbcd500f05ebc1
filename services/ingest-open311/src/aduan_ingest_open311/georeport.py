"""GeoReport v2 (Open311) service requests and service list: pure functions, no I/O.

``POST /requests.json`` arguments (form-encoded or a JSON object): ``service_code`` (required), a
location (``lat`` + ``long``, or ``address_string``, or ``address_id``: at least one, as the spec asks),
``description``, ``first_name``, ``last_name``, ``email``, ``phone``, ``device_id``, ``account_id``,
``media_url``. ``api_key`` is checked by the HTTP layer and never stored.

The request id: GeoReport v2 has no client message id, so ``<client>:<Idempotency-Key>`` when the client
sends that header, else ``<client>:<digest of the request's fields and the day of receipt (WIB)>``: a
client that posts the same request again the same day gets the same ``service_request_id``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field

from aduan_kit.ingest import PayloadError, json_object
from aduan_schemas.city import Taxonomy
from aduan_schemas.events import (
    MAX_ID,
    MAX_SHORT,
    MAX_TEXT,
    MAX_URL,
    Attachment,
    GeoPoint,
    RawOpen311,
    Reporter,
)

WIB = timezone(timedelta(hours=7))
MAX_FIELDS = 50
Short = Annotated[str, Field(max_length=MAX_SHORT)]


class ServiceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service_code: Annotated[str, Field(min_length=1, max_length=MAX_SHORT)]
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: Short | None = None
    address_id: Short | None = None
    description: Annotated[str, Field(max_length=MAX_TEXT)] = ""
    first_name: Short | None = None
    last_name: Short | None = None
    email: Short | None = None
    phone: Short | None = None
    device_id: Short | None = None
    account_id: Short | None = None
    media_url: Annotated[str, Field(max_length=MAX_URL, pattern=r"^https?://\S+$")] | None = None


def decode(body: bytes, content_type: str) -> dict[str, Any]:
    """The request's arguments from a form-encoded or JSON body. Raises ``PayloadError``."""
    if content_type.startswith("application/json"):
        return json_object(body)
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=False, strict_parsing=False,
                              max_num_fields=MAX_FIELDS)  # fmt: skip
        except (UnicodeDecodeError, ValueError) as e:
            raise PayloadError(f"malformed form: {e}") from None
        return dict(pairs)
    raise PayloadError("unsupported content type: use application/x-www-form-urlencoded or application/json")


def service_labels(taxonomy: Taxonomy) -> dict[str, str]:
    """Service code (our category code) -> the label the normalizer reads as that category (its name,
    or the first of its channel labels that means it)."""
    out = {}
    for c in taxonomy.categories:
        for label in (c.name, *c.hints):
            if taxonomy.category_for_hint(label, "open311") == c.code:
                out[c.code] = label
                break
        else:
            out[c.code] = c.name
    return out


def services(taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """``GET /services.json``: one realtime service per category, named in Bahasa Indonesia."""
    return [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": c.name,
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join(c.hints[:10]),
            "group": "aduan",
        }
        for c in taxonomy.categories
    ]


def request_id(client: str, args: dict[str, Any], idempotency_key: str | None, now: datetime) -> str:
    if idempotency_key:
        return f"{client}:{idempotency_key}"[:MAX_ID]
    fields = {k: str(v) for k, v in sorted(args.items()) if k != "api_key"}
    fields["_day"] = now.astimezone(WIB).date().isoformat()
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
    return f"{client}:{digest}"


def to_raw(
    args: dict[str, Any], client: str, labels: dict[str, str], idempotency_key: str | None, now: datetime
) -> RawOpen311:
    """Arguments of one request -> ``RawOpen311``. Raises ``PayloadError``/``ValidationError`` when bad."""
    r = ServiceRequest.model_validate(args)
    if r.service_code not in labels:
        raise PayloadError("invalid payload: service_code: unknown service (see GET /services.json)")
    if (r.lat is None) != (r.long is None):
        raise PayloadError("invalid payload: lat and long must be given together")
    if r.lat is None and not r.address_string and not r.address_id:
        raise PayloadError(
            "invalid payload: a location is required: lat and long, address_string or address_id"
        )
    name = " ".join(p for p in (r.first_name, r.last_name) if p) or None
    contact = (name, r.email, r.phone, r.device_id or r.account_id)
    original = {k: v for k, v in args.items() if k != "api_key"}
    return RawOpen311(
        channel_message_id=request_id(client, args, idempotency_key, now),
        received_at=now,
        text=r.description,
        category_hint=labels[r.service_code],
        service_code=r.service_code,
        client=client,
        location=GeoPoint(lat=r.lat, lon=r.long) if r.lat is not None and r.long is not None else None,
        address_text=r.address_string or r.address_id,
        reporter=Reporter(name=name, email=r.email, phone=r.phone, handle=contact[3])
        if any(contact)
        else None,
        attachments=[Attachment(url=r.media_url, media_type="image")] if r.media_url else [],
        raw=original,
    )
