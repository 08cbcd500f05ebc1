"""The mailbox reader: IMAP folder -> ``aduan.raw.email``, one message at a time, in UID order.

For each new message (UID above the checkpoint): fetch its size (over ``max_message_bytes``: not
fetched, moved to the failed folder), fetch it without setting \\Seen, parse it, then

- a citizen's message is published and acknowledged by the broker, then moved to ``processed_folder``;
- an auto-reply or bounce is not published and goes to ``skipped_folder``;
- a message that cannot become a report (no Message-ID, past the schema's limits) is not published and
  goes to ``failed_folder``, with the reason in the log.

The checkpoint (UIDVALIDITY, last UID, its destination) is written after the publish and before the move,
so a restart never re-reads a handled message; the one message whose move a crash cut short is moved on
the next start. A crash between the acknowledgement and the checkpoint re-publishes that one message
(same key and CloudEvents id: the normalizer drops it). A broker that does not acknowledge stops the
sweep before the checkpoint: the message is retried after a back-off, never skipped.

A new UIDVALIDITY (the folder was re-created) makes UIDs meaningless: the reader starts again from the
first message still in the folder; handled mail was moved out, so that re-reads nothing in the usual
setup. Between sweeps the reader waits in IMAP IDLE (when the server offers it and ``idle`` is on) or
sleeps ``poll_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo.errors import PyMongoError

from aduan_ingest_email.checkpoint import Checkpoint, Checkpoints
from aduan_ingest_email.config import EmailSettings
from aduan_ingest_email.imap import Imap, ImapError, Selected
from aduan_ingest_email.message import read_message, skip_reason, to_raw
from aduan_kit import ingest_metrics as metrics
from aduan_kit.ingest import PublishFailed, describe_error, publish
from aduan_kit.kafka import MAX_RECORD_BYTES
from aduan_kit.logs import get_logger
from aduan_kit.service import Runtime

log = get_logger(component="mailbox")
CHANNEL = "email"
RECONNECT_FIRST_S = 1.0


@dataclass
class ReaderState:
    """What /readyz reports: the last connection to the mailbox worked."""

    connected: bool = False


class MailboxReader:
    def __init__(self, settings: EmailSettings, runtime: Runtime, checkpoints: Checkpoints) -> None:
        self.s, self.runtime, self.checkpoints = settings, runtime, checkpoints
        self.state = ReaderState()
        self.mailbox = f"{settings.imap_user}@{settings.imap_host}:{settings.imap_port}/{settings.folder}"

    async def run(self) -> None:
        """Read forever; reconnect with exponential back-off (1 s doubling up to ``reconnect_max_s``)."""
        delay = RECONNECT_FIRST_S
        while True:
            try:
                await self.session()
            except (
                ImapError,
                PublishFailed,
                PyMongoError,
                OSError,
                TimeoutError,
                asyncio.IncompleteReadError,
            ) as e:
                if self.state.connected:  # the session had worked: the back-off starts anew
                    delay = RECONNECT_FIRST_S
                self.state.connected = False
                reason = str(e) or type(e).__name__
                log.warning("mailbox unavailable, retrying", error=reason, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.s.reconnect_max_s)

    async def connect(self) -> Imap:
        assert self.s.imap_host is not None
        tls = ssl.create_default_context(cafile=self.s.imap_ca_file) if self.s.imap_tls else None
        imap = await Imap.connect(
            self.s.imap_host,
            self.s.imap_port,
            tls=tls,
            timeout_s=self.s.command_timeout_s,
            max_literal=self.s.max_message_bytes + 1024,
        )
        try:
            password = self.s.imap_password.get_secret_value() if self.s.imap_password else ""
            await imap.login(self.s.imap_user, password)
            for folder in {self.s.processed_folder, self.s.skipped_folder, self.s.failed_folder} - {""}:
                await imap.create(folder)
        except BaseException:
            await imap.close()
            raise
        return imap

    async def session(self) -> None:
        """One connection: sweep, wait (IDLE or sleep), sweep again, until the connection fails."""
        imap = await self.connect()
        try:
            while True:
                await self.sweep(imap)
                self.state.connected = True
                if self.s.idle and "IDLE" in imap.capabilities:
                    await imap.idle(self.s.idle_timeout_s)
                else:
                    await asyncio.sleep(self.s.poll_interval_s)
        finally:
            await imap.logout()

    async def sweep(self, imap: Imap) -> int:
        """Handle every message above the checkpoint; returns how many were handled."""
        selected = await imap.select(self.s.folder)
        cp = await self._checkpoint(imap, selected)
        handled = 0
        for uid in await imap.uids_after(cp.last_uid):
            step = asyncio.ensure_future(self._one(imap, selected, uid))
            try:
                await asyncio.shield(step)
            except asyncio.CancelledError:
                # Stopping: finish the message in hand (publish, checkpoint, move) so a restart neither
                # publishes it again nor finds it half done; bounded by the publish and IMAP timeouts.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(step, self.s.publish_timeout_s + 2 * self.s.command_timeout_s)
                raise
            handled += 1
        return handled

    async def _one(self, imap: Imap, selected: Selected, uid: int) -> None:
        destination = await self.handle(imap, selected, uid)
        await self.checkpoints.save(self.mailbox, Checkpoint(selected.uidvalidity, uid, destination))
        await self._put_away(imap, uid, destination)

    async def _checkpoint(self, imap: Imap, selected: Selected) -> Checkpoint:
        cp = await self.checkpoints.load(self.mailbox)
        if cp is not None and cp.uidvalidity != selected.uidvalidity:
            log.warning(
                "mailbox UIDVALIDITY changed: reading the folder from its first message",
                folder=self.s.folder,
                old=cp.uidvalidity,
                new=selected.uidvalidity,
            )
            cp = None
        if cp is None:
            return Checkpoint(selected.uidvalidity)
        if cp.last_uid and cp.last_destination and await imap.has_uid(cp.last_uid):
            # Handled, but the move was cut short (a crash after the checkpoint): finish it.
            await imap.move(cp.last_uid, cp.last_destination)
        return cp

    async def _put_away(self, imap: Imap, uid: int, destination: str) -> None:
        if destination:
            await imap.move(uid, destination)
        else:
            await imap.mark_seen(uid)

    async def handle(self, imap: Imap, selected: Selected, uid: int) -> str:
        """Publish one message (or decide not to); returns the folder it goes to."""
        size = await imap.fetch_size(uid)
        if size is None:
            return ""  # expunged meanwhile by someone else
        if size > self.s.max_message_bytes:
            limit = self.s.max_message_bytes
            return self._refused(uid, "too_large", f"message of {size} bytes exceeds {limit}")
        body = await imap.fetch_message(uid)
        if body is None:
            return ""
        try:
            msg = read_message(body)
            reason = skip_reason(msg)
            if reason is not None:
                metrics.INGEST_REQUESTS.labels(CHANNEL, "skipped").inc()
                log.info("mail skipped", uid=uid, reason=reason)
                return self.s.skipped_folder
            where = {"folder": self.s.folder, "uidvalidity": selected.uidvalidity, "uid": uid}
            raw = to_raw(msg, datetime.now(UTC), {"mailbox": where})
            if len(raw.model_dump_json()) > MAX_RECORD_BYTES:
                reason = f"report exceeds {MAX_RECORD_BYTES} bytes once encoded"
                return self._refused(uid, "too_large", reason)
        except ValueError as e:  # PayloadError, ValidationError
            return self._refused(uid, "invalid", describe_error(e))
        await publish(self.runtime, CHANNEL, raw, self.s.publish_timeout_s)
        metrics.INGEST_REQUESTS.labels(CHANNEL, "accepted").inc()
        log.info(
            "report accepted",
            channel=CHANNEL,
            uid=uid,
            channel_message_id=raw.channel_message_id,
            follow_up_of=raw.follow_up_of,
        )
        return self.s.processed_folder

    def _refused(self, uid: int, outcome: str, reason: str) -> str:
        metrics.INGEST_REQUESTS.labels(CHANNEL, outcome).inc()
        folder = self.s.failed_folder
        log.warning("mail not published", uid=uid, outcome=outcome, reason=reason, moved_to=folder)
        return self.s.failed_folder
