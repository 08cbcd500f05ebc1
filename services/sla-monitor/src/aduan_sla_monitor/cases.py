"""The case: what the monitor keeps about one report. Pure functions from events to case changes.

A case is written by two independent streams (``aduan.reports.routed`` and ``aduan.reports.status``)
which may arrive in either order; each writes only its own fields, so neither overwrites the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aduan_schemas.city import SkpdRegistry
from aduan_schemas.events import ReportStatus, RoutedReport, StatusUpdate

ROUTED = "routed"  # the status of a case until its SKPD says otherwise
# The first of these is the unit's response (the 6-hour deadline); the closing ones end the 7-day clock.
RESPONDING = frozenset(
    {ReportStatus.RECEIVED, ReportStatus.IN_PROGRESS, ReportStatus.RESOLVED, ReportStatus.REJECTED}
)
CLOSING = frozenset({ReportStatus.RESOLVED, ReportStatus.REJECTED})
# Fields of a routed report the case does not copy: the id becomes ``_id``; the responsible unit is
# written separately (a reassignment may have changed it); ``raw`` (the channel's original payload)
# stays on the raw topic.
NOT_COPIED = frozenset({"report_id", "skpd_code", "skpd_name", "raw"})


class InvalidStatus(ValueError):
    """A status update that can never be applied (e.g. a reassignment to an unknown unit)."""


def case_fields(report: RoutedReport) -> dict[str, Any]:
    """The report's fields as stored in its case, with the deadlines at top level (as dates, indexed)."""
    fields = report.model_dump(mode="python", exclude=set(NOT_COPIED))
    fields["respond_by"] = report.sla.respond_by
    fields["resolve_by"] = report.sla.resolve_by
    return fields


@dataclass(frozen=True)
class StatusChange:
    """What one status update does to its case."""

    report_id: str
    event_id: str
    status: str
    at: datetime
    entry: dict[str, Any]
    responded_at: datetime | None
    closed_at: datetime | None
    reassign_to: str | None
    reassign_name: str | None


def status_change(update: StatusUpdate, registry: SkpdRegistry) -> StatusChange:
    """Raises ``InvalidStatus`` for a reassignment without a known target unit."""
    reassign_to = reassign_name = None
    if update.status is ReportStatus.REASSIGNED:
        if not update.reassign_to:
            raise InvalidStatus("status 'reassigned' needs reassign_to (an SKPD code)")
        unit = registry.by_code.get(update.reassign_to)
        if unit is None:
            raise InvalidStatus(f"reassign_to {update.reassign_to!r} is not in the SKPD registry")
        reassign_to, reassign_name = unit.code, unit.name
    entry = {
        "event_id": update.event_id(),
        "status": update.status.value,
        "at": update.at,
        "by": update.by,
        "note": update.note,
        "evidence": list(update.evidence),
        "reassign_to": reassign_to,
    }
    return StatusChange(
        report_id=update.report_id,
        event_id=update.event_id(),
        status=update.status.value,
        at=update.at,
        entry=entry,
        responded_at=update.at if update.status in RESPONDING else None,
        closed_at=update.at if update.status in CLOSING else None,
        reassign_to=reassign_to,
        reassign_name=reassign_name,
    )


def public_view(case: Mapping[str, Any]) -> dict[str, Any]:
    """The case as JSON for the read API: ``report_id`` instead of ``_id``, dates as RFC 3339 strings."""
    out = {"report_id": case["_id"], **{k: v for k, v in case.items() if k != "_id"}}
    return {k: _jsonable(v) for k, v in out.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
