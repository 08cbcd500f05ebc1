"""Retry delays that grow, are capped and are jittered: one pure function for every retry loop.

Growth spares a server that is down (a database outage no longer costs two rounds a second for as long
as it lasts); the cap bounds how late a recovery is noticed; jitter keeps the workers of a stage (and
the stages) from retrying in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay(
    round_: int,
    initial_s: float,
    max_s: float,
    factor: float = 2.0,
    jitter: float = 0.5,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry round ``round_`` (1-based): ``initial_s * factor**(round_ - 1)``,
    capped at ``max_s``, less a random part of up to ``jitter`` of it (so within [(1 - jitter) x, x])."""
    base = min(initial_s * factor ** max(round_ - 1, 0), max_s)
    return base * (1 - jitter * rand())
