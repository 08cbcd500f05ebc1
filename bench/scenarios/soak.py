"""Memory over a long run: signed webhooks at a moderate fixed rate (open loop) for ``soak_duration_s``,
resident memory of every process sampled every 10 s.

Reports, per process, RSS at the start, end and maximum and the least-squares slope in MiB per minute
(flat: a slope near 0 once warm; a leak: a steady positive slope), and the latency intake -> SKPD topic
over the whole run, so a soak that falls behind shows it.
"""

from __future__ import annotations

from typing import Any

from bench.harness import embedded_stack
from bench.load import Generator, http_child
from bench.measure import Sampler, percentile
from bench.scenarios.common import Options, tag
from bench.scenarios.offered import ms, offer_and_read

SAMPLE_S = 10.0
DRAIN_S = 30.0


def run(opts: Options) -> dict[str, Any]:
    rate = opts.soak_rate
    n = int(rate * opts.soak_duration_s)
    # Requests are signed when built, before the run: the signature window must outlast the run.
    tolerance = {"ADUAN_INGEST_QLUE_SIGNATURE_TOLERANCE_S": str(int(min(3_600, opts.soak_duration_s + 300)))}
    workers = {"ingest-qlue": max(1, opts.intake_workers)}
    with embedded_stack(opts.boundaries, workers, extra_env=tolerance) as started:
        stack = started.stack
        run_tag = tag("k")
        secret = stack.secrets()["ADUAN_INGEST_QLUE_WEBHOOK_SECRET"]
        ports = [s.port for s in stack.services.values() if s.spec.name == "ingest-qlue"]
        gen = Generator(http_child, ports, secret, opts.boundaries, run_tag, n, "open", rate, 256, 0).start()
        with Sampler(started.processes, interval_s=SAMPLE_S) as sampler:
            got = offer_and_read(started, gen, run_tag, n, rate, DRAIN_S, catch_up=False)
    return {
        "rate": rate,
        "duration_s": opts.soak_duration_s,
        "reports": n,
        "seen": got.seen,
        "p50_ms": ms(percentile(got.latencies_s, 0.5)),
        "p99_ms": ms(percentile(got.latencies_s, 0.99)),
        "sender": got.sender,
        "memory": sampler.memory_trend(),
    }
