"""The SLA monitor's own families (with the kit's stream metrics, all its /metrics shows)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CASES_STORED = Counter("aduan_cases_stored_total", "Routed reports stored as cases (new ones)", [])
STATUS_UPDATES = Counter("aduan_status_updates_total", "Status updates applied to cases", ["status"])
SLA_BREACHES = Counter("aduan_sla_breaches_total", "Deadline breaches emitted", ["kind"])
CASES_OPEN = Gauge("aduan_cases_open", "Cases not yet resolved or rejected", [])
