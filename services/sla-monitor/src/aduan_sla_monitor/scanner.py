"""The deadline scanner: query due cases, ask ``deadlines`` what is due, emit it, then record it.

Per clock (respond, then resolve), pages of ``batch`` due cases by index in (deadline, _id) order, each
continued after the last one seen, so a scan never reads a case twice nor the whole store; per page the
events are sent together, their acknowledgements awaited, and the acknowledged ones recorded in one
bulk write.

Emit-then-mark is at-least-once: a crash between the broker's acknowledgement and the guarded mark
re-emits the same event on the next scan, with the same CloudEvents id (``sla:<report>:<kind>``), so
consumers drop the duplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aduan_kit import metrics
from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.logs import get_logger
from aduan_schemas.city import SkpdRegistry
from aduan_sla_monitor.deadlines import BreachKind, CaseClock, breach_event, due_breaches
from aduan_sla_monitor.store import CLOCKS, CaseStore

log = get_logger(component="scanner")


def _now() -> datetime:
    return datetime.now(UTC)


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

    async def scan_once(self) -> int:
        """One pass over every due case, page by page; returns the number of breach events emitted."""
        now = self.clock()
        emitted = 0
        for clock in CLOCKS:  # respond before resolve, so a report's two breaches stay in that order
            after: tuple[datetime, str] | None = None
            while True:
                docs = await self.store.due_page(clock, now, after, self.batch)
                if docs:
                    emitted += await self._flag(docs, clock.kind, now)
                    after = (docs[-1][clock.deadline], docs[-1]["_id"])
                if len(docs) < self.batch:
                    break
        return emitted

    async def _flag(self, docs: list[dict[str, Any]], kind: BreachKind, now: datetime) -> int:
        """Emit the page's breaches of ``kind``, await the acknowledgements, record them in one write."""
        planned: list[tuple[str, Emit]] = []
        for doc in docs:
            case = CaseClock.from_case(doc)
            if case.skpd_code is None:
                log.warning("case without a responsible unit, skipped", report_id=case.report_id)
                continue
            for breach in due_breaches(case, now):
                if breach.kind == kind:
                    event = breach_event(case, breach, now, self.registry)
                    planned.append((case.report_id, Emit(self.topic, event)))
        if not planned:
            return 0
        futures = [await self.producer.send(emit) for _, emit in planned]
        results = await asyncio.gather(*futures, return_exceptions=True)
        acked = [
            rid for (rid, _), r in zip(planned, results, strict=True) if not isinstance(r, BaseException)
        ]
        failed = len(planned) - len(acked)
        if failed:
            log.warning("breach events not acknowledged, retrying next scan", failed=failed)
        new = await self.store.mark_breaches([(rid, kind, now) for rid in acked])
        metrics.SLA_BREACHES.labels(kind).inc(len(acked))
        for rid in acked:
            log.info("deadline breached", report_id=rid, kind=kind)
        if new < len(acked):
            log.info("breaches already recorded elsewhere", duplicates=len(acked) - new)
        return len(planned)

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
