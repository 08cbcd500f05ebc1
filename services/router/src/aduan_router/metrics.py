"""The router's own families (with the kit's stream metrics, all its /metrics shows)."""

from __future__ import annotations

from prometheus_client import Counter

REPORTS_ROUTED = Counter("aduan_reports_routed_total", "Reports routed", ["skpd_level", "rule"])
