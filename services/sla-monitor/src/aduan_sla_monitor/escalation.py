"""The escalation ladder of a unit: who is told at each step after a breach. Pure.

The ladder of the unit's level (``sla.yaml`` ``ladders``) is walked from the unit: ``self`` names the
unit itself (its head is told), ``parent`` the registry parent of the rung before, an SKPD code that
unit. The walk stops at the top of the registry (a ``parent`` of a unit without one), and a rung
naming the unit of the rung before is left out, so no unit is told twice in a row. A unit not in the
registry, or a level without a ladder, gets the one-rung ladder of the registry parent (the behaviour
before ladders existed).
"""

from __future__ import annotations

from dataclasses import dataclass

from aduan_schemas.city import PARENT_RUNG, SELF_RUNG, SkpdRegistry, SlaPolicies


@dataclass(frozen=True)
class Rung:
    level: str | None  # the official told, e.g. "camat"; None for the fallback rung
    target: str | None  # the SKPD code whose head is told


def ladder(unit_code: str, sla: SlaPolicies, registry: SkpdRegistry) -> list[Rung]:
    """The rungs for a breach of a case handled by ``unit_code``; step n is ``rungs[n - 1]``."""
    unit = registry.by_code.get(unit_code)
    if unit is None:
        return [Rung(None, None)]
    rungs = sla.ladders.get(unit.level)
    if not rungs:
        return [Rung(None, unit.parent)]
    out: list[Rung] = []
    current = unit.code
    for rung in rungs:
        if rung.to == SELF_RUNG:
            target = current
        elif rung.to == PARENT_RUNG:
            parent = registry.by_code[current].parent
            if parent is None:
                break
            target = parent
        else:
            target = rung.to
        if out and target == current:
            continue  # already told at the rung before (e.g. the province's own unit)
        out.append(Rung(rung.level, target))
        current = target
    return out
