"""Deadline alarms of a case: what is due at a given moment, what comes next, and the events. Pure.

Each of a case's two clocks (respond: stopped by the unit's first answer; resolve: stopped by closing)
has a timeline of alarms, each sent at most once (its key is recorded in the case's ``alarms``):

- ``<clock>_warning`` when ``warn_at`` of the time from the clock's start to its deadline has run;
- ``<clock>_breached`` at the deadline: ladder step 1 (see ``escalation``);
- ``<clock>_escalated`` step n (n >= 2) at the deadline plus (n - 1) x the policy's
  ``<clock>_escalate_every``, counted on the policy's calendar, one per further rung of the ladder.

An answered clock has no more alarms: the ladder stops when the case is answered. A warning whose
deadline has passed too when it is found (the monitor was down) is skipped, recorded but not sent: it
would only precede its own breach. Every other alarm found late is still sent, with its own due time.

The resolve clock restarts when a report is reopened: the case then carries ``resolve_started_at``
and ``resolve_round`` (1, 2, ...), and the round is part of the resolve alarms' keys and event ids.

``late_breaches`` judges lateness from timestamps: a clock whose first answer came after its deadline
and for which no breach is recorded was breached, even if no scan ran in time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from aduan_schemas.events import SlaEvent, SlaKind
from aduan_sla import Policy, add_time, warning_time
from aduan_sla_monitor.escalation import Rung

ClockName = Literal["respond", "resolve"]
BreachKind = Literal["respond_breached", "resolve_breached"]
RESPOND: BreachKind = "respond_breached"
RESOLVE: BreachKind = "resolve_breached"
UNKNOWN_POLICY = "unknown"
CLOCK_NAMES: tuple[ClockName, ...] = ("respond", "resolve")


@dataclass(frozen=True)
class CaseClock:
    """What deadline checks need from a case."""

    report_id: str
    skpd_code: str | None
    policy: str
    respond_by: datetime | None
    resolve_by: datetime | None
    responded_at: datetime | None = None
    closed_at: datetime | None = None
    received_at: datetime | None = None
    resolve_started_at: datetime | None = None
    resolve_round: int = 0
    sent: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_case(cls, case: Mapping[str, Any]) -> CaseClock:
        """Build from a stored case document (fields as written by the case store)."""
        sla = case.get("sla") or {}
        return cls(
            report_id=str(case["_id"]),
            skpd_code=case.get("skpd_code"),
            policy=str(sla.get("policy") or UNKNOWN_POLICY),
            respond_by=case.get("respond_by"),
            resolve_by=case.get("resolve_by"),
            responded_at=case.get("responded_at"),
            closed_at=case.get("closed_at"),
            received_at=case.get("received_at"),
            resolve_started_at=case.get("resolve_started_at"),
            resolve_round=int(case.get("resolve_round") or 0),
            # Breaches recorded before alarms existed count as sent.
            sent=frozenset(case.get("alarms") or {}) | frozenset(case.get("breaches") or {}),
        )


@dataclass(frozen=True)
class Alarm:
    key: str  # unique per case: kind, step and round, e.g. "resolve_escalated:2@r1"
    kind: SlaKind
    at: datetime  # when it is due
    deadline: datetime
    step: int | None = None
    rung: Rung | None = None
    round: int = 0

    @property
    def is_breach(self) -> bool:
        return self.kind.endswith("_breached")


@dataclass(frozen=True)
class Plan:
    due: list[Alarm]  # to send now, in time order
    skipped: list[Alarm]  # to record without sending
    next_at: datetime | None  # when the case next has an alarm (None: never, unless its clocks change)


def alarm_key(kind: SlaKind, step: int | None = None, round_: int = 0) -> str:
    key = f"{kind}:{step}" if kind.endswith("_escalated") else str(kind)
    return key if round_ == 0 else f"{key}@r{round_}"


def _clock(case: CaseClock, name: ClockName) -> tuple[datetime | None, datetime | None, datetime | None, int]:
    """(start, deadline, first answer, round) of one clock."""
    if name == "respond":
        return case.received_at, case.respond_by, case.responded_at, 0
    start = case.resolve_started_at or case.received_at
    return start, case.resolve_by, case.closed_at, case.resolve_round


def timeline(case: CaseClock, policy: Policy, rungs: list[Rung]) -> list[Alarm]:
    """Every alarm of the case's unanswered clocks, in time order (sent ones included)."""
    out: list[Alarm] = []
    for name in CLOCK_NAMES:
        start, deadline, answered, round_ = _clock(case, name)
        if deadline is None or answered is not None:
            continue
        every = (
            policy.rules.respond_escalate_every if name == "respond" else policy.rules.resolve_escalate_every
        )
        if start is not None and start < deadline:
            kind = cast(SlaKind, f"{name}_warning")
            out.append(
                Alarm(alarm_key(kind, None, round_), kind, warning_time(policy, start, deadline), deadline)
            )
        breached = cast(SlaKind, f"{name}_breached")
        escalated = cast(SlaKind, f"{name}_escalated")
        for step, rung in enumerate(rungs or [Rung(None, None)], start=1):
            kind = breached if step == 1 else escalated
            at = deadline if step == 1 else add_time(policy.calendar, deadline, every * (step - 1))
            out.append(Alarm(alarm_key(kind, step, round_), kind, at, deadline, step, rung, round_))
    return sorted(out, key=lambda a: (a.at, a.key))


def plan(case: CaseClock, policy: Policy, rungs: list[Rung], now: datetime) -> Plan:
    """What to send for ``case`` at ``now`` and when to look at it again."""
    pending = [a for a in timeline(case, policy, rungs) if a.key not in case.sent]
    ready = [a for a in pending if a.at <= now]
    breached_now = {a.kind.removesuffix("_breached") for a in ready if a.is_breach}
    skipped = [
        a for a in ready if a.kind.endswith("_warning") and a.kind.removesuffix("_warning") in breached_now
    ]
    due = [a for a in ready if a not in skipped]
    later = [a.at for a in pending if a.at > now]
    return Plan(due, skipped, min(later) if later else None)


def first_alarm(case: CaseClock, policy: Policy, rungs: list[Rung]) -> datetime | None:
    """When the case's earliest alarm not yet recorded falls (None: it has none): where a new case is
    scheduled, so the scanner first looks at it when something is due, not right after it is stored."""
    return min((a.at for a in timeline(case, policy, rungs) if a.key not in case.sent), default=None)


def late_breaches(case: CaseClock, policy: Policy, rungs: list[Rung]) -> list[Alarm]:
    """Breaches shown by the answers' own times: a clock answered after its deadline, no breach recorded."""
    out: list[Alarm] = []
    for name in CLOCK_NAMES:
        _, deadline, answered, round_ = _clock(case, name)
        if deadline is None or answered is None or answered <= deadline:
            continue
        kind = cast(SlaKind, f"{name}_breached")
        key = alarm_key(kind, 1, round_)
        if key not in case.sent:
            rung = rungs[0] if rungs else Rung(None, None)
            out.append(Alarm(key, kind, deadline, deadline, 1, rung, round_))
    return out


def alarm_event(case: CaseClock, alarm: Alarm, now: datetime, late: bool = False) -> SlaEvent:
    """The event of ``alarm``; its ``event_id`` is deterministic (one per report, kind, step and round)."""
    if case.skpd_code is None:
        raise ValueError(f"case {case.report_id} has no responsible unit")
    return SlaEvent(
        report_id=case.report_id,
        kind=alarm.kind,
        policy=case.policy,
        due_at=alarm.at,
        detected_at=now,
        skpd_code=case.skpd_code,
        escalate_to=alarm.rung.target if alarm.rung else None,
        step=alarm.step,
        level=alarm.rung.level if alarm.rung else None,
        deadline=alarm.deadline,
        late_detected=late,
        round=alarm.round,
    )
