"""Open311 GeoReport v2 in our terms: services from the city's categories, request queries, requests.

Pure: the HTTP router (``public_api``) parses nothing itself and the store receives only typed values,
so a query parameter never reaches MongoDB as anything but a string compared for equality or a date.

Bounds (why): ``page_size`` 1-200 (default 50) and at most ``MAX_OFFSET`` records skipped, so one request
reads a bounded number of index entries; a wider ``page_size`` is refused (400) rather than clamped, so
a client never mistakes a clamped page for the whole answer. The date window defaults to the last 90
days (the GeoReport v2 recommendation) and may not be wider than ``MAX_WINDOW``: with the status filter
on top of it, the window is what bounds the index range read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from aduan_schemas.city import CityConfig
from aduan_sla_monitor.public_case import PublicCase

DEFAULT_WINDOW = timedelta(days=90)
MAX_WINDOW = timedelta(days=90)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_OFFSET = 10_000
MAX_IDS = 50
MAX_QUERY_BYTES = 4_096
MIN_YEAR, MAX_YEAR = 1970, 2200  # dates a query may name
MAX_VALUE = 2_048
# Parameters Open311 clients send that we accept and ignore (one jurisdiction; reads need no key).
IGNORED = frozenset({"jurisdiction_id", "api_key"})
KNOWN = frozenset(
    {"service_request_id", "service_code", "status", "start_date", "end_date", "page", "page_size"}
)
ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,199}")
CODE_SHAPE = re.compile(r"[a-z0-9][a-z0-9_\-]{0,99}")


class BadQuery(ValueError):
    """A query the API refuses with 400 (the message is the Open311 error description)."""


@dataclass(frozen=True)
class RequestQuery:
    ids: tuple[str, ...] | None  # when given, the other filters and the window do not apply
    service_codes: tuple[str, ...] | None
    closed: bool | None  # None: both
    start: datetime
    end: datetime
    page: int
    page_size: int

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size


def error(code: int, description: str) -> list[dict[str, Any]]:
    """The Open311 error body: an array of ``{code, description}``."""
    return [{"code": code, "description": description}]


def services(city: CityConfig) -> list[dict[str, Any]]:
    """``services.json``: one service per category code, named in Bahasa Indonesia."""
    out = []
    for c in city.taxonomy.categories:
        out.append(
            {
                "service_code": c.code,
                "service_name": c.name,
                "description": c.description or f"Laporan warga tentang {_in_sentence(c.name)}",
                "metadata": False,
                "type": "realtime",
                "keywords": ", ".join(dict.fromkeys(h.lower() for h in c.hints)),
                "group": city.taxonomy.group_of.get(c.code, ""),
            }
        )
    return out


def parse_query(params: Mapping[str, list[str]], now: datetime) -> RequestQuery:
    """``requests.json`` parameters (each name with its list of values) -> a typed query, or ``BadQuery``.

    Unknown parameters (``status[$ne]``, ``foo``) are refused, not ignored: a client that thinks it
    filtered must not get everything."""
    unknown = sorted(k for k in params if k not in KNOWN and k not in IGNORED)
    if unknown:
        raise BadQuery(f"unknown parameter(s): {', '.join(clip(k) for k in unknown[:5])}")
    one: dict[str, str] = {}
    for name, values in params.items():
        if len(values) > 1:
            raise BadQuery(f"parameter {name} given more than once")
        if len(values[0]) > MAX_VALUE:
            raise BadQuery(f"parameter {name} is longer than {MAX_VALUE} characters")
        one[name] = values[0].strip()
    ids = _list(one.get("service_request_id"))
    for rid in ids or ():
        if not ID_SHAPE.fullmatch(rid):
            raise BadQuery(f"service_request_id {clip(rid)!r} is not a report id")
    codes = _list(one.get("service_code"))
    for code in codes or ():
        if not CODE_SHAPE.fullmatch(code):
            raise BadQuery(f"service_code {clip(code)!r} is not a service code (see services.json)")
    closed = _status(one.get("status"))
    start = _date(one, "start_date")
    end = _date(one, "end_date")
    if start is None and end is None:
        end, start = now, now - DEFAULT_WINDOW
    elif start is None:
        assert end is not None
        start = end - DEFAULT_WINDOW
    elif end is None:
        end = min(now, start + DEFAULT_WINDOW) if start < now else start + DEFAULT_WINDOW
    if end < start:
        raise BadQuery("end_date is before start_date")
    if end - start > MAX_WINDOW:
        raise BadQuery(f"the date window may span at most {MAX_WINDOW.days} days")
    page = _int(one, "page", 1, 1, MAX_OFFSET)
    page_size = _int(one, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    if (page - 1) * page_size >= MAX_OFFSET:
        raise BadQuery(f"page too deep (more than {MAX_OFFSET} requests skipped): narrow the date window")
    return RequestQuery(ids, codes, closed, start, end, page, page_size)


def request(case: PublicCase, tz: tzinfo) -> dict[str, Any]:
    """One Open311 service request. Dates are RFC 3339 in the city's time zone."""
    return {
        "service_request_id": case.report_id,
        "status": "closed" if case.closed else "open",
        "status_notes": case.note or case.label,
        "service_name": case.service_name,
        "service_code": case.service_code,
        "description": case.description,
        "agency_responsible": case.unit_name,
        "service_notice": None,
        "requested_datetime": _rfc3339(case.requested, tz),
        "updated_datetime": _rfc3339(case.updated, tz),
        "expected_datetime": _rfc3339(case.resolve.due, tz),
        "address": case.address,
        "address_id": None,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lon,
        "media_url": case.media[0] if case.media else None,
    }


def _in_sentence(name: str) -> str:
    """A category name inside a sentence: lower case, acronyms kept ("Penyandang ... (PMKS)")."""
    return " ".join(w if w.strip("()").isupper() else w.lower() for w in name.split())


def _list(value: str | None) -> tuple[str, ...] | None:
    """A comma-delimited value (GeoReport v2), without blanks and repeats; None when empty."""
    parts = tuple(dict.fromkeys(p.strip() for p in (value or "").split(",") if p.strip()))
    if len(parts) > MAX_IDS:
        raise BadQuery(f"at most {MAX_IDS} values in one parameter")
    return parts or None


def _status(value: str | None) -> bool | None:
    """``open``, ``closed`` or both (comma-delimited): closed True/False, or None for both."""
    wanted = set(_list(value) or ())
    if not wanted <= {"open", "closed"}:
        raise BadQuery("status must be open, closed or open,closed")
    return None if len(wanted) != 1 else wanted == {"closed"}


def _date(one: Mapping[str, str], name: str) -> datetime | None:
    value = one.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise BadQuery(f"{name} must be an RFC 3339 date-time, e.g. 2026-11-22T08:00:00+07:00") from None
    if parsed.tzinfo is None:
        raise BadQuery(f"{name} needs a time zone offset (RFC 3339), e.g. 2026-11-22T08:00:00+07:00")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:  # the window arithmetic would overflow near year 1 or 9999
        raise BadQuery(f"{name} must fall between the years {MIN_YEAR} and {MAX_YEAR}")
    return parsed.astimezone(UTC)


def _int(one: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = one.get(name)
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or not low <= int(value) <= high:
        raise BadQuery(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def _rfc3339(value: datetime | None, tz: tzinfo) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


def clip(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "..."
