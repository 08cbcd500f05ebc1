"""What the public may see of a case: the one place that decides it (Open311 API and status page).

A whitelist, never a blacklist: a ``PublicCase`` is built only from the fields named here, so a field
added to the case later stays private until someone adds it on purpose. Left out on purpose: the
reporter (contact or pseudonym), the channel and its message id, the free address text (often the
reporter's own house), who (``by``) posted a status update (often a person), the routing reasoning.
Free text (the complaint, the units' notes) passes through ``mask_contacts``; links are published
only when they are http(s) and carry no contact detail; coordinates are rounded (``COORD_DECIMALS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aduan_schemas.city import CityConfig
from aduan_text.pii import mask_contacts

# 3 decimals is ~110 m in Jakarta: enough for a map of the street block, not enough to single out the
# house a reporter stood in (a phone's GPS fix is often the reporter's home).
COORD_DECIMALS = 3
CLOSED = frozenset({"resolved", "rejected"})
# Case fields the public views read (the store projects on these: nothing else leaves the database).
FIELDS = (
    "category",
    "text",
    "area",
    "place",
    "location",
    "attachments",
    "skpd_code",
    "skpd_name",
    "status",
    "status_at",
    "received_at",
    "routed_at",
    "respond_by",
    "resolve_by",
    "responded_at",
    "closed_at",
    "history",
)

STATUS_LABELS = {
    "routed": "Diteruskan ke unit penanggung jawab",
    "received": "Diterima oleh unit",
    "in_progress": "Sedang ditangani",
    "resolved": "Selesai",
    "rejected": "Ditolak",
    "reassigned": "Dialihkan ke unit lain",
}
UNKNOWN_STATUS_LABEL = "Dalam proses"


@dataclass(frozen=True)
class Deadline:
    due: datetime | None
    met_at: datetime | None  # when the unit answered (respond) or closed (resolve) the report
    late: bool  # passed without an answer, or answered after it


@dataclass(frozen=True)
class HistoryEntry:
    status: str
    label: str
    at: datetime
    unit: str | None  # the unit a reassignment named (a unit, never a person)
    note: str | None
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class PublicCase:
    report_id: str
    status: str
    label: str
    closed: bool
    service_code: str | None
    service_name: str | None
    description: str
    unit_code: str | None
    unit_name: str | None
    requested: datetime | None
    updated: datetime | None
    respond: Deadline
    resolve: Deadline
    address: str | None
    lat: float | None
    lon: float | None
    media: tuple[str, ...]
    history: tuple[HistoryEntry, ...]
    note: str | None  # the note of the latest status update, masked


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, UNKNOWN_STATUS_LABEL)


def official_handles(city: CityConfig) -> frozenset[str]:
    """Accounts that name an office (the taxonomy's known accounts): kept when text is masked."""
    return frozenset(city.taxonomy.language.accounts)


def public_case(case: Mapping[str, Any], city: CityConfig, now: datetime) -> PublicCase:
    """The public view of a stored case at ``now`` (lateness of an open deadline depends on it)."""
    keep = official_handles(city)
    names = {c.code: c.name for c in city.taxonomy.categories}
    units = city.skpd.by_code
    status = str(case.get("status") or "routed")
    history = tuple(
        sorted(
            (_entry(h, units, keep) for h in case.get("history") or () if isinstance(h.get("at"), datetime)),
            key=lambda e: e.at,
        )
    )
    location = case.get("location") or {}
    lat, lon = location.get("lat"), location.get("lon")
    category = case.get("category")
    requested = case.get("received_at")
    return PublicCase(
        report_id=str(case["_id"]),
        status=status,
        label=status_label(status),
        closed=status in CLOSED,
        service_code=category,
        service_name=names.get(category) if category else None,
        description=mask_contacts(str(case.get("text") or ""), keep),
        unit_code=case.get("skpd_code"),
        unit_name=case.get("skpd_name"),
        requested=requested,
        updated=case.get("status_at") or case.get("routed_at") or requested,
        respond=_deadline(case.get("respond_by"), case.get("responded_at"), now),
        resolve=_deadline(case.get("resolve_by"), case.get("closed_at"), now),
        address=_address(case),
        lat=round(lat, COORD_DECIMALS) if isinstance(lat, int | float) else None,
        lon=round(lon, COORD_DECIMALS) if isinstance(lon, int | float) else None,
        media=public_links(a.get("url") for a in case.get("attachments") or () if isinstance(a, Mapping)),
        history=history,
        note=history[-1].note if history else None,
    )


def public_links(urls: Iterable[Any]) -> tuple[str, ...]:
    """The links that may be shown: http(s) only (no ``javascript:`` or ``data:``), and none that carries
    a contact detail (a phone number in a query string): such a link is dropped, not rewritten."""
    out = []
    for url in urls:
        if not isinstance(url, str):
            continue
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError:
            continue
        if scheme in ("http", "https") and mask_contacts(url) == url:
            out.append(url)
    return tuple(out)


def _deadline(due: datetime | None, met_at: datetime | None, now: datetime) -> Deadline:
    late = due is not None and (met_at or now) > due
    return Deadline(due=due, met_at=met_at, late=late)


def _entry(h: Mapping[str, Any], units: Mapping[str, Any], keep: frozenset[str]) -> HistoryEntry:
    status = str(h.get("status") or "")
    target = h.get("reassign_to")
    unit = units.get(target) if target else None
    note = h.get("note")
    return HistoryEntry(
        status=status,
        label=status_label(status),
        at=h["at"],
        unit=unit.name if unit is not None else None,
        note=mask_contacts(note, keep) if isinstance(note, str) and note else None,
        evidence=public_links(h.get("evidence") or ()),
    )


def _address(case: Mapping[str, Any]) -> str | None:
    """Kelurahan, kecamatan, kota of the report (the most specific known): never the typed address."""
    area = case.get("area") or case.get("place") or {}
    parts: Sequence[tuple[str, Any]] = (
        ("Kelurahan", area.get("kelurahan")),
        ("Kecamatan", area.get("kecamatan")),
        ("", area.get("kota")),
    )
    words = [f"{prefix} {name}".strip() for prefix, name in parts if name]
    return ", ".join(words) or None
