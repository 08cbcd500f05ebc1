"""How long to wait before reconnecting to X, as X documents for the filtered stream:

- network errors (connection refused or reset, a stalled stream): back off linearly, ``network_step_s``
  (250 ms) more each attempt, up to ``network_max_s`` (16 s);
- HTTP errors (5xx, 4xx): back off exponentially from ``http_start_s`` (5 s), doubling, up to
  ``http_max_s`` (320 s);
- HTTP 429 (rate limited): wait until ``x-rate-limit-reset`` (Unix seconds) when the response has it,
  else back off exponentially from ``rate_limit_start_s`` (60 s), doubling.

``attempt`` counts failures of one kind in a row (1 for the first; ``Attempts``): a failure of another
kind starts its own count, and a connection that worked resets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Failure(StrEnum):
    NETWORK = "network"
    HTTP = "http"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Backoff:
    network_step_s: float = 0.25
    network_max_s: float = 16.0
    http_start_s: float = 5.0
    http_max_s: float = 320.0
    rate_limit_start_s: float = 60.0
    rate_limit_max_s: float = 960.0

    def delay(self, failure: Failure, attempt: int, now: float, reset_at: float | None = None) -> float:
        n = max(attempt, 1)
        if failure is Failure.NETWORK:
            return min(self.network_step_s * n, self.network_max_s)
        if failure is Failure.HTTP:
            return min(self.http_start_s * 2 ** (n - 1), self.http_max_s)
        if reset_at is not None:
            return min(max(reset_at - now, 0.0), self.rate_limit_max_s)
        return min(self.rate_limit_start_s * 2 ** (n - 1), self.rate_limit_max_s)


@dataclass
class Attempts:
    """Failures in a row, counted per kind."""

    kind: Failure | None = None
    count: int = 0

    def fail(self, failure: Failure) -> int:
        self.count = self.count + 1 if failure is self.kind else 1
        self.kind = failure
        return self.count

    def reset(self) -> None:
        self.kind, self.count = None, 0
