"""The ingest adapters' families (every adapter runs ``aduan_kit.ingest``; no other service imports it).

Outcomes of ``INGEST_REQUESTS``: accepted, duplicate, part (one part of a longer message held), skipped
(a polled message that is not a report), and rejections by reason: unauthorized, too_large, invalid,
outbox_full, unavailable (direct publishing only)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Created at zero when an adapter starts, so the first report of each outcome counts in increase().
COUNTED_OUTCOMES = ("accepted", "duplicate", "unauthorized", "invalid", "too_large", "outbox_full")

INGEST_REQUESTS = Counter(
    "aduan_ingest_requests_total", "Reports offered to an ingest adapter", ["channel", "outcome"]
)
INGEST_PUBLISHED = Counter(
    "aduan_ingest_published_total",
    "Accepted reports the broker acknowledged (from the outbox, or published directly by a poller)",
    ["channel"],
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
