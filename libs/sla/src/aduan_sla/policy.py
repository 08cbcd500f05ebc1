"""Which SLA policy applies to a report, and its deadlines. Pure; one place for both.

Choice, most specific first: ``by_unit`` for the responsible unit, then for each unit above it in the
registry (nearest first; so an entry for a kota covers its kecamatan and kelurahan), then ``by_category``
for the report's category, then ``default``. A policy name no longer in the file (a case stored under
an older configuration) falls back to the default.

Deadlines count from the citizen's report (``received_at``) on the policy's calendar (none: the clock
never stops); a reopened report restarts only the resolve clock, from the reopening
(``resolve_deadline(policy, reopened_at)``). A warning falls when ``warn_at`` of the time from a clock's
start to its deadline has passed (elapsed real time, so it is right on any calendar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aduan_schemas.city import SkpdRegistry, SlaPolicies, SlaPolicy, WorkCalendar
from aduan_schemas.events import SlaDeadlines
from aduan_sla.calendar import add_time


@dataclass(frozen=True)
class Policy:
    """A named policy with its calendar resolved."""

    name: str
    rules: SlaPolicy
    calendar: WorkCalendar | None


def policy_named(sla: SlaPolicies, name: str | None) -> Policy:
    """The policy called ``name``, or the default one when there is no such policy."""
    if name is None or name not in sla.policies:
        name = sla.default
    rules = sla.policies[name]
    return Policy(name, rules, sla.calendars[rules.calendar] if rules.calendar else None)


def policy_for(
    sla: SlaPolicies, category: str | None, unit_code: str | None, registry: SkpdRegistry
) -> Policy:
    """The policy for a report of ``category`` handled by ``unit_code`` (see the module docstring)."""
    seen: set[str] = set()
    code = unit_code
    while code is not None and code not in seen:  # the registry forbids loops; stay safe anyway
        if code in sla.by_unit:
            return policy_named(sla, sla.by_unit[code])
        seen.add(code)
        unit = registry.by_code.get(code)
        code = unit.parent if unit is not None else None
    return policy_named(sla, sla.by_category.get(category or "", sla.default))


def respond_deadline(policy: Policy, start: datetime) -> datetime:
    return add_time(policy.calendar, start, policy.rules.respond_within)


def resolve_deadline(policy: Policy, start: datetime) -> datetime:
    """The resolve deadline of a clock started at ``start`` (the report, or its reopening)."""
    return add_time(policy.calendar, start, policy.rules.resolve_within)


def deadlines(policy: Policy, received_at: datetime) -> SlaDeadlines:
    return SlaDeadlines(
        policy=policy.name,
        respond_by=respond_deadline(policy, received_at),
        resolve_by=resolve_deadline(policy, received_at),
    )


def warning_time(policy: Policy, start: datetime, deadline: datetime) -> datetime:
    """When the warning of a clock running from ``start`` to ``deadline`` falls."""
    return start + (deadline - start) * policy.rules.warn_at
