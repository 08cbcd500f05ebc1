"""The open-loop run the latency and soak scenarios share: release a generator that offers ``n`` reports
at ``rate``, read the SKPD topics until every report arrived or ``drain_s`` after the last was due, and
give each report's latency (from when it was due to its record on an SKPD topic)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from bench.harness import Started
from bench.load import Generator
from bench.observe import TopicReader
from bench.scenarios.common import start_time

SENDER_RESULT_S = 120.0


@dataclass(frozen=True)
class Offered:
    seen: int
    latencies_s: list[float]  # per report in sequence order; infinite when it never arrived
    sender: dict[str, Any]


def ms(seconds: float) -> float | None:
    """Milliseconds for the report; None for a report that never arrived (or no reports)."""
    return None if math.isinf(seconds) or math.isnan(seconds) else round(1000 * seconds, 1)


def offer_and_read(
    started: Started, gen: Generator, run_tag: str, n: int, rate: float, drain_s: float, catch_up: bool = True
) -> Offered:
    """``gen`` must be started (its load built); this releases it and reads until done. With
    ``catch_up``, a run not complete by then is stopped and the reader reads what the topics hold,
    so a report written in time but not yet read still counts with its own time."""
    t0 = start_time()
    end = t0 + n / rate + drain_s

    async def watch() -> TopicReader:
        stack = started.stack
        reader = TopicReader(
            stack.kafka_bootstrap, started.skpd_topics(), run_tag, linked_topic=stack.topics.routed
        )
        await reader.start()
        try:
            gen.go(t0)
            await reader.read_until(n, end)
            if catch_up and len(reader.seen) < n:
                started.freeze()
                await reader.catch_up()
        finally:
            await reader.stop()
        return reader

    reader = asyncio.run(watch())
    sent = gen.result(timeout_s=SENDER_RESULT_S) or {}
    gen.stop()
    arrived = {i: t for i, t in reader.seen.items() if t <= end}
    lat = [arrived[i] - (t0 + i / rate) if i in arrived else math.inf for i in range(n)]
    return Offered(len(arrived), lat, sent)
