"""Near-duplicate linking in the stream: the offline rules (``neardup``, ``OpenReports``) over the roots
kept in MongoDB, one batch at a time.

Per batch: one query loads the unexpired roots stored under any lookup key of the batch's reports, the
reports are decided in order with the same ``OpenReports`` the offline run uses (a report of the batch
can be the root of a later one in the same batch), and the new roots are written with one bulk write.
The service calls this before it returns the batch, and the kit commits offsets only after the handler
returned, so a root is in the database before the offset of its raw event is committed.

Case resolutions reach the store from ``aduan.reports.status`` (``status_effects``): a resolved or
rejected case stops being a target, a reopened one is a target again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from aduan_normalizer.neardup import Decision, DuplicatePolicy, evidence, lookup_keys, partition_key
from aduan_normalizer.neardup_state import OpenReports
from aduan_normalizer.neardup_store import OpenRootStore
from aduan_schemas.events import NormalizedReport, ReasonCode, ReportStatus, StatusUpdate
from aduan_text import Analyzer


@dataclass(frozen=True)
class Linked:
    report: NormalizedReport
    decision: Decision | None  # None: a root (or not comparable: no kecamatan known)


class StreamLinker:
    def __init__(self, store: OpenRootStore, policy: DuplicatePolicy, analyzer: Analyzer) -> None:
        self.store = store
        self.policy = policy
        self.analyzer = analyzer

    async def link(self, reports: list[NormalizedReport], now: datetime) -> list[Linked]:
        """``reports`` with ``duplicate_of`` set where they repeat an open root; new roots saved."""
        comparable = []
        for i, report in enumerate(reports):
            part = partition_key(report)
            if part is not None:  # no kecamatan known: never merged (as offline)
                comparable.append((i, evidence(report, self.analyzer, self.policy), part))
        keys = {k for _, ev, _ in comparable for k in lookup_keys(ev)}
        loaded = await self.store.candidates(keys, now)
        stored = {ev.report_id for ev in loaded}
        state = OpenReports(self.policy)
        for ev in loaded:
            state.add(ev)
        out = [Linked(r, None) for r in reports]
        roots = []
        for i, ev, part in comparable:
            if ev.report_id in stored:  # a replayed root stays a root (never its own duplicate)
                continue
            decision = state.decide(ev)
            if decision is None:
                roots.append((ev, part))
            else:
                out[i] = Linked(reports[i].model_copy(update={"duplicate_of": decision.target}), decision)
        await self.store.save(roots)
        return out


def status_effects(updates: Iterable[StatusUpdate]) -> dict[str, bool]:
    """report id -> resolved (True) or open again (False), the last update of each report winning.

    A refusal with ``not_our_authority`` is not an end (the report goes to the next unit); a
    reassignment or progress changes nothing here."""
    effects: dict[str, bool] = {}
    for u in updates:
        if u.status == ReportStatus.RESOLVED or (
            u.status == ReportStatus.REJECTED and u.reason_code != ReasonCode.NOT_OUR_AUTHORITY
        ):
            effects[u.report_id] = True
        elif u.status == ReportStatus.REOPENED:
            effects[u.report_id] = False
    return effects


async def apply_statuses(store: OpenRootStore, updates: Iterable[StatusUpdate]) -> None:
    effects = status_effects(updates)
    await store.set_resolved([r for r, done in effects.items() if done], True)
    await store.set_resolved([r for r, done in effects.items() if not done], False)
