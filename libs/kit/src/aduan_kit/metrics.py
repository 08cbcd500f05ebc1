"""The stream families every consuming service exports. Each name is declared once, in the module of the
part that owns it: the kit's stream metrics here, the ingest adapters' in ``aduan_kit.ingest_metrics``,
each service's own in ``aduan_<service>.metrics``. A process exports only the modules it imports, so a
service's ``/metrics`` shows its own families and these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.metrics import MetricWrapperBase

# No ``<name>_created`` series: nothing reads them, and they would double the series of every counter.
disable_created_metrics()

# Histogram buckets of case times, in seconds; every such histogram takes its list from here. A report
# can reach us days after the citizen sent it (a backfill, an outage) and a case stays open for weeks
# (a 14-day resolve clock plus its escalations), so the lists reach 30 days: a 7-day resolve falls in a
# bucket of its own, not in +Inf.
HOUR, DAY = 3600, 86400
DAYS_BUCKETS = (DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY)
# End-to-end latencies (intake to SKPD topic, intake to case stored): seconds, then hours, then days.
END_TO_END_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, HOUR, 6 * HOUR, *DAYS_BUCKETS)
# Time to respond and to resolve a case: minutes to a month (6 h is the respond deadline: the SLA
# dashboard's "answered within 6 h" reads that bucket).
CASE_TIME_BUCKETS = (300, 900, 1800, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, *DAYS_BUCKETS)

# Stream plumbing (every consuming service).
EVENTS_CONSUMED = Counter("aduan_events_consumed_total", "Records read from Kafka", ["topic"])
EVENTS_PRODUCED = Counter("aduan_events_produced_total", "Records written to Kafka", ["topic"])
# reason, a fixed set: invalid (the record could not be parsed), rejected (the handler refused it:
# PermanentError), failed (any other error, max_attempts times). The exception and its text are in the
# dead letter itself and the log line, never in a label.
DEAD_LETTER_REASONS = ("invalid", "rejected", "failed")
EVENTS_DEAD_LETTERED = Counter(
    "aduan_events_dead_lettered_total",
    "Records sent to the dead-letter topic, by stage, source topic and reason class",
    ["stage", "topic", "reason"],
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
QUEUE_WAIT_SECONDS = Histogram(
    "aduan_queue_wait_seconds",
    "From a record's broker timestamp to the start of its handling (time spent waiting in the topic)",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
)
# Refreshed by a task of its own every few seconds (end offsets minus committed), so it keeps growing
# while a stalled handler fetches nothing.
CONSUMER_LAG = Gauge(
    "aduan_consumer_lag",
    "Records behind the end of each partition (end offset - committed)",
    ["topic", "partition"],
)
# The status classes the HTTP series are created with at start (the dashboards group by them, the 5xx
# alert reads one): a route's first error then counts in rate() and increase().
HTTP_STATUS_CLASSES = ("2xx", "4xx", "5xx")
HTTP_REQUEST_SECONDS = Histogram(
    "aduan_http_request_seconds",
    "HTTP requests served, by method, route template and status class (2xx, 4xx, 5xx)",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def preinit(family: MetricWrapperBase, label_sets: Iterable[Sequence[str]]) -> None:
    """Create the children of ``family`` for label sets known in advance, at zero: a series that exists
    before its first event lets ``increase()`` count that event."""
    for labels in label_sets:
        family.labels(*labels)
