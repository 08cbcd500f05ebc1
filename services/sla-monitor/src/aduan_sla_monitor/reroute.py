"""Re-routing: the request the monitor sends the router when a unit answers "not our authority" or an
operator re-categorises a report.

The monitor holds the report (its case), so it republishes it on ``aduan.reports.reroute`` with every
unit that refused it; the router routes it again without them and never reads this service's database.
The deadlines travel unchanged: they count from the citizen's report (a reopened case carries its new
resolve clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aduan_schemas.events import RerouteRequest
from aduan_sla_monitor.cases import REROUTING, StatusChange


def reroute_request(case: Mapping[str, Any], change: StatusChange) -> RerouteRequest | None:
    """None when the case has no routed report yet (nothing to route again)."""
    if "sla" not in case or "received_at" not in case or "skpd_code" not in case:
        return None
    fields = {k: v for k, v in case.items() if k != "_id"}
    fields["report_id"] = case["_id"]
    sla = dict(case["sla"])
    sla["respond_by"], sla["resolve_by"] = case["respond_by"], case["resolve_by"]
    fields["sla"] = sla
    category = change.entry.get("category")
    if category:
        fields |= {"category": category, "category_confidence": 1.0, "category_runner_up": None}
    return RerouteRequest.model_validate(
        {
            **fields,
            "exclude_units": list(case.get("rejected_by") or ()),
            "requested_by": change.sender or change.entry["by"],
            "requested_at": change.at,
        }
    )


def waiting(case: Mapping[str, Any], requested_at: datetime) -> bool:
    """The case still waits for the router's answer to the request made at ``requested_at`` (a
    re-delivered update re-sends its request until the new unit is stored: at-least-once)."""
    at = case.get("status_at")
    return case.get("status") == REROUTING and at is not None and _ms(at) == _ms(requested_at)


def _ms(t: datetime) -> datetime:
    """MongoDB keeps milliseconds."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)
