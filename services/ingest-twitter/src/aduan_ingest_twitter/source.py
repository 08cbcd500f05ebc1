"""Reading X: the filtered stream, with the mentions timeline as fallback and catch-up.

**Stream.** One connection to the filtered stream (rules: ``rules.py``). Each tweet line is parsed,
filtered (retweets and the city's own tweets are not reports) and published; keep-alives are ignored; no
byte for ``stall_timeout_s`` is a stall. Any failure closes the connection and reconnects after the
back-off X documents (``backoff.py``).

**Mentions timeline.** Per city account, ``GET /2/users/:id/mentions`` newer than the ``since_id``
stored in MongoDB. The tweets are published oldest first, and after each acknowledgement the checkpoint
moves to that tweet, so a restart in the middle neither misses the rest nor reads the done part again.
The timeline is read at start, right after each (re)connection of the stream (what the stream missed
while it was down), and every ``poll_interval_s`` while the stream is down or off.

**Checkpoint while streaming.** Once the catch-up read after a connection has finished on that same
connection, the stream has every mention since the checkpoint; from then on each published mention moves
the checkpoint too, so a restart reads only what arrived while the service was down. A publish the
broker does not acknowledge drops the connection (and that continuity); the next connection catches up
from the checkpoint, which never passed an unacknowledged tweet.

Without a checkpoint (first start) the newest ``backfill_max`` mentions are published and the
checkpoint starts at the newest one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pymongo.errors import PyMongoError

from aduan_ingest_twitter.accounts import CityAccounts
from aduan_ingest_twitter.backoff import Attempts, Backoff, Failure
from aduan_ingest_twitter.checkpoint import SinceIds, newer
from aduan_ingest_twitter.config import TwitterSettings
from aduan_ingest_twitter.payload import TweetPayload, ignore_reason, read_payload, timeline_payloads, to_raw
from aduan_ingest_twitter.rules import mentioned_accounts, rule_changes, wanted_rules
from aduan_ingest_twitter.xapi import StreamError, StreamStalled, XApi, XHttpError
from aduan_kit import ingest_metrics as metrics
from aduan_kit.ingest import PublishFailed, describe_error, publish
from aduan_kit.kafka import MAX_RECORD_BYTES
from aduan_kit.logs import get_logger
from aduan_kit.service import Runtime

log = get_logger(component="x-source")
CHANNEL = "twitter"
# What a loop survives by backing off and retrying (X, the network, the broker, the database).
FAILURES = (
    XHttpError,
    StreamStalled,
    StreamError,
    PublishFailed,
    httpx.HTTPError,
    OSError,
    ValueError,
    PyMongoError,
)
T = TypeVar("T")


@dataclass
class SourceState:
    stream_connected: bool = False
    contiguous: bool = False  # the stream has had every mention since the checkpoint
    polled_ok: bool = False
    epoch: int = 0  # stream connections so far


def failure_of(error: BaseException) -> tuple[Failure, float | None]:
    if isinstance(error, XHttpError):
        if error.status == 429:
            return Failure.RATE_LIMITED, error.reset_at
        return Failure.HTTP, None
    return Failure.NETWORK, None


class TwitterSource:
    def __init__(
        self, settings: TwitterSettings, runtime: Runtime, since_ids: SinceIds, city: CityAccounts
    ) -> None:
        assert settings.api_url and settings.bearer_token
        self.s, self.runtime, self.since_ids, self.city = settings, runtime, since_ids, city
        self.api = XApi(
            settings.api_url,
            settings.bearer_token.get_secret_value(),
            settings.request_timeout_s,
            settings.max_line_bytes,
        )
        self.backoff = Backoff(
            network_step_s=settings.backoff_network_step_s,
            network_max_s=settings.backoff_network_max_s,
            http_start_s=settings.backoff_http_start_s,
            http_max_s=settings.backoff_http_max_s,
            rate_limit_start_s=settings.backoff_rate_limit_start_s,
        )
        self.state = SourceState()
        self.user_ids: dict[str, str] = {}  # lower-case username -> id
        self.own_ids: frozenset[str] = frozenset()
        self.poll_now = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self._retrying("look up the city's accounts", self._prepare)
            self.poll_now.set()
            loops = [self.run_poller()] + ([self.run_stream()] if self.s.stream else [])
            await asyncio.gather(*loops)
        finally:
            await self.api.close()

    def ready(self) -> bool:
        return self.state.stream_connected or self.state.polled_ok

    async def _prepare(self) -> None:
        self.user_ids = await self.api.user_ids(self.city.accounts)
        missing = [a for a in self.city.accounts if a.lower() not in self.user_ids]
        if missing:
            log.warning("city accounts unknown to X, their mentions are not read", accounts=missing)
        self.own_ids = frozenset(self.user_ids.values())
        if self.s.stream and self.s.manage_rules:
            changes = rule_changes(
                await self.api.rules(), wanted_rules(self.city.accounts, self.city.hashtags)
            )
            await self.api.change_rules(changes)
            log.info("stream rules set", added=len(changes.add), deleted=len(changes.delete_ids))

    async def _retrying(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        attempts = Attempts()
        while True:
            try:
                return await op()
            except FAILURES as e:
                await self._pause(what, e, attempts)

    async def _pause(self, what: str, error: BaseException, attempts: Attempts) -> None:
        failure, reset_at = failure_of(error)
        delay = self.backoff.delay(failure, attempts.fail(failure), time.time(), reset_at)
        log.warning(
            f"could not {what}, retrying", failure=str(failure), error=str(error)[:300], retry_in_s=delay
        )
        await asyncio.sleep(delay)

    # -- stream --------------------------------------------------------------------------------------
    async def run_stream(self) -> None:
        attempts = Attempts()
        while True:
            error: BaseException = StreamError("X ended the stream")
            try:
                async with self.api.stream(self.s.stall_timeout_s) as lines:
                    self._connected()
                    attempts.reset()
                    async for line in lines:
                        if line:
                            await self._on_line(line)
            except FAILURES as e:
                error = e
            finally:
                self.state.stream_connected = self.state.contiguous = False
            await self._pause("read the filtered stream", error, attempts)

    def _connected(self) -> None:
        self.state.stream_connected = True
        self.state.contiguous = False
        self.state.epoch += 1
        self.poll_now.set()  # catch up on what the stream missed while it was down
        log.info("filtered stream connected", connection=self.state.epoch)

    async def _on_line(self, line: bytes) -> None:
        try:
            original, payload = read_payload(line)
        except ValueError as e:
            if _is_error_notice(line):  # X's notice before it ends a connection
                raise StreamError(f"X ended the stream: {line[:300].decode(errors='replace')}") from None
            self._refused("invalid", describe_error(e), None)
            return
        published = await self._finish(self._publish(original, payload))
        if published and self.state.contiguous:
            tags = [
                str(r.get("tag", "")) for r in original.get("matching_rules") or [] if isinstance(r, dict)
            ]
            for account in mentioned_accounts(tags):
                if account in self.user_ids:
                    await self.since_ids.advance(self.user_ids[account], payload.data.id)

    # -- mentions timeline ---------------------------------------------------------------------------
    async def run_poller(self) -> None:
        attempts = Attempts()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poll_now.wait(), self.s.poll_interval_s)
            self.poll_now.clear()
            if self.state.contiguous:
                continue  # the stream has it all and moves the checkpoint
            epoch, connected = self.state.epoch, self.state.stream_connected
            try:
                for user_id in dict.fromkeys(self.user_ids.values()):
                    await self.poll(user_id)
            except FAILURES as e:
                self.state.polled_ok = False
                await self._pause("read the mentions timeline", e, attempts)
                self.poll_now.set()
                continue
            attempts.reset()
            self.state.polled_ok = True
            if connected and self.state.stream_connected and self.state.epoch == epoch:
                self.state.contiguous = True

    async def poll(self, user_id: str) -> int:
        """Publish the mentions of one account newer than its checkpoint; returns how many."""
        since = await self.since_ids.load(user_id)
        limit = self.s.poll_max_tweets if since else max(self.s.backfill_max, 5)
        pages = await self.api.mentions(user_id, since, limit)
        newest: str | None = None
        items: list[tuple[dict[str, Any], TweetPayload]] = []
        for page in pages:
            newest = newer(newest, _newest_id(page))
            for one in timeline_payloads(page):
                try:
                    items.append(read_payload(json.dumps(one).encode()))
                except ValueError as e:
                    self._refused("invalid", describe_error(e), None)
        items.sort(key=lambda item: int(item[1].data.id))
        if since is None:
            items = items[-self.s.backfill_max :] if self.s.backfill_max else []
        published = 0
        for original, payload in items:
            if since is not None and int(payload.data.id) <= int(since):
                continue
            published += await self._finish(self._publish_and_advance(user_id, original, payload))
        if newest:
            await self.since_ids.advance(user_id, newest)  # past ignored and refused tweets too
        return published

    async def _publish_and_advance(
        self, user_id: str, original: dict[str, Any], payload: TweetPayload
    ) -> bool:
        published = await self._publish(original, payload)
        await self.since_ids.advance(user_id, payload.data.id)
        return published

    # -- one tweet -----------------------------------------------------------------------------------
    async def _finish(self, work: Awaitable[bool]) -> bool:
        """Run one tweet's work to its end even when the service is stopping, so a restart finds it
        either not started or done (bounded by the publish timeout)."""
        step = asyncio.ensure_future(work)
        try:
            return await asyncio.shield(step)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(step, self.s.publish_timeout_s + self.s.request_timeout_s)
            raise

    async def _publish(self, original: dict[str, Any], payload: TweetPayload) -> bool:
        """Publish one tweet unless it is not a report. Raises ``PublishFailed``."""
        tweet_id = payload.data.id
        reason = ignore_reason(payload, self.own_ids)
        if reason is not None:
            metrics.INGEST_REQUESTS.labels(CHANNEL, "skipped").inc()
            log.info("tweet skipped", tweet_id=tweet_id, reason=reason)
            return False
        try:
            raw = to_raw(original, payload, datetime.now(UTC))
        except ValueError as e:
            self._refused("invalid", describe_error(e), tweet_id)
            return False
        if len(raw.model_dump_json()) > MAX_RECORD_BYTES:
            self._refused("too_large", f"report exceeds {MAX_RECORD_BYTES} bytes once encoded", tweet_id)
            return False
        await publish(self.runtime, CHANNEL, raw, self.s.publish_timeout_s)
        metrics.INGEST_REQUESTS.labels(CHANNEL, "accepted").inc()
        log.info("report accepted", channel=CHANNEL, channel_message_id=tweet_id)
        return True

    def _refused(self, outcome: str, reason: str, tweet_id: str | None) -> None:
        metrics.INGEST_REQUESTS.labels(CHANNEL, outcome).inc()
        log.warning("tweet not published", outcome=outcome, reason=reason, tweet_id=tweet_id)


def _newest_id(page: dict[str, Any]) -> str | None:
    value = (page.get("meta") or {}).get("newest_id") if isinstance(page.get("meta"), dict) else None
    return value if isinstance(value, str) and value.isdigit() else None


def _is_error_notice(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and "errors" in obj and "data" not in obj
