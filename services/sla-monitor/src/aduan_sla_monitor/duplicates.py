"""Near-duplicates: a routed report whose ``duplicate_of`` names an open case joins that case (listed in
its ``duplicates``) instead of opening a case of its own, like a citizen's follow-up.

Unlike a follow-up, a duplicate never reopens: the normalizer links only to open cases, so a target
closed by the time the duplicate arrives (a resolution crossing the duplicate in the stream) means a
recurring problem, and the duplicate becomes its own case. A duplicate whose target case is unknown
(not routed yet) is its own case too: a report is never lost waiting for another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aduan_schemas.events import ReportStatus, RoutedReport

CLOSED = {ReportStatus.RESOLVED.value, ReportStatus.REJECTED.value}


def duplicate_target(report: RoutedReport, case: Mapping[str, Any] | None) -> str | None:
    """The case ``report`` joins, or None: it is a case of its own."""
    target = report.duplicate_of
    if target is None or target == report.report_id or case is None:
        return None
    if case.get("status") in CLOSED:
        return None
    return target
