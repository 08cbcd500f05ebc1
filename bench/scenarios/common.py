"""What several scenarios share: options and the run tag that marks this run's reports."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

START_DELAY_S = 1.0  # between releasing the generators and their first send: every side is listening


@dataclass(frozen=True)
class Options:
    boundaries: Path | None
    reports: int = 100_000
    sustained_timeout_s: float = 150.0
    latency_rates: tuple[int, ...] = (100, 1_000, 5_000)
    latency_duration_s: float = 25.0
    latency_http_max: int = 1_000
    latency_drain_s: float = 20.0
    intake_duration_s: float = 15.0
    intake_conns: int = 32
    intake_workers: int = 2
    cases: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    newly_due: int = 500
    soak_rate: int = 500
    soak_duration_s: float = 600.0
    dedupe_roots: tuple[int, ...] = (2_000,)
    dedupe_probes: int = 200
    dedupe_batch: int = 10


def tag(name: str) -> str:
    return f"bench{name}{uuid.uuid4().hex[:6]}"


def start_time() -> float:
    return time.time() + START_DELAY_S
