"""The deadline scanner: find cases with an alarm due, emit their events, record them.

One replica scans at a time: a pass starts only when this scanner holds the ``scanner`` lease (one
document in ``leases``, taken with a guarded upsert, see ``CaseStore.take_lease``) and renews it before
each page; a replica that loses it stops its pass. So two replicas never send the same alarm. A replica
that dies leaves the lease to expire (``lease``), then another takes over.

Per pass, pages of ``batch`` cases whose ``next_alarm_at`` has come, by index in (next_alarm_at, _id)
order, each continued after the last one seen, so a pass never reads a case twice nor the whole store.
Per page, ``deadlines.plan`` says for each case what is due and when its next alarm falls; the events
are sent together and their acknowledgements awaited; then one bulk write records the acknowledged
alarms and each case's next alarm. Emit-then-record is at-least-once: a crash between the two re-sends
the same events (same CloudEvents ids, so consumers drop the duplicate). A case with an event not
acknowledged keeps its ``next_alarm_at`` and is retried on the next pass.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.logs import get_logger
from aduan_schemas.city import SkpdRegistry, SlaPolicies, SlaPolicy
from aduan_sla import Policy, policy_named
from aduan_sla_monitor import metrics
from aduan_sla_monitor.deadlines import Alarm, CaseClock, alarm_event, first_alarm, late_breaches, plan
from aduan_sla_monitor.escalation import Rung, ladder
from aduan_sla_monitor.store import NEXT_ALARM, CaseStore, Replan

log = get_logger(component="scanner")
SCANNER_LEASE = "scanner"


def _now() -> datetime:
    return datetime.now(UTC)


def _builtin_sla() -> SlaPolicies:
    """6 hours / 7 days, no ladders (a breach escalates to the registry parent): for tools and benches
    that give no city configuration."""
    standard = SlaPolicy(respond_within=timedelta(hours=6), resolve_within=timedelta(days=7))
    return SlaPolicies(version="builtin", default="standard", policies={"standard": standard})


@dataclass(frozen=True)
class AlarmRules:
    """A case's SLA policy and escalation ladder, from the city's configuration."""

    sla: SlaPolicies
    registry: SkpdRegistry

    def of(self, case: CaseClock, unit: str) -> tuple[Policy, list[Rung]]:
        return policy_named(self.sla, case.policy), ladder(unit, self.sla, self.registry)

    def first_alarm(self, doc: Mapping[str, Any]) -> datetime | None:
        """When a new case document's first alarm falls; None for a case without a unit (nothing to
        announce until it is routed) or without deadlines. The case store writes it as
        ``next_alarm_at`` with the case, so a new case costs the scanner nothing until then."""
        case = CaseClock.from_case(doc)
        if case.skpd_code is None:
            return None
        return first_alarm(case, *self.of(case, case.skpd_code))


@dataclass
class Scanner:
    store: CaseStore
    producer: EventProducer
    registry: SkpdRegistry
    topic: str
    interval_s: float
    batch: int = 500
    clock: Callable[[], datetime] = _now
    count_interval_s: float = 60.0
    sla: SlaPolicies = field(default_factory=_builtin_sla)
    lease: timedelta = timedelta(minutes=2)
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)  # this replica, in the lease
    _units_seen: set[str] = field(default_factory=set)  # units whose open-case series exist

    async def scan_once(self) -> int:
        """One pass over every case with an alarm due, page by page; returns the events emitted.
        Sends nothing unless this scanner holds the lease."""
        now = self.clock()
        emitted = 0
        after: tuple[datetime, str] | None = None
        while True:
            if not await self._hold_lease():
                log.debug("another replica holds the scanner lease")
                return emitted
            docs = await self.store.alarm_page(now, after, self.batch)
            if docs:
                emitted += await self._page(docs, now)
                after = (docs[-1][NEXT_ALARM], docs[-1]["_id"])
            if len(docs) < self.batch:
                return emitted

    async def _hold_lease(self) -> bool:
        now = self.clock()
        return await self.store.take_lease(SCANNER_LEASE, self.holder, now, now + self.lease)

    async def _page(self, docs: list[dict[str, Any]], now: datetime) -> int:
        replans: list[Replan] = []
        units: list[str | None] = [doc.get("skpd_code") for doc in docs]
        sends: list[tuple[int, Alarm, Emit]] = []
        skipped: list[list[Alarm]] = []
        rules = AlarmRules(self.sla, self.registry)
        for doc in docs:
            case = CaseClock.from_case(doc)
            if case.skpd_code is None:
                # Not routed yet (a status update came first): the routed report schedules it.
                replans.append(Replan(case.report_id, doc[NEXT_ALARM], None))
                skipped.append([])
                continue
            policy, rungs = rules.of(case, case.skpd_code)
            p = plan(case, policy, rungs, now)
            replans.append(Replan(case.report_id, doc[NEXT_ALARM], p.next_at))
            skipped.append(p.skipped)
            for alarm in p.due:
                sends.append((len(replans) - 1, alarm, Emit(self.topic, alarm_event(case, alarm, now))))
            # An answer after the deadline that the status path could not judge (it came before the
            # routed report, so the case had no deadlines yet): recorded here, marked late-detected.
            for alarm in late_breaches(case, policy, rungs):
                event = alarm_event(case, alarm, now, late=True)
                sends.append((len(replans) - 1, alarm, Emit(self.topic, event)))
        futures = [await self.producer.send(emit) for _, _, emit in sends]
        results = await asyncio.gather(*futures, return_exceptions=True)
        acked: list[list[Alarm]] = [[] for _ in replans]
        failed: set[int] = set()
        for (i, alarm, _), r in zip(sends, results, strict=True):
            if isinstance(r, BaseException):
                failed.add(i)
            else:
                acked[i].append(alarm)
        if failed:
            log.warning("deadline events not acknowledged, retried next pass", cases=len(failed))
        out = []
        for i, r in enumerate(replans):
            alarms = acked[i]
            # A case with an event not acknowledged keeps its next_alarm_at: looked at again next pass.
            next_at = r.seen if i in failed else r.next_at
            record = {a.key: now for a in [*alarms, *skipped[i]]}
            breaches = {a.key: a.at for a in alarms if a.is_breach}
            out.append(Replan(r.report_id, r.seen, next_at, record, breaches))
            for a in alarms:
                metrics.count_alarm(a.kind, units[i], self.registry)
                to = a.rung.target if a.rung else None
                log.info("deadline alarm", report_id=r.report_id, kind=a.kind, step=a.step, to=to)
        await self.store.replan(out)
        return sum(len(a) for a in acked)

    async def count_open(self) -> None:
        """Refresh ``CASES_OPEN`` by unit and SLA state. A count touches every open case, so it runs in
        its own loop every ``count_interval_s`` and never delays a deadline scan."""
        counts = await self.store.open_by_unit(self.clock())
        metrics.set_open_cases(counts, self.registry, self._units_seen)

    async def run(self) -> None:
        counter = asyncio.create_task(_every(self.count_interval_s, self.count_open, "open-case count"))
        try:
            await _every(self.interval_s, self.scan_once, "deadline scan")
        finally:
            counter.cancel()


async def _every(interval_s: float, job: Callable[[], Awaitable[Any]], what: str) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a broker or database hiccup: try again next interval
            log.warning(f"{what} failed", error=repr(e))
        await asyncio.sleep(interval_s)
