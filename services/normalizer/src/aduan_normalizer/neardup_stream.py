"""Near-duplicate linking in the stream: the offline rules (``neardup``, ``OpenReports``) over the roots
kept in MongoDB, one batch at a time.

Each worker keeps every unexpired root in memory (an ``OpenReports``, the same as offline). The first
batch reads them all from the store; every later batch first reads what other workers wrote since the
previous batch (new roots, resolutions: the ``updated_at`` index, less ``SYNC_MARGIN`` for writes still
in flight then), so a root another worker made before a rebalance or a moment ago is a target here. Then
the reports are decided in order (a report of the batch can be the root of a later one in the same
batch), and the new roots are written with one ``insert_many``. The service calls this before it returns the
batch, and the kit commits offsets only after the handler returned, so a root is in the database before
the offset of its raw event is committed.

Why in memory: a batch that spans the city (a backlog, a flood day) would otherwise read every root of
every kelurahan it touches, per batch: the cost of each batch grew with all the roots in the store
(``bench/README.md``). Now a batch reads only the roots other workers wrote meanwhile (none with one
worker), and decisions cost only their scoring.

Case resolutions reach the store from ``aduan.reports.status`` (``status_effects``): a resolved or
rejected case stops being a target, a reopened one is a target again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aduan_normalizer.neardup import Decision, DuplicatePolicy, evidence, partition_key
from aduan_normalizer.neardup_state import OpenReports
from aduan_normalizer.neardup_store import OpenRootStore
from aduan_schemas.events import NormalizedReport, ReasonCode, ReportStatus, StatusUpdate
from aduan_text import Analyzer

# How far back before its last read a worker reads other workers' writes again: a bulk write stamped
# before that read may have become visible only after it. A write slower than this is missed by the
# other workers for good: its copies are then not merged with it, one extra case, never a wrong merge.
SYNC_MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class Linked:
    report: NormalizedReport
    decision: Decision | None  # None: a root (or not comparable: no kecamatan known)


class StreamLinker:
    def __init__(
        self,
        store: OpenRootStore,
        policy: DuplicatePolicy,
        analyzer: Analyzer,
        margin: timedelta = SYNC_MARGIN,
    ) -> None:
        self.store = store
        self.policy = policy
        self.analyzer = analyzer
        self.margin = margin
        self.open = OpenReports(policy)
        self.synced: datetime | None = None  # when the last read from the store began

    async def sync(self, now: datetime) -> int:
        """Bring the roots in memory up to date with the store; returns how many documents were read."""
        began = datetime.now(UTC)
        if self.synced is None:
            found = await self.store.unexpired(now)
        else:
            found = await self.store.changed_since(self.synced - self.margin, now)
        for ev in found:
            self.open.put(ev)
        self.open.evict(now)
        self.synced = began
        return len(found)

    async def link(self, reports: list[NormalizedReport], now: datetime) -> list[Linked]:
        """``reports`` with ``duplicate_of`` set where they repeat an open root; new roots saved."""
        await self.sync(now)
        out = [Linked(r, None) for r in reports]
        roots = []
        for i, report in enumerate(reports):
            part = partition_key(report)
            if part is None:  # no kecamatan known: never merged (as offline)
                continue
            ev = evidence(report, self.analyzer, self.policy)
            known = self.open.get(ev.report_id)
            if known is not None:
                # A replayed root stays a root (never its own duplicate). Saved again, as it is known
                # here: idempotent, and it covers a batch retried after its save failed.
                roots.append((known, part))
                continue
            decision = self.open.decide(ev)
            if decision is None:
                roots.append((ev, part))
            else:
                out[i] = Linked(report.model_copy(update={"duplicate_of": decision.target}), decision)
        await self.store.save(roots)
        return out

    async def apply_statuses(self, updates: Iterable[StatusUpdate]) -> None:
        """Resolutions and reopenings, in the store (for every worker) and in this worker's memory."""
        effects = status_effects(updates)
        for resolved in (True, False):
            ids = [r for r, done in effects.items() if done is resolved]
            await self.store.set_resolved(ids, resolved)
            for rid in ids:
                self.open.resolve(rid, resolved)


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
