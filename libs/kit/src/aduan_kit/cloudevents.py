"""CloudEvents 1.0 in Kafka binary mode: attributes as ``ce_*`` headers, the event JSON as the value."""

from __future__ import annotations

from datetime import UTC, datetime

from aduan_schemas.events import Event

Headers = list[tuple[str, bytes]]


def encode(event: Event, source: str) -> tuple[bytes, Headers]:
    headers: Headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event.event_id().encode()),
        ("ce_source", source.encode()),
        ("ce_type", event.EVENT_TYPE.encode()),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    subject = event.subject()
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    return event.model_dump_json(exclude_none=False).encode(), headers


def header(headers: Headers | tuple[tuple[str, bytes], ...], name: str) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode(errors="replace")
    return None
