"""HTTP intake capacity: signed Qlue webhooks to ingest-qlue, accepted (202) per second.

One stack with ``intake_workers`` ingest-qlue processes (each a uvicorn server on its own port, as the
service is deployed: one process per container, several replicas behind a load balancer; here the
generator spreads its connections over the ports). The stages behind the raw topic are stopped first,
so the figure is the intake's own: HTTP parsing, signature check, validation, publish, broker
acknowledgement. Closed loop: ``intake_conns`` keep-alive connections each send back to back for
``intake_duration_s`` (the capacity; the latency scenario offers fixed rates instead). Measured with
one process, then with all of them. The generator runs in a process of its own and reports its CPU: near
100 % of a core would mean it, not the intake, was the limit.
"""

from __future__ import annotations

from typing import Any

from bench.harness import embedded_stack
from bench.load import Generator, http_child
from bench.measure import Sampler
from bench.scenarios.common import Options, start_time, tag

MAX_RATE_GUESS = 6_000  # requests built per second of the run (more than the intake can take here)


def run(opts: Options) -> list[dict[str, Any]]:
    workers = max(1, opts.intake_workers)
    out = []
    with embedded_stack(opts.boundaries, {"ingest-qlue": workers}) as started:
        stack = started.stack
        for svc in stack.services.values():
            if not svc.spec.name.startswith("ingest-"):
                svc.process.stop()
        secret = stack.secrets()["ADUAN_INGEST_QLUE_WEBHOOK_SECRET"]
        ports = [s.port for s in stack.services.values() if s.spec.name == "ingest-qlue"]
        for used in sorted({1, workers}):
            n = int(MAX_RATE_GUESS * opts.intake_duration_s)
            gen = Generator(
                http_child,
                ports[:used],
                secret,
                opts.boundaries,
                tag("i"),
                n,
                "closed",
                0,
                opts.intake_conns,
                opts.intake_duration_s,
            ).start()
            with Sampler(started.processes, interval_s=1.0) as sampler:
                gen.go(start_time())
                res = gen.result(timeout_s=opts.intake_duration_s + 120) or {}
            gen.stop()
            procs = sampler.table()
            out.append(
                {
                    "ingest_processes": used,
                    **res,
                    "processes": {
                        k: v for k, v in procs.items() if k.startswith("ingest-qlue") or k == "tansu"
                    },
                }
            )
    return out
