"""Lateness from timestamps: breaches that status updates reveal by their own times. Pure.

After a batch of status updates is stored, each case they answered is checked with
``deadlines.late_breaches``: a clock whose first answer (``responded_at`` / ``closed_at``, the earliest
``at`` whatever order updates arrived in) is after its deadline, with no breach recorded, was breached,
even if no scan ran in time (the monitor was down, or the answer came between two scans). The breach
is recorded with its due time and announced with ``late_detected``, attributed to the first update of
the batch that answered that clock; that update's event id is kept with the mark, so a re-delivery of
the same update re-sends the same event (same CloudEvents id) and a lost send is not lost for good.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aduan_schemas.city import SkpdRegistry, SlaPolicies
from aduan_schemas.events import SlaEvent
from aduan_sla import policy_named
from aduan_sla_monitor.cases import StatusChange
from aduan_sla_monitor.deadlines import Alarm, CaseClock, alarm_event, late_breaches
from aduan_sla_monitor.escalation import ladder


@dataclass(frozen=True)
class LateBreach:
    index: int  # of the status change in the batch that revealed it
    report_id: str
    alarm: Alarm
    event_id: str  # of that status change
    event: SlaEvent
    resent: bool  # found before by this same status update (a re-delivery)


def _answers(change: StatusChange, kind: str) -> bool:
    return (change.responded_at if kind.startswith("respond") else change.closed_at) is not None


def late_findings(
    changes: Sequence[StatusChange],
    cases: Mapping[str, Mapping[str, Any]],
    sla: SlaPolicies,
    registry: SkpdRegistry,
    now: datetime,
) -> list[LateBreach]:
    """The late breaches a batch of stored status updates reveals (see the module docstring)."""
    out: list[LateBreach] = []
    for rid in dict.fromkeys(c.report_id for c in changes):
        doc = cases.get(rid)
        if doc is None:
            continue
        mine = [(i, c) for i, c in enumerate(changes) if c.report_id == rid]
        ids = {c.event_id for _, c in mine}
        found_by = {k: v for k, v in (doc.get("late") or {}).items() if v in ids}
        case = CaseClock.from_case(doc)
        if case.skpd_code is None:
            continue  # not routed yet: no deadlines to judge by
        rungs = ladder(case.skpd_code, sla, registry)
        case = replace(case, sent=case.sent - set(found_by))
        for alarm in late_breaches(case, policy_named(sla, case.policy), rungs):
            if alarm.key in found_by:
                index = next(i for i, c in mine if c.event_id == found_by[alarm.key])
            else:
                answering = [i for i, c in mine if _answers(c, alarm.kind)]
                if not answering:
                    continue  # the answer came earlier, outside this batch: a scan judges it
                index = answering[0]
            event = alarm_event(case, alarm, now, late=True)
            out.append(LateBreach(index, rid, alarm, changes[index].event_id, event, alarm.key in found_by))
    return out
