"""The SLA monitor's own families (with the kit's stream metrics, all its /metrics shows).

Labels stay bounded: a unit's SKPD code (the registry's units), its kota and level (derived from the
registry by ``unit_labels``), an alarm kind or a fixed state; never a report id."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from aduan_kit.metrics import CASE_TIME_BUCKETS, END_TO_END_BUCKETS
from aduan_schemas.city import SkpdLevel, SkpdRegistry

CASES_STORED = Counter("aduan_cases_stored_total", "Routed reports stored as cases (new ones)", [])
DUPLICATES_LINKED = Counter(
    "aduan_duplicates_linked_total",
    "Near-duplicate routed reports linked to an existing case (no case of their own)",
    [],
)
STATUS_UPDATES = Counter("aduan_status_updates_total", "Status updates applied to cases", ["status"])
# kind: respond_/resolve_ + warning, breached (ladder step 1) or escalated (steps 2 and more).
SLA_ALARMS = Counter(
    "aduan_sla_alarms_total",
    "Deadline warnings, breaches and escalations emitted, by kind and the responsible unit",
    ["kind", "skpd_code", "kota", "level"],
)
# state: on_time (no deadline passed), respond_overdue (no answer after respond_by), resolve_overdue
# (open after resolve_by; takes precedence).
OPEN_STATES = ("on_time", "respond_overdue", "resolve_overdue")
CASES_OPEN = Gauge(
    "aduan_cases_open",
    "Cases not yet resolved or rejected, by unit and SLA state (refreshed every open_count_interval_s)",
    ["skpd_code", "kota", "sla_state"],
)
INTAKE_TO_CASE_SECONDS = Histogram(
    "aduan_intake_to_case_seconds",
    "From the channel's receipt of a report (its received_at) to its case being stored",
    [],
    buckets=END_TO_END_BUCKETS,
)
RESPOND_SECONDS = Histogram(
    "aduan_case_respond_seconds",
    "From receipt to the unit's first answer",
    ["skpd_code"],
    buckets=CASE_TIME_BUCKETS,
)
RESOLVE_SECONDS = Histogram(
    "aduan_case_resolve_seconds",
    "From receipt to the case's closing (resolved or rejected)",
    ["skpd_code"],
    buckets=CASE_TIME_BUCKETS,
)


def unit_labels(code: str | None, registry: SkpdRegistry) -> tuple[str, str]:
    """(kota, level) of a unit: the kota whose Kemendagri code starts its area code ("provinsi" for a
    unit serving the whole province, "unknown" for a code the registry does not have)."""
    unit = registry.by_code.get(code or "")
    if unit is None:
        return "unknown", "unknown"
    kota = "provinsi"
    if unit.area_code:
        kota_unit = registry.by_area.get((SkpdLevel.KOTA, unit.area_code[:5]))
        if kota_unit is not None:
            kota = kota_unit.name.removeprefix("Kota Administrasi ").removeprefix("Kabupaten Administrasi ")
    return kota, unit.level.value


def count_alarm(kind: str, code: str | None, registry: SkpdRegistry) -> None:
    SLA_ALARMS.labels(kind, code or "unknown", *unit_labels(code, registry)).inc()


ALARM_KINDS = tuple(f"{c}_{s}" for c in ("respond", "resolve") for s in ("warning", "breached", "escalated"))


def set_open_cases(counts: dict[tuple[str, str], int], registry: SkpdRegistry, known: set[str]) -> None:
    """Publish ``counts`` ((unit, state) -> open cases). Every unit seen since start keeps all its states
    (0 when none), and gets its alarm series at zero, so the first alarm of a unit counts in increase()."""
    known |= {unit for unit, _ in counts}
    for unit in known:
        kota, level = unit_labels(unit, registry)
        for state in OPEN_STATES:
            CASES_OPEN.labels(unit, kota, state).set(counts.get((unit, state), 0))
        for kind in ALARM_KINDS:
            SLA_ALARMS.labels(kind, unit, kota, level)
