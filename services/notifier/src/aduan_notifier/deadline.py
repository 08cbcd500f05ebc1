"""The batch deadline: every delivery of one batch ends by it, so a batch (and the next fetch) stays inside
the consumer's poll interval even when an SKPD endpoint hangs or is down.

The notify handler sets it when a batch starts; the webhook sender and the mailer read it before each
attempt and each wait (the tasks of one batch inherit it). Outside a batch (the breach digest) it is
unset: only the attempts and per-attempt timeouts bound a delivery.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("aduan_notifier_batch_deadline", default=None)


def start_batch(seconds: float) -> None:
    _DEADLINE.set(time.monotonic() + seconds)


def left() -> float | None:
    """Seconds until the current batch's deadline (negative once passed); None outside a batch."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def allows(seconds: float) -> bool:
    """Whether ``seconds`` more (a wait before the next attempt) still end before the deadline."""
    remaining = left()
    return remaining is None or remaining > seconds
