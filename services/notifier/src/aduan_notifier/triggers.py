"""What each event triggers: a pure function from an event (and what is known of its case) to a plan.

| event                                  | unit (webhook + email)            | citizen          | dups |
|----------------------------------------|-----------------------------------|------------------|------|
| routed, held for triage                | nobody (webhook: skipped)         | received         | no   |
| routed to a unit                       | the unit                          | forwarded <unit> | (1)  |
| status in_progress                     | -                                 | in_progress      | yes  |
| status resolved                        | -                                 | resolved         | yes  |
| status reopened                        | the case's unit                   | reopened         | yes  |
| status received, rejected, reassigned  | - (2)                             | - (2)            | -    |
| SLA breach                             | escalation target, else the unit; | escalated (3)    | yes  |
|                                        | the unit's digest                 |                  |      |
| anything else (future kinds)           | ignored, with a log line          |                  |      |

"dups": the reporters of reports marked as duplicates of this one are told too.
(1) a duplicate report is routed on its own, so its reporter hears "forwarded" from its own event.
(2) the unit wrote it; a re-routing arrives as a new routed report, which tells the new unit and the
    citizen ("forwarded" to the new unit). (3) only when the breach names an escalation target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, get_args

from aduan_notifier.links import CaseLink
from aduan_notifier.templates import CitizenKey, UnitKey
from aduan_schemas.city import SkpdRegistry
from aduan_schemas.events import Event, RoutedReport, SlaEvent, StatusUpdate

SLA_KINDS: frozenset[str] = frozenset(get_args(SlaEvent.model_fields["kind"].annotation))
NO_EVIDENCE = "-"


@dataclass(frozen=True)
class Ignored:
    """An event of a kind this notifier does not know (yet): acknowledged, nothing sent."""

    reason: str
    report_id: str | None = None


@dataclass(frozen=True)
class Plan:
    webhook_to: str | None = None  # SKPD code
    email_to: str | None = None  # SKPD code
    email: UnitKey | None = None
    citizen: CitizenKey | None = None
    unit_name: str = ""  # for the citizen's {unit}
    evidence: str = NO_EVIDENCE
    duplicates_too: bool = False
    digest_unit: str | None = None
    note: str = ""
    held_for_triage: bool = False
    moved_from: str | None = None  # SKPD code: the unit a re-routed report was taken from


def unit_name(code: str | None, registry: SkpdRegistry, fallback: str = "unit terkait") -> str:
    unit = registry.by_code.get(code or "")
    return unit.name if unit is not None else fallback


def plan(event: Event, link: CaseLink | None, registry: SkpdRegistry) -> Plan | Ignored:
    if isinstance(event, RoutedReport):
        if event.needs_triage:
            return Plan(citizen="received", held_for_triage=True, webhook_to=event.skpd_code)
        moved = event.rerouted_from if event.rerouted_from != event.skpd_code else None
        return Plan(
            webhook_to=event.skpd_code, email_to=event.skpd_code, email="routed", citizen="forwarded",
            unit_name=event.skpd_name, moved_from=moved,
        )  # fmt: skip
    if isinstance(event, StatusUpdate):
        code = link.skpd_code if link else None
        name = link.skpd_name if link else unit_name(event.by, registry)
        status = str(event.status.value)
        if status == "in_progress":
            return Plan(citizen="in_progress", unit_name=name, duplicates_too=True)
        if status == "resolved":
            evidence = event.evidence[0] if event.evidence else NO_EVIDENCE
            return Plan(citizen="resolved", unit_name=name, evidence=evidence, duplicates_too=True)
        if status == "reopened":
            return Plan(
                webhook_to=code, email_to=code, email="reopened", citizen="reopened", unit_name=name,
                duplicates_too=True, note=event.note or "",
            )  # fmt: skip
        return Ignored(f"status {status}: nobody to tell", event.report_id)
    if isinstance(event, SlaEvent):
        if event.kind not in SLA_KINDS:
            return Ignored(f"SLA event kind {event.kind}: not notified", event.report_id)
        if event.kind.endswith("_warning"):  # a deadline is near: the unit alone is reminded
            return Plan(webhook_to=event.skpd_code, email_to=event.skpd_code, email="warning")
        # A breach (ladder step 1) or a later step: to the step's rung; the citizen hears of it when the
        # report moves up to someone other than the unit; the unit's digest lists each breach once.
        to = event.escalate_to or event.skpd_code
        moved_up = event.escalate_to is not None and event.escalate_to != event.skpd_code
        return Plan(
            webhook_to=to, email_to=to, email="breach",
            citizen="escalated" if moved_up else None,
            unit_name=unit_name(event.escalate_to, registry), duplicates_too=True,
            digest_unit=event.skpd_code if event.kind.endswith("_breached") else None,
        )  # fmt: skip
    return Ignored(f"{type(event).__name__}: not notified")


def tolerant(model: type[Event], field_name: str, known: frozenset[str]) -> Any:
    """A parser for ``model`` that turns a value of ``field_name`` outside ``known`` (a kind added by a
    newer producer) into ``Ignored`` instead of a dead letter; anything else invalid still fails."""

    def parse(value: bytes) -> Event | Ignored:
        try:
            data = json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested too deep: the model's parser says why
            data = None
        if isinstance(data, dict) and isinstance(data.get(field_name), str) and data[field_name] not in known:
            rid = data.get("report_id")
            return Ignored(
                f"{field_name} {data[field_name][:100]!r} unknown", rid if isinstance(rid, str) else None
            )
        return model.model_validate_json(value)

    return parse
