"""The router's own families (with the kit's stream metrics, all its /metrics shows)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from aduan_kit.metrics import END_TO_END_BUCKETS

REPORTS_ROUTED = Counter("aduan_reports_routed_total", "Reports routed", ["skpd_level", "rule"])
INTAKE_TO_SKPD_SECONDS = Histogram(
    "aduan_intake_to_skpd_seconds",
    "From the channel's receipt of a report (its received_at) to its routing onto the unit's SKPD topic",
    ["skpd_level"],
    buckets=END_TO_END_BUCKETS,
)
