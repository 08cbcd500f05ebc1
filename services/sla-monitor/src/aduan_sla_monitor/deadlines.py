"""Deadlines: which breaches are due for a case at a given moment, and the events that announce them.

Pure functions over a small view of the case (``CaseClock``); the scanner queries the case store, calls
these and emits what they return. A breach is due once its deadline has passed with no answer (no
``responded_at`` for the 6-hour respond deadline, no ``closed_at`` for the 7-day resolve deadline) and
it has not been recorded for the case yet: at most one event per report and kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from aduan_schemas.city import SkpdRegistry
from aduan_schemas.events import SlaEvent

BreachKind = Literal["respond_breached", "resolve_breached"]
RESPOND: BreachKind = "respond_breached"
RESOLVE: BreachKind = "resolve_breached"
UNKNOWN_POLICY = "unknown"


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
    breached: frozenset[str] = field(default_factory=frozenset)

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
            breached=frozenset(case.get("breaches") or {}),
        )


@dataclass(frozen=True)
class Breach:
    kind: BreachKind
    due_at: datetime


def due_breaches(case: CaseClock, now: datetime) -> list[Breach]:
    """The breaches to announce for ``case`` at ``now`` (respond before resolve)."""
    out: list[Breach] = []
    if (
        case.respond_by is not None
        and case.respond_by <= now
        and case.responded_at is None
        and RESPOND not in case.breached
    ):
        out.append(Breach(RESPOND, case.respond_by))
    if (
        case.resolve_by is not None
        and case.resolve_by <= now
        and case.closed_at is None
        and RESOLVE not in case.breached
    ):
        out.append(Breach(RESOLVE, case.resolve_by))
    return out


def escalation_target(skpd_code: str, registry: SkpdRegistry) -> str | None:
    """The unit a breach escalates to: the registry parent of the responsible unit (None at the top or
    when the unit is not in the registry)."""
    unit = registry.by_code.get(skpd_code)
    return unit.parent if unit is not None else None


def breach_event(case: CaseClock, breach: Breach, now: datetime, registry: SkpdRegistry) -> SlaEvent:
    """The event announcing ``breach``; its ``event_id`` is deterministic (one per report and kind)."""
    if case.skpd_code is None:
        raise ValueError(f"case {case.report_id} has no responsible unit")
    return SlaEvent(
        report_id=case.report_id,
        kind=breach.kind,
        policy=case.policy,
        due_at=breach.due_at,
        detected_at=now,
        skpd_code=case.skpd_code,
        escalate_to=escalation_target(case.skpd_code, registry),
    )
