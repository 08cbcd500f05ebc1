"""The deadline scanner: find cases with an alarm due, claim them, emit their events, record them.

Per pass, pages of ``batch`` cases whose ``next_alarm_at`` has come, by index in (next_alarm_at, _id)
order, each continued after the last one seen, so a pass never reads a case twice nor the whole store.
Per page, ``deadlines.plan`` says for each case what is due and when its next alarm falls; then:

1. one bulk write: a case with nothing to send gets its next alarm time; a case with something to
   send is claimed (``next_alarm_at`` moved to the end of a lease, guarded by the value read: of two
   replicas that read the same case, only one write matches), then one read learns which claims won;
2. the claimed cases' events are sent together and their acknowledgements awaited;
3. one bulk write records the acknowledged alarms and releases each claim with the case's next alarm.

So two replicas never send the same alarm. A replica that dies holding a claim leaves the case due
again at the lease's end: another replica then sends what was not recorded (at-least-once; the same
CloudEvents id, so consumers drop a duplicate). An event not acknowledged is retried after the lease.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aduan_kit import metrics
from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.logs import get_logger
from aduan_schemas.city import SkpdRegistry, SlaPolicies, SlaPolicy
from aduan_sla import policy_named
from aduan_sla_monitor.deadlines import CaseClock, alarm_event, plan
from aduan_sla_monitor.escalation import ladder
from aduan_sla_monitor.store import NEXT_ALARM, CaseStore, Replan, Sent

log = get_logger(component="scanner")


def _now() -> datetime:
    return datetime.now(UTC)


def _builtin_sla() -> SlaPolicies:
    """6 hours / 7 days, no ladders (a breach escalates to the registry parent): for tools and benches
    that give no city configuration."""
    standard = SlaPolicy(respond_within=timedelta(hours=6), resolve_within=timedelta(days=7))
    return SlaPolicies(version="builtin", default="standard", policies={"standard": standard})


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

    async def scan_once(self) -> int:
        """One pass over every case with an alarm due, page by page; returns the events emitted."""
        now = self.clock()
        emitted = 0
        after: tuple[datetime, str] | None = None
        while True:
            docs = await self.store.alarm_page(now, after, self.batch)
            if docs:
                emitted += await self._page(docs, now)
                after = (docs[-1][NEXT_ALARM], docs[-1]["_id"])
            if len(docs) < self.batch:
                break
        return emitted

    async def _page(self, docs: list[dict[str, Any]], now: datetime) -> int:
        token = uuid.uuid4().hex
        lease_until = now + self.lease
        replans: list[Replan] = []
        claims: list[tuple[str, datetime]] = []
        planned: dict[str, tuple[CaseClock, Any]] = {}
        for doc in docs:
            case = CaseClock.from_case(doc)
            if case.skpd_code is None:
                # Not routed yet (a status update came first): the routed report schedules it.
                replans.append(Replan(case.report_id, doc[NEXT_ALARM], None, {}))
                continue
            policy = policy_named(self.sla, case.policy)
            p = plan(case, policy, ladder(case.skpd_code, self.sla, self.registry), now)
            if p.due:
                claims.append((case.report_id, doc[NEXT_ALARM]))
                planned[case.report_id] = (case, p)
            else:
                replans.append(
                    Replan(case.report_id, doc[NEXT_ALARM], p.next_at, {a.key: now for a in p.skipped})
                )
        won = await self.store.replan_and_claim(replans, claims, lease_until, token)
        if len(won) < len(claims):
            log.info("cases claimed by another replica", skipped=len(claims) - len(won))
        sends: list[tuple[str, Any, Emit]] = []
        for rid in won:
            case, p = planned[rid]
            for alarm in p.due:
                sends.append((rid, alarm, Emit(self.topic, alarm_event(case, alarm, now))))
        if not sends:
            return 0
        futures = [await self.producer.send(emit) for _, _, emit in sends]
        results = await asyncio.gather(*futures, return_exceptions=True)
        acked: dict[str, list[Any]] = {rid: [] for rid in won}
        failed: set[str] = set()
        for (rid, alarm, _), r in zip(sends, results, strict=True):
            if isinstance(r, BaseException):
                failed.add(rid)
            else:
                acked[rid].append(alarm)
        if failed:
            log.warning("deadline events not acknowledged, retried after the lease", cases=len(failed))
        sent = []
        for rid, alarms in acked.items():
            _, p = planned[rid]
            record = {a.key: now for a in alarms} | {a.key: now for a in p.skipped}
            breaches = {a.key: a.at for a in alarms if a.is_breach}
            # A case with an event not acknowledged keeps its claim until the lease ends, then is retried.
            next_at = lease_until if rid in failed else p.next_at
            sent.append(Sent(rid, record, breaches, next_at, lease_until))
            for a in alarms:
                if a.is_breach:
                    metrics.SLA_BREACHES.labels(a.kind).inc()
                log.info(
                    "deadline alarm", report_id=rid, kind=a.kind, step=a.step, to=a.rung and a.rung.target
                )
        await self.store.record_sent(sent, token)
        return sum(len(a) for a in acked.values())

    async def count_open(self) -> None:
        """Refresh ``CASES_OPEN``. A count touches every open case, so it runs in its own loop every
        ``count_interval_s`` and never delays a deadline scan."""
        metrics.CASES_OPEN.set(await self.store.count_open())

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
