"""Latency intake -> SKPD topic at fixed offered rates, open loop; a fresh stack for each rate.

Report ``i`` is due at ``t0 + i / rate`` whatever happened to earlier ones; its latency is the time
from when it was due to when its routed record reached an SKPD topic (see ``bench.observe``), so a
backlog anywhere (the generator included) shows as latency instead of a slower offered rate. Rates up to
``latency_http_max`` go through HTTP (signed webhooks spread over the ``intake_workers`` ingest-qlue
processes, as in the intake scenario); higher ones publish raw events
straight onto ``aduan.raw.qlue`` (HTTP intake on this machine cannot offer them; the intake figure
says which). Reports not on an SKPD topic ``latency_drain_s`` after the last was due count as
infinitely late, so they show in the high percentiles instead of vanishing from them.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from bench.harness import embedded_stack
from bench.load import Generator, http_child, publish_child
from bench.measure import percentile
from bench.observe import TopicReader
from bench.scenarios.common import Options, start_time, tag

MAX_CONNS = 256


def _ms(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else round(1000 * x, 1)


def one_rate(opts: Options, rate: int) -> dict[str, Any]:
    n = int(rate * opts.latency_duration_s)
    via = "http" if rate <= opts.latency_http_max else "raw topic"
    with embedded_stack(opts.boundaries) as started:
        stack = started.stack
        run_tag = tag("l")
        if via == "http":
            secret = stack.secrets()["ADUAN_INGEST_QLUE_WEBHOOK_SECRET"]
            port = stack.services["ingest-qlue"].port
            gen = Generator(
                http_child, [port], secret, opts.boundaries, run_tag, n, "open", rate, MAX_CONNS, 0
            )
        else:
            gen = Generator(
                publish_child,
                stack.kafka_bootstrap,
                stack.topics.raw("qlue"),
                opts.boundaries,
                run_tag,
                n,
                rate,
            )
        gen.start()
        t0 = start_time()

        async def watch() -> TopicReader:
            reader = TopicReader(stack.kafka_bootstrap, started.skpd_topics(), run_tag)
            await reader.start()
            try:
                gen.go(t0)
                await reader.read_until(n, t0 + opts.latency_duration_s + opts.latency_drain_s)
            finally:
                await reader.stop()
            return reader

        reader = asyncio.run(watch())
        sent = gen.result(timeout_s=120) or {}
        gen.stop()
    lat = [reader.seen[i] - (t0 + i / rate) if i in reader.seen else math.inf for i in range(n)]
    return {
        "rate": rate,
        "intake": via,
        "reports": n,
        "seen": len(reader.seen),
        "p50_ms": _ms(percentile(lat, 0.50)),
        "p90_ms": _ms(percentile(lat, 0.90)),
        "p99_ms": _ms(percentile(lat, 0.99)),
        "max_ms": _ms(max(lat)) if lat else None,
        "drain_s": opts.latency_drain_s,
        "sender": sent,
    }


def run(opts: Options) -> list[dict[str, Any]]:
    return [one_rate(opts, r) for r in opts.latency_rates]
