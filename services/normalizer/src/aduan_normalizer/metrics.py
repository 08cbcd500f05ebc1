"""The normalizer's own families (with the kit's stream metrics, all its /metrics shows)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REPORTS_NORMALIZED = Counter(
    "aduan_reports_normalized_total", "Reports normalized", ["category", "geocode_method"]
)
DUPLICATES_DROPPED = Counter(
    "aduan_duplicates_dropped_total", "Re-deliveries of a channel message that were dropped", ["channel"]
)
GEOCODING_GPS_ENABLED = Gauge(
    "aduan_geocoding_gps_enabled", "1 when the normalizer loaded kelurahan boundaries (GPS geocoding on)", []
)
