"""The notifier's own families (with the kit's stream metrics, all its /metrics shows).

Target kind: the audience (``unit`` or ``citizen``) and the channel used (webhook, email, twitter, qlue,
sms, none): bounded sets fixed by the code."""

from __future__ import annotations

from typing import get_args

from prometheus_client import Counter, Histogram

from aduan_kit.metrics import preinit
from aduan_notifier.delivery import Audience, Channel, Outcome
from aduan_schemas.events import RoutedReport

NOTIFICATIONS = Counter(
    "aduan_notifications_total",
    "Notifications by what they are about, target kind and outcome",
    ["about", "audience", "channel", "outcome"],
)
NOTIFICATION_ATTEMPTS = Histogram(
    "aduan_notification_attempts",
    "Delivery attempts one notification took, by target kind and outcome",
    ["audience", "channel", "outcome"],
    buckets=(1, 2, 3, 4, 5, 6, 8, 10),
)
# Every unit-facing outcome of a routed report exists from the start: its first failure counts.
preinit(NOTIFICATIONS, [(RoutedReport.EVENT_TYPE, "unit", "webhook", o) for o in get_args(Outcome)])


def count(
    about: str, audience: Audience, channel: Channel, outcome: Outcome, attempts: int, n: int = 1
) -> None:
    NOTIFICATIONS.labels(about, audience, channel, outcome).inc(n)
    if attempts > 0:
        for _ in range(n):
            NOTIFICATION_ATTEMPTS.labels(audience, channel, outcome).observe(attempts)
