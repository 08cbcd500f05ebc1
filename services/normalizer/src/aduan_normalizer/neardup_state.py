"""The open reports a new report may duplicate, in memory, bounded by the windows.

Each report is kept until its category can no longer be matched (``DuplicatePolicy.keep_for``: the
longest window among the categories compatible with it), counted from its ``received_at``.

Used by the offline run and the evaluation; a stream worker keeps the same content per partition (see
the normalizer README, "Near-duplicate state"). Only case roots are kept: a duplicate points to the first
report, so later copies are compared with the root, not with each other.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import datetime, timedelta

from aduan_normalizer.neardup import (
    Decision,
    DuplicatePolicy,
    Evidence,
    best_target,
    candidate_keys,
    evidence,
    lookup_keys,
)
from aduan_schemas.events import NormalizedReport
from aduan_text import Analyzer


class OpenReports:
    def __init__(self, policy: DuplicatePolicy) -> None:
        self.policy = policy
        self.retention: timedelta = policy.retention
        self._by_key: dict[str, dict[str, Evidence]] = {}
        self._by_id: dict[str, Evidence] = {}
        self._expiry: list[tuple[datetime, str]] = []  # heap: (received_at + keep_for, report_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def decide(self, ev: Evidence) -> Decision | None:
        """The target of ``ev`` among the kept reports, or None; a non-duplicate becomes a root."""
        seen: dict[str, Evidence] = {}
        for key in lookup_keys(ev):
            seen.update(self._by_key.get(key, {}))
        decision = best_target(ev, seen.values(), self.policy)
        if decision is None:
            self.add(ev)
        return decision

    def add(self, ev: Evidence) -> None:
        self._by_id[ev.report_id] = ev
        for key in candidate_keys(ev):
            self._by_key.setdefault(key, {})[ev.report_id] = ev
        heapq.heappush(self._expiry, (ev.received_at + self.policy.keep_for(ev.category), ev.report_id))

    def __contains__(self, report_id: object) -> bool:
        return report_id in self._by_id

    def get(self, report_id: str) -> Evidence | None:
        return self._by_id.get(report_id)

    def put(self, ev: Evidence) -> None:
        """Keep ``ev``, replacing what is known of the same report (its resolved flag may have changed)."""
        if ev.report_id not in self._by_id:
            self.add(ev)
            return
        self._by_id[ev.report_id] = ev
        for key in candidate_keys(ev):
            self._by_key.setdefault(key, {})[ev.report_id] = ev

    def resolve(self, report_id: str, resolved: bool = True) -> None:
        """The case was resolved: it stays known (a recurring report is told apart) but is no target.
        ``resolved=False``: it was reopened and is a target again."""
        ev = self._by_id.get(report_id)
        if ev is not None:
            self.put(replace(ev, resolved=resolved))

    def evict(self, now: datetime) -> int:
        """Forget reports whose keep-time ended before ``now``; returns how many."""
        gone = 0
        while self._expiry and self._expiry[0][0] < now:
            _, rid = heapq.heappop(self._expiry)
            ev = self._by_id.pop(rid, None)
            if ev is None:
                continue
            gone += 1
            for key in candidate_keys(ev):
                bucket = self._by_key.get(key)
                if bucket is not None:
                    bucket.pop(rid, None)
                    if not bucket:
                        del self._by_key[key]
        return gone


LATE = timedelta(days=1)  # offline: a report received up to a day before the latest still finds its target


class NearDuplicateLinker:
    """Sets ``duplicate_of`` on normalized reports that repeat an open one (offline runs: one process
    sees every report). Eviction follows the reports' own ``received_at``, less ``LATE``."""

    def __init__(self, policy: DuplicatePolicy, analyzer: Analyzer) -> None:
        self.policy = policy
        self.analyzer = analyzer
        self.open = OpenReports(policy)
        self.last: Decision | None = None  # the last report's decision (None: it became a root)

    def link(self, report: NormalizedReport) -> NormalizedReport:
        self.open.evict(report.received_at - LATE)
        self.last = self.open.decide(evidence(report, self.analyzer, self.policy))
        if self.last is None:
            return report
        return report.model_copy(update={"duplicate_of": self.last.target})
