"""The one place that declares every Prometheus metric. Dashboards and alerts use only these names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Stream plumbing (every consuming service).
EVENTS_CONSUMED = Counter("aduan_events_consumed_total", "Records read from Kafka", ["topic"])
EVENTS_PRODUCED = Counter("aduan_events_produced_total", "Records written to Kafka", ["topic"])
EVENTS_DEAD_LETTERED = Counter(
    "aduan_events_dead_lettered_total", "Records sent to the dead-letter topic", ["stage", "error"]
)
HANDLER_RETRIES = Counter(
    "aduan_handler_retries_total", "Retries of a record after a transient failure", ["stage"]
)
HANDLE_SECONDS = Histogram(
    "aduan_handle_seconds",
    "Time to handle one fetched batch, until its outputs are acknowledged (the commit follows)",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_RECORDS = Histogram(
    "aduan_batch_records",
    "Records of one partition in one fetched batch",
    ["stage"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)
CONSUMER_LAG = Gauge("aduan_consumer_lag", "Records behind the end of each partition", ["topic", "partition"])

# Ingest. Outcomes: accepted, duplicate, part (one part of a longer message held), and rejections by
# reason: unauthorized, too_large, invalid, outbox_full, unavailable (direct publishing only).
INGEST_REQUESTS = Counter(
    "aduan_ingest_requests_total", "Reports offered to an ingest adapter", ["channel", "outcome"]
)
INGEST_PUBLISHED = Counter(
    "aduan_ingest_published_total", "Accepted reports the broker acknowledged (from the outbox)", ["channel"]
)
INGEST_OUTBOX_RECORDS = Gauge(
    "aduan_ingest_outbox_records", "Accepted reports (and held message parts) not yet published", ["channel"]
)
INGEST_OUTBOX_BYTES = Gauge("aduan_ingest_outbox_bytes", "Bytes held in the outbox", ["channel"])
INGEST_OUTBOX_AGE = Gauge(
    "aduan_ingest_outbox_oldest_age_seconds",
    "Age of the oldest unpublished report (0 when empty)",
    ["channel"],
)
INGEST_PUBLISH_SECONDS = Histogram(
    "aduan_ingest_publish_seconds",
    "From acceptance (202) to the broker's acknowledgement",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)

# Normalizer.
REPORTS_NORMALIZED = Counter(
    "aduan_reports_normalized_total", "Reports normalized", ["category", "geocode_method"]
)
DUPLICATES_DROPPED = Counter(
    "aduan_duplicates_dropped_total", "Re-deliveries of a channel message that were dropped", ["channel"]
)
GEOCODING_GPS_ENABLED = Gauge(
    "aduan_geocoding_gps_enabled", "1 when the normalizer loaded kelurahan boundaries (GPS geocoding on)", []
)

# Router.
REPORTS_ROUTED = Counter("aduan_reports_routed_total", "Reports routed", ["skpd_level", "rule"])

# SLA monitor.
CASES_STORED = Counter("aduan_cases_stored_total", "Routed reports stored as cases (new ones)", [])
STATUS_UPDATES = Counter("aduan_status_updates_total", "Status updates applied to cases", ["status"])
SLA_BREACHES = Counter("aduan_sla_breaches_total", "Deadline breaches emitted", ["kind"])
CASES_OPEN = Gauge("aduan_cases_open", "Cases not yet resolved or rejected", [])

# Notifier.
NOTIFICATIONS = Counter("aduan_notifications_total", "Notifications by outcome", ["about", "outcome"])
