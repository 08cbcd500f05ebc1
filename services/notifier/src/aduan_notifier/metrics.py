"""The notifier's own families (with the kit's stream metrics, all its /metrics shows)."""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS = Counter("aduan_notifications_total", "Notifications by outcome", ["about", "outcome"])
