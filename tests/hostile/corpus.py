"""The bad-input corpus: hostile values and bodies, as data. ``tests/test_hostile_input.py`` sends each
one to every endpoint and topic it fits (see there for what must come back)."""

from __future__ import annotations

import json
from typing import Any

DEPTH = 5_000  # deeper than any parser's recursion limit

# Values put in place of one field of a valid request, each in turn (every field is tried).
FIELD_VALUES: dict[str, Any] = {
    "operator $gt": {"$gt": ""},
    "operator $ne": {"$ne": None},
    "operator $where": {"$where": "sleep(1000)"},
    "operator in a list": [{"$gt": ""}],
    "operator-shaped string": "$gt",
    "dotted key": {"a.b": 1},
    "null": None,
    "empty string": "",
    "wrong type: number": 12345,
    "wrong type: bool": True,
    "wrong type: list": ["a", "b"],
    "wrong type: object": {"x": 1},
    "huge integer": 2**80,
    "negative": -1,
    "long string": "A" * 200_000,
    "html/script": "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "control characters": "a\u0000b\u0007c\u202ed",
    "lone surrogate escape": "\\ud800",
    "far past timestamp": "0001-01-01T00:00:00Z",
    "far future timestamp": "9999-12-31T23:59:59Z",
    "latitude out of range": 91.5,
    "longitude out of range": -181,
}

# Whole bodies that no endpoint may take (sent with a valid signature / credentials where needed).
BAD_BODIES: dict[str, bytes] = {
    "empty": b"",
    "not json": b"this is not json {",
    "invalid utf-8": b'{"id": "\xff\xfe\xfd"}',
    "json array": b"[1, 2, 3]",
    "json string": b'"just a string"',
    "NaN": b'{"lat": NaN, "lng": 1}',
    "Infinity": b'{"lat": Infinity, "lng": -Infinity}',
    "deep nesting": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "deep list": b"[" * DEPTH + b"]" * DEPTH,
    "huge body": b'{"x": "' + b"A" * 3_000_000 + b'"}',
    "duplicate keys with operator": b'{"id": "x", "id": {"$gt": ""}}',
}

# Coordinates that must be refused or flagged, never crash a geocoder.
BAD_COORDINATES: dict[str, tuple[Any, Any]] = {
    "lat > 90": (95.0, 106.8),
    "lng < -180": (-6.2, -200.0),
    "strings": ("-6.2", "abc"),
    "huge": (1e308, 1e308),
    "null island": (0.0, 0.0),
}

# Path and query values for the read endpoints.
BAD_PATH_VALUES: dict[str, str] = {
    "operator": '{"$gt":""}',
    "dollar": "$where",
    "traversal": "..%2F..%2Fetc%2Fpasswd",
    "script": "<script>alert(1)<%2Fscript>",
    "long": "x" * 5_000,
    "unicode": "%F0%9F%92%A9",
    "invalid percent-encoding": "%ff%fe",
}

BAD_QUERY: dict[str, dict[str, str]] = {
    "limit NaN": {"limit": "NaN"},
    "limit negative": {"limit": "-5"},
    "limit huge": {"limit": "99999999999999999999"},
    "operator status": {"status": '{"$ne": null}'},
    "operator bracket": {"status[$ne]": "x"},
    "far future date": {"start_date": "9999-12-31T23:59:59Z"},
    "bad date": {"start_date": "yesterday"},
    "long after": {"after": "z" * 10_000},
}

# Records for every consumed topic: each must be dead-lettered with a reason.
OVERSIZED = 1_100_000


def bad_records() -> dict[str, tuple[bytes, list[tuple[str, bytes]]]]:
    """Case name -> (value, headers)."""
    ce = [
        ("ce_specversion", b"1.0"),
        ("ce_type", b"aduan.report.raw.v1"),
        ("content-type", b"application/json"),
    ]
    return {
        "non-json": (b"\x00\x01 not json", ce),
        "wrong schema": (json.dumps({"hello": "world"}).encode(), ce),
        "operator-shaped": (json.dumps({"report_id": {"$gt": ""}, "channel": {"$ne": None}}).encode(), ce),
        "no headers, non-json": (b"garbage", []),
        "wrong headers, wrong schema": (
            b'{"a": 1}',
            [("ce_type", b"\xff\xfe"), ("content-type", b"text/html")],
        ),
        "invalid utf-8": (b'{"text": "\xff\xfe"}', ce),
        "deep nesting": (b"[" * DEPTH + b"]" * DEPTH, ce),
        "oversized": (b'{"x": "' + b"A" * OVERSIZED + b'"}', ce),
    }


def gives_reason(body: Any) -> bool:
    """A 4xx body says why: ``{"detail": …}`` (FastAPI and the kit), or GeoReport v2's error list
    ``[{"code": …, "description": …}]`` (Open311 endpoints)."""
    if isinstance(body, dict):
        return bool(body.get("detail"))
    return (
        isinstance(body, list)
        and bool(body)
        and all(isinstance(e, dict) and e.get("description") for e in body)
    )
