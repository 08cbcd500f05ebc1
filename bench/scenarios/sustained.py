"""Sustained throughput: N raw Qlue events onto ``aduan.raw.qlue`` as fast as the broker takes them.

Measures, from the first publish: the time until the last report is seen on an SKPD topic (or triage; a
near-duplicate on the routed topic, linked to the first report's case), and until the store holds N
reports (cases, and near-duplicates linked to a case); throughput = N / that time. CPU and peak memory of
every process over the same window. If the pipeline has not finished ``sustained_timeout_s`` after the
first publish, the figures are what it did by then (``complete: false``), so a slow pipeline still
finishes the benchmark in bounded time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.harness import Started, embedded_stack
from bench.load import Generator, publish_child
from bench.measure import Sampler
from bench.observe import CaseCounter, TopicReader, summarise
from bench.scenarios.common import Options, start_time, tag


def _rate(n: int, t0: float, end: float | None) -> float | None:
    return round(n / (end - t0), 1) if end is not None and end > t0 else None


async def _watch(started: Started, run: str, n: int, t0: float, deadline: float) -> dict[str, Any]:
    stack = started.stack
    reader = TopicReader(stack.kafka_bootstrap, started.skpd_topics(), run, linked_topic=stack.topics.routed)
    await reader.start()
    monitors = [f"{s.url}/metrics" for s in stack.services.values() if s.spec.name == "sla-monitor"]
    cases = CaseCounter(stack.mongodb_url, stack.config.mongodb_db, monitors)
    try:
        skpd_task = asyncio.create_task(reader.read_until(n, deadline))
        cases_at, case_count = await cases.wait_for(n, deadline)
        await skpd_task
        if len(reader.seen) < n:  # not finished, or the reader behind: count by the records' own times
            started.freeze()
            await reader.catch_up()
    finally:
        await reader.stop()
        await cases.close()
    end = min(time.time(), deadline)
    last_skpd = max(reader.seen.values()) if len(reader.seen) >= n else None
    arrived = reader.arrived_by(end)
    return {
        "skpd_seen": arrived,
        "linked_seen": len(reader.linked),
        "skpd_done_s": round(last_skpd - t0, 2) if last_skpd else None,
        "skpd_per_s": _rate(n, t0, last_skpd) or _rate(arrived, t0, end),
        "cases_stored": case_count,
        "cases_done_s": round(cases_at - t0, 2) if cases_at else None,
        "cases_per_s": _rate(n, t0, cases_at) or _rate(case_count, t0, end),
        "complete": last_skpd is not None and cases_at is not None,
    }


async def _afterwards(started: Started, t0: float) -> dict[str, Any]:
    """Read after the measured window: dead letters, and when each stage wrote its last output (and
    whether it wrote any report twice), to see which stage held the others back."""
    stack = started.stack
    started.freeze()  # measuring is over (done already when the run did not finish)
    stages = {}
    for name, topic in (("normalized", stack.topics.normalized), ("routed", stack.topics.routed)):
        st = await summarise(stack.kafka_bootstrap, topic)
        stages[name] = {
            "records": st.records,
            "reports": st.keys,
            "last_s": round(st.last - t0, 2) if st.last else None,
        }
    return {
        "dead_letters": (await summarise(stack.kafka_bootstrap, stack.topics.dlq)).records,
        "stages": stages,
    }


def run(opts: Options, workers: dict[str, int] | None = None) -> dict[str, Any]:
    n = opts.reports
    with embedded_stack(opts.boundaries, workers) as started:
        stack = started.stack
        run_tag = tag("s")
        gen = Generator(
            publish_child, stack.kafka_bootstrap, stack.topics.raw("qlue"), opts.boundaries, run_tag, n, None
        ).start()
        t0 = start_time()
        with Sampler(started.processes, interval_s=1.0) as sampler:
            gen.go(t0)
            watched = asyncio.run(_watch(started, run_tag, n, t0, t0 + opts.sustained_timeout_s))
        watched.update(asyncio.run(_afterwards(started, t0)))
        published = gen.result(timeout_s=60) or {}
        gen.stop()
    return {
        "reports": n,
        "workers": workers or {},
        "record_bytes": gen.info.get("bytes_per_record"),
        "publish_per_s": published.get("rate_per_s"),
        "publish_s": round(published["all_acked"] - t0, 2) if "all_acked" in published else None,
        "generator_cpu_s": published.get("generator_cpu_s"),
        **watched,
        "timeout_s": opts.sustained_timeout_s,
        "stack_startup_s": round(started.startup_s, 1),
        "processes": sampler.table(),
    }
