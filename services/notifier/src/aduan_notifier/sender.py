"""The HTTP edge: POST one webhook with bounded retries.

Worst case per webhook: ``max_attempts`` attempts of at most ``request_timeout_s`` each, plus the
waits between them (each at most ``backoff_max_s``). With the defaults (5 attempts, 5 s, 0.5 s doubling
to 4 s) that is 5 x 5 + 0.5 + 1 + 2 + 4 = 32.5 s. Inside a batch, the batch deadline cuts that short:
no attempt starts, and no wait is begun, that would end after it (``deadline.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from aduan_notifier import deadline
from aduan_notifier.delivery import Verdict, backoff_delay, classify

HeadersFor = Callable[[], Mapping[str, str]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Result:
    delivered: bool
    attempts: int
    detail: str
    status_code: int | None = None


@dataclass
class WebhookSender:
    client: httpx.AsyncClient
    max_attempts: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 4.0
    request_timeout_s: float = 5.0
    sleep: Sleep = asyncio.sleep

    async def post(self, url: str, body: bytes, headers_for: HeadersFor) -> Result:
        """POST ``body`` until a 2xx, a non-retryable answer, or ``max_attempts``. ``headers_for`` is
        called per attempt (signatures carry a timestamp)."""
        detail, status = "not attempted", None
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            remaining = deadline.left()
            if remaining is not None and remaining <= 0:
                return Result(False, attempt - 1, f"{detail}; batch deadline reached", status)
            timeout = self.request_timeout_s if remaining is None else min(self.request_timeout_s, remaining)
            try:
                code, reason, retry_after = await asyncio.wait_for(
                    self._post_once(url, body, headers_for()), timeout=timeout
                )
            except (httpx.TransportError, TimeoutError) as e:
                detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                status = None
            else:
                status, verdict = code, classify(code)
                detail = f"HTTP {code} {reason}".strip()
                if verdict is Verdict.DELIVERED:
                    return Result(True, attempt, detail, code)
                if verdict is Verdict.FAILED:
                    return Result(False, attempt, detail, code)
            if attempt < self.max_attempts:
                wait = backoff_delay(
                    attempt, self.backoff_initial_s, self.backoff_max_s, retry_after, datetime.now(UTC)
                )
                if not deadline.allows(wait):
                    return Result(False, attempt, f"{detail}; batch deadline reached", status)
                await self.sleep(wait)
        return Result(False, self.max_attempts, f"{detail} after {self.max_attempts} attempts", status)

    async def _post_once(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str, str | None]:
        # Streamed and never read: the receiver's answer body is not needed and is not buffered.
        async with self.client.stream("POST", url, content=body, headers=dict(headers)) as resp:
            return resp.status_code, resp.reason_phrase, resp.headers.get("retry-after")
