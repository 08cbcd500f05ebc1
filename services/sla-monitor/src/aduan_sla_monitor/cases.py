"""The case: what the monitor keeps about one report. Pure functions from events to case changes.

A case is written by two independent streams (``aduan.reports.routed`` and ``aduan.reports.status``)
which may arrive in either order; each writes only its own fields, so neither overwrites the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aduan_schemas.city import SkpdRegistry
from aduan_schemas.events import ReasonCode, ReportStatus, RoutedReport, StatusUpdate
from aduan_text.pii import mask_contacts

ROUTED = "routed"  # the status of a case until its SKPD says otherwise
# A unit said "not ours" (or an operator re-categorised it): the router is picking the next unit.
REROUTING = "rerouting"
# Every candidate unit refused it: an operator decides on the router's triage API.
TRIAGE = "triage"
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


def is_photo_url(url: str) -> bool:
    """Evidence must be reachable by whoever checks the closing: an http(s) URL."""
    return url.lower().startswith(("https://", "http://"))


def check_update(update: StatusUpdate, registry: SkpdRegistry) -> None:
    """The rules every status update meets, whether it came over Kafka or the status API.
    Raises ``InvalidStatus`` with a reason a unit's developer can act on."""
    if update.status is ReportStatus.RESOLVED and not any(is_photo_url(u) for u in update.evidence):
        raise InvalidStatus(
            "status 'resolved' needs evidence: at least one photo URL (http or https) in 'evidence'"
        )
    if update.reason_code is ReasonCode.NOT_OUR_AUTHORITY and update.status is not ReportStatus.REJECTED:
        raise InvalidStatus("reason_code 'not_our_authority' goes with status 'rejected'")
    if update.reason_code is ReasonCode.RECATEGORISED:
        if update.status is not ReportStatus.REASSIGNED or not update.category:
            raise InvalidStatus("reason_code 'recategorised' needs status 'reassigned' and a 'category'")
    elif update.status is ReportStatus.REASSIGNED:
        if not update.reassign_to:
            raise InvalidStatus("status 'reassigned' needs reassign_to (an SKPD code)")
        if update.reassign_to not in registry.by_code:
            raise InvalidStatus(f"reassign_to {update.reassign_to!r} is not in the SKPD registry")
    if update.status is ReportStatus.REOPENED and update.resolve_by is None:
        raise InvalidStatus("status 'reopened' needs resolve_by (the new resolve deadline)")
    if update.skpd_code is not None and update.skpd_code not in registry.by_code:
        raise InvalidStatus(f"skpd_code {update.skpd_code!r} is not in the SKPD registry")


def masked_note(update: StatusUpdate, keep: Iterable[str]) -> StatusUpdate:
    """``update`` with the contacts typed into its note masked (``mask_contacts``; the city's official
    accounts, ``keep``, stay).

    Officials copy a citizen's number or address into notes ("warga dihubungi di 0812…"), and a note is
    stored in the case, returned by the read APIs and published on ``aduan.reports.status``. So the
    monitor masks it when the status API publishes an update and when the status consumer applies one
    (an update a unit's system published on Kafka itself arrives unmasked)."""
    if not update.note:
        return update
    note = mask_contacts(update.note, keep)
    return update if note == update.note else update.model_copy(update={"note": note})


def reroutes(update: StatusUpdate) -> bool:
    """Whether the update sends the report back to the router (not ours, or a new category)."""
    return update.reason_code in (ReasonCode.NOT_OUR_AUTHORITY, ReasonCode.RECATEGORISED)


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
    reroute: bool = False
    not_ours: bool = False
    sender: str | None = None
    reopen_resolve_by: datetime | None = None
    follow_up_id: str | None = None


def status_change(update: StatusUpdate, registry: SkpdRegistry) -> StatusChange:
    """Raises ``InvalidStatus`` for an update that breaks ``check_update``'s rules."""
    check_update(update, registry)
    reassign_to = reassign_name = None
    if update.status is ReportStatus.REASSIGNED and update.reassign_to:
        unit = registry.by_code[update.reassign_to]
        reassign_to, reassign_name = unit.code, unit.name
    reroute = reroutes(update)
    not_ours = update.reason_code is ReasonCode.NOT_OUR_AUTHORITY
    entry = {
        "event_id": update.event_id(),
        "status": update.status.value,
        "at": update.at,
        "by": update.by,
        "note": update.note,
        "evidence": list(update.evidence),
        "reassign_to": reassign_to,
        "reason_code": update.reason_code.value if update.reason_code else None,
        "skpd_code": update.skpd_code,
    }
    if update.category is not None:
        entry["category"] = update.category
    if update.status is ReportStatus.REOPENED:
        entry |= {"resolve_by": update.resolve_by, "follow_up_id": update.follow_up_id}
    # "Not ours" neither answers nor closes: the next unit owes the answer, on the citizen's clock.
    return StatusChange(
        report_id=update.report_id,
        event_id=update.event_id(),
        status=REROUTING if reroute else update.status.value,
        at=update.at,
        entry=entry,
        responded_at=update.at if update.status in RESPONDING and not not_ours else None,
        closed_at=update.at if update.status in CLOSING and not not_ours else None,
        reassign_to=reassign_to,
        reassign_name=reassign_name,
        reroute=reroute,
        not_ours=not_ours,
        sender=update.skpd_code,
        reopen_resolve_by=update.resolve_by if update.status is ReportStatus.REOPENED else None,
        follow_up_id=update.follow_up_id,
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
