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

from typing import Any

from bench.harness import embedded_stack
from bench.load import Generator, http_child, publish_child
from bench.measure import percentile
from bench.scenarios.common import Options, tag
from bench.scenarios.offered import ms, offer_and_read

MAX_CONNS = 256


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
        got = offer_and_read(started, gen, run_tag, n, rate, opts.latency_drain_s)
    lat = got.latencies_s
    return {
        "rate": rate,
        "intake": via,
        "reports": n,
        "seen": got.seen,
        "p50_ms": ms(percentile(lat, 0.50)),
        "p90_ms": ms(percentile(lat, 0.90)),
        "p99_ms": ms(percentile(lat, 0.99)),
        "max_ms": ms(max(lat)) if lat else None,
        "drain_s": opts.latency_drain_s,
        "sender": got.sender,
    }


def run(opts: Options) -> list[dict[str, Any]]:
    return [one_rate(opts, r) for r in opts.latency_rates]
