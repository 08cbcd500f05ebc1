"""The deadline scanner: query due cases, ask ``deadlines`` what is due, emit it, then record it.

Emit-then-mark is at-least-once: a crash between the broker's acknowledgement and the guarded mark
re-emits the same event on the next scan, with the same CloudEvents id (``sla:<report>:<kind>``), so
consumers drop the duplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aduan_kit import metrics
from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.logs import get_logger
from aduan_schemas.city import SkpdRegistry
from aduan_sla_monitor.deadlines import BreachKind, CaseClock, breach_event, due_breaches
from aduan_sla_monitor.store import CaseStore

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

    async def scan_once(self) -> int:
        """One pass; returns the number of breach events emitted."""
        now = self.clock()
        docs = await self.store.due(now, self.batch)
        planned: list[tuple[str, BreachKind, Emit]] = []
        for doc in docs:
            case = CaseClock.from_case(doc)
            if case.skpd_code is None:
                log.warning("case without a responsible unit, skipped", report_id=case.report_id)
                continue
            for breach in due_breaches(case, now):
                event = breach_event(case, breach, now, self.registry)
                planned.append((case.report_id, breach.kind, Emit(self.topic, event)))
        if planned:
            # Queue every event, then wait for the broker's acknowledgements (send_and_wait, batched).
            futures = [await self.producer.send(emit) for _, _, emit in planned]
            results = await asyncio.gather(*futures, return_exceptions=True)
            acked = [
                (rid, kind)
                for (rid, kind, _), r in zip(planned, results, strict=True)
                if not isinstance(r, BaseException)
            ]
            failed = len(planned) - len(acked)
            if failed:
                log.warning("breach events not acknowledged, retrying next scan", failed=failed)
            new = await self.store.mark_breaches([(rid, kind, now) for rid, kind in acked])
            for rid, kind in acked:
                metrics.SLA_BREACHES.labels(kind).inc()
                log.info("deadline breached", report_id=rid, kind=kind)
            if new < len(acked):
                log.info("breaches already recorded elsewhere", duplicates=len(acked) - new)
        metrics.CASES_OPEN.set(await self.store.count_open())
        return len(planned)

    async def run(self) -> None:
        while True:
            try:
                await self.scan_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a broker or database hiccup: try again next interval
                log.warning("deadline scan failed", error=repr(e))
            await asyncio.sleep(self.interval_s)
