"""Citizen follow-ups: a routed report whose ``follow_up_of`` names an earlier case is linked to that
case instead of becoming a case of its own; when the earlier case is resolved, it is reopened.

Pure: ``follow_up`` looks at the follow-up and the earlier case and says what to do. Reopening is not
written here: it is a ``StatusUpdate`` with status ``reopened`` published on ``aduan.reports.status``, so
the status consumer stays the one place that applies updates, and the notifier can tell the unit and the
citizen from the same event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aduan_schemas.city import SlaPolicies
from aduan_schemas.events import MAX_SHORT, ReportStatus, RoutedReport, StatusUpdate
from aduan_sla import policy_named, resolve_deadline

REOPENED_BY = "warga"  # the citizen, named as officials read it; never their contact


def new_resolve_by(sla: SlaPolicies, policy_name: str | None, start: datetime) -> datetime:
    """The resolve deadline of a reopened case, counting from the citizen's follow-up, on the case's
    policy and its calendar (working hours, holidays)."""
    return resolve_deadline(policy_named(sla, policy_name), start)


@dataclass(frozen=True)
class FollowUp:
    earlier_id: str
    reopen: StatusUpdate | None  # set when the earlier case is resolved and this follow-up reopens it


def follow_up(report: RoutedReport, earlier: Mapping[str, Any] | None, sla: SlaPolicies) -> FollowUp | None:
    """None: the report is a case of its own (no ``follow_up_of``, or the earlier case is unknown)."""
    if report.follow_up_of is None or earlier is None or report.follow_up_of == report.report_id:
        return None
    closed_at = earlier.get("closed_at")
    resolved = earlier.get("status") == ReportStatus.RESOLVED.value
    # Open, or resolved after the follow-up was written: linked only.
    if not resolved or closed_at is None or closed_at > report.received_at:
        return FollowUp(report.follow_up_of, None)
    policy_name = (earlier.get("sla") or {}).get("policy")
    note = f"Dibuka kembali: warga mengirim laporan lanjutan {report.report_id}"
    reopen = StatusUpdate(
        report_id=report.follow_up_of,
        status=ReportStatus.REOPENED,
        at=report.received_at,
        by=REOPENED_BY,
        note=note[:MAX_SHORT],
        resolve_by=new_resolve_by(sla, policy_name, report.received_at),
        follow_up_id=report.report_id,
        skpd_code=earlier.get("skpd_code"),
    )
    return FollowUp(report.follow_up_of, reopen)
