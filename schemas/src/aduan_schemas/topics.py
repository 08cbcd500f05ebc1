"""The topic registry: the one place that names every topic, its key and its payload.

Partition counts bound how many workers of one consumer group share a topic: raw topics 6, the
normalized, routed and status streams 12 (several normalizer, router and monitor workers each), the
low-volume topics 3, the dead-letter topic 1 (read in order by people). ``ensure_topics`` creates
missing topics only: an existing topic keeps its count (raise it with the broker's tools).

Every service, topic creation and the AsyncAPI document read this. Tests isolate themselves with a
name prefix (``TopicNames(prefix=...)``); production runs with no prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aduan_schemas.events import (
    DeadLetter,
    DuplicateDecision,
    Event,
    NormalizedReport,
    Notification,
    RawEmail,
    RawOpen311,
    RawQlue,
    RawSms,
    RawTwitter,
    RerouteRequest,
    RoutedReport,
    SlaEvent,
    StatusUpdate,
)

SKPD_TOPIC_PREFIX = "aduan.skpd."
SKPD_CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int
    model: type[Event]
    description: str


RAW_MODELS: dict[str, type[Event]] = {
    "twitter": RawTwitter,
    "email": RawEmail,
    "qlue": RawQlue,
    "sms": RawSms,
    "open311": RawOpen311,
}
CHANNELS: tuple[str, ...] = tuple(RAW_MODELS)

RAW_TOPICS: dict[str, Topic] = {
    channel: Topic(
        name=f"aduan.raw.{channel}",
        key="channel_message_id",
        partitions=6,
        model=model,
        description=f"Raw reports from the {channel} channel, as received (contains reporter PII).",
    )
    for channel, model in RAW_MODELS.items()
}
NORMALIZED = Topic(
    "aduan.reports.normalized",
    "report_id",
    12,
    NormalizedReport,
    "Cleaned, classified, geocoded, deduplicated reports (reporter pseudonymised).",
)
ROUTED = Topic(
    "aduan.reports.routed",
    "report_id",
    12,
    RoutedReport,
    "Reports assigned to one SKPD, with their SLA deadlines.",
)
TRIAGE = Topic(
    "aduan.reports.triage",
    "report_id",
    3,
    RoutedReport,
    "Reports the router was too unsure to send to a unit (needs_triage): operators decide the unit.",
)
STATUS = Topic(
    "aduan.reports.status",
    "report_id",
    12,
    StatusUpdate,
    "Status updates published by SKPD systems.",
)
REROUTE = Topic(
    "aduan.reports.reroute",
    "report_id",
    3,
    RerouteRequest,
    "Reports to route again without the units that refused them (published by the SLA monitor).",
)
DUPLICATES = Topic(
    "aduan.reports.duplicates",
    "report_id",
    3,
    DuplicateDecision,
    "Operators' near-duplicate corrections: split a report off its case, merge two cases (applied by the "
    "SLA monitor).",
)
SLA_EVENTS = Topic(
    "aduan.sla.events",
    "report_id",
    3,
    SlaEvent,
    "Deadline warnings, breaches and escalation ladder steps from the SLA monitor, with their targets.",
)
NOTIFICATIONS = Topic(
    "aduan.notifications",
    "report_id",
    3,
    Notification,
    "Outcome of every notification sent (or skipped) by the notifier.",
)
DLQ = Topic(
    "aduan.dlq",
    "original key",
    1,
    DeadLetter,
    "Records a stage could not handle, with the reason; headers name topic, partition, offset, stage.",
)
SKPD_TEMPLATE = Topic(
    SKPD_TOPIC_PREFIX + "{skpd_code}",
    "report_id",
    3,
    RoutedReport,
    "The routed reports of one SKPD (one topic per unit in the SKPD registry).",
)

TOPICS: tuple[Topic, ...] = (
    *RAW_TOPICS.values(),
    NORMALIZED,
    ROUTED,
    TRIAGE,
    STATUS,
    REROUTE,
    DUPLICATES,
    SLA_EVENTS,
    NOTIFICATIONS,
    DLQ,
)


def skpd_topic_name(code: str) -> str:
    if not SKPD_CODE_PATTERN.match(code):
        raise ValueError(f"invalid SKPD code {code!r}: use lowercase letters, digits and '-'")
    return SKPD_TOPIC_PREFIX + code


@dataclass(frozen=True)
class TopicNames:
    """Concrete topic names, optionally prefixed (tests give each test its own prefix)."""

    prefix: str = ""

    def _p(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def raw(self, channel: str) -> str:
        return self._p(RAW_TOPICS[channel].name)

    @property
    def raw_all(self) -> list[str]:
        return [self.raw(c) for c in CHANNELS]

    @property
    def normalized(self) -> str:
        return self._p(NORMALIZED.name)

    @property
    def routed(self) -> str:
        return self._p(ROUTED.name)

    @property
    def triage(self) -> str:
        return self._p(TRIAGE.name)

    @property
    def status(self) -> str:
        return self._p(STATUS.name)

    @property
    def reroute(self) -> str:
        return self._p(REROUTE.name)

    @property
    def duplicates(self) -> str:
        return self._p(DUPLICATES.name)

    @property
    def sla_events(self) -> str:
        return self._p(SLA_EVENTS.name)

    @property
    def notifications(self) -> str:
        return self._p(NOTIFICATIONS.name)

    @property
    def dlq(self) -> str:
        return self._p(DLQ.name)

    def skpd(self, code: str) -> str:
        return self._p(skpd_topic_name(code))

    def all_topics(self, skpd_codes: list[str]) -> list[tuple[str, int]]:
        """Every topic to create: the fixed ones and one per SKPD, with partition counts."""
        fixed = [(self._p(t.name), t.partitions) for t in TOPICS]
        return fixed + [(self.skpd(c), SKPD_TEMPLATE.partitions) for c in skpd_codes]


def describe() -> list[dict[str, Any]]:
    """The registry as plain data (used by the AsyncAPI export and docs)."""
    return [
        {"name": t.name, "key": t.key, "partitions": t.partitions, "event_type": t.model.EVENT_TYPE}
        for t in (*TOPICS, SKPD_TEMPLATE)
    ]
