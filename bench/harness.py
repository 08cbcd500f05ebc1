"""Start what a scenario needs on free loopback ports in a temporary directory, and always tear it down.

``embedded_stack`` is the whole pipeline (``aduan_cli.stack.Stack``: Tansu, SecantusDB, every service);
``broker`` and ``database`` are one embedded server alone (for the limit and the servers' own bounds).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aduan_cli.stack import Stack, StackConfig
from aduan_kit import embedded
from aduan_kit.embedded import ManagedProcess, free_port
from aduan_kit.kafka import ensure_topics
from aduan_schemas.city import load_city

REPO = Path(__file__).resolve().parents[1]
CITY_DIR = REPO / "config" / "jakarta"
DEFAULT_BOUNDARIES = REPO.parent / "shared" / "data" / "jakarta-kelurahan.geojson"


@dataclass
class Started:
    stack: Stack
    startup_s: float

    def processes(self) -> dict[str, int]:
        """Name -> pid of every process of the stack (servers and service workers)."""
        out = {}
        for s in self.stack.servers:
            if s.proc is not None:
                out[s.name.split()[0]] = s.proc.pid
        for name, svc in self.stack.services.items():
            if svc.process.proc is not None:
                out[name] = svc.process.proc.pid
        return out

    def freeze(self) -> None:
        """Kill every service: the topics and the store stop changing (a slow run is still going)."""
        for svc in self.stack.services.values():
            svc.process.kill()

    def skpd_topics(self) -> list[str]:
        """Every topic a routed report may end on: one per SKPD, and triage (reports no unit got)."""
        codes = [u.code for u in load_city(self.stack.config.city_dir).skpd.units]
        return [self.stack.topics.skpd(c) for c in codes] + [self.stack.topics.triage]


@contextmanager
def embedded_stack(
    boundaries: Path | None, workers: dict[str, int] | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[Started]:
    with tempfile.TemporaryDirectory(prefix="aduan-bench-") as d:
        stack = Stack(
            StackConfig(
                data_dir=Path(d),
                city_dir=CITY_DIR,
                boundaries=boundaries,
                kafka_port=free_port(),
                mongo_port=free_port(),
                workers=dict(workers or {}),
                extra_env=dict(extra_env or {}),
                # The consumers' settings as deployed (the services' defaults: 100 ms fetch wait), not
                # the development stack's 20 ms, whose polling alone took Tansu 25 % of a core and each
                # service 5 % while idle (100 ms: 9 % and 1.5 %; measured), CPU the pipeline then lacks.
                consumer_env={},
                ready_timeout_s=120,
            )
        )
        stack.config.service_ports = {name: free_port() for _, name in stack.instances()}
        t = time.monotonic()
        stack.start()
        try:
            yield Started(stack, time.monotonic() - t)
        finally:
            stack.stop(drain=False)  # a benchmark keeps nothing: no need to wait for a backlog


@contextmanager
def broker(topics: list[tuple[str, int]]) -> Iterator[tuple[str, ManagedProcess]]:
    """Tansu alone, with ``topics`` (name, partitions) created."""
    port = free_port()
    proc = embedded.tansu(port).start()
    try:
        proc.wait_port(timeout=30)
        bootstrap = f"127.0.0.1:{port}"
        asyncio.run(ensure_topics(bootstrap, topics))
        yield bootstrap, proc
    finally:
        proc.stop()


@contextmanager
def database() -> Iterator[tuple[str, ManagedProcess]]:
    """SecantusDB alone, on a fresh data directory."""
    with tempfile.TemporaryDirectory(prefix="aduan-bench-db-") as d:
        port = free_port()
        proc = embedded.secantus(port, Path(d) / "db").start()
        try:
            proc.wait_port(timeout=30)
            yield f"mongodb://127.0.0.1:{port}", proc
        finally:
            proc.stop()
