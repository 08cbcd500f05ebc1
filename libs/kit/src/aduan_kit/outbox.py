"""The durable outbox of an ingest adapter: what it accepted survives a broker outage, kill -9 and restart.

Store: one SQLite file per adapter process (``<outbox_dir>/<channel>.sqlite3``), write-ahead log with
``synchronous=FULL``, so a record is on disk (fsync) before the adapter answers 202. SQLite rather than
MongoDB: an adapter then needs no database and keeps accepting while the broker *and* the database are
down; rather than a hand-made append-only file: deletion after publishing, the capacity counts and the
fragment table below come with transactions instead of compaction code.

Every call runs on one thread of the outbox's own, so calls are serialised and the event loop never
waits on a disk flush.

Tables:
- ``records``: encoded Kafka records (topic, key, CloudEvents headers, value) in acceptance order. The
  relay publishes the oldest first and deletes them once the broker acknowledged them. A record whose
  (topic, key) is already pending is not added twice (a sender's re-delivery during an outage).
- ``fragments``: parts of one message that arrive in separate requests (concatenated SMS). When the
  last part of a group arrives, its parts become one record in the same transaction; ``expire`` turns
  groups still incomplete after the wait into records of the parts that did arrive.
- ``done``: groups already turned into a record, with the part numbers they held, for
  ``done_retention_s``: a re-delivered part is recognised, a part that arrives after its group was
  published incomplete becomes a record of its own.
- ``seen``: the digests of the signed requests already accepted (``aduan_kit.signing.Verified``), each
  until its timestamp leaves the signature window. A request is checked against it and recorded in the
  same transaction that stores its record or part, so a byte-identical replay is refused (``Replayed``)
  and a crash can neither accept a request twice nor leave a first delivery marked as seen without its
  record. Every write of a request deletes the digests that expired.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aduan_kit.cloudevents import Headers

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    headers BLOB NOT NULL,
    value BLOB NOT NULL,
    accepted_at REAL NOT NULL,
    UNIQUE (topic, key)
);
CREATE TABLE IF NOT EXISTS fragments (
    grp TEXT NOT NULL,
    idx INTEGER NOT NULL,
    total INTEGER NOT NULL,
    body BLOB NOT NULL,
    first_at REAL NOT NULL,
    PRIMARY KEY (grp, idx)
);
CREATE TABLE IF NOT EXISTS done (grp TEXT PRIMARY KEY, parts TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS seen (digest BLOB PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_expiry ON seen (expires_at);
"""


class OutboxFull(Exception):
    """The outbox holds its maximum of records or bytes: the sender should retry later."""


class Replayed(Exception):
    """This signed request was accepted before (its signature's digest is in ``seen``)."""


@dataclass(frozen=True)
class Once:
    """A signed request that may be accepted once: its signature's digest, remembered until
    ``expires_at`` (Unix seconds)."""

    digest: bytes
    expires_at: float


@dataclass(frozen=True)
class Record:
    """One encoded Kafka record waiting for the broker."""

    topic: str
    key: str
    headers: Headers
    value: bytes
    accepted_at: float
    seq: int = 0

    @property
    def size(self) -> int:
        return len(self.value) + sum(len(k) + len(v) for k, v in self.headers)


@dataclass(frozen=True)
class Stats:
    records: int
    bytes: int
    oldest_at: float | None


# Turns the stored parts of a group (by part number) into a record; ``complete`` is False for a group
# published after the wait with parts missing.
# A part that arrives after its group was published without it becomes ``assemble({n: part}, total,
# False)``: a record of its own.
Assemble = Callable[[dict[int, bytes], int, bool], Record]


def _pack(headers: Headers) -> bytes:
    # name \0 value \0 ... : header names never hold NUL and values are ASCII/UTF-8 text.
    return b"\0".join(part for k, v in headers for part in (k.encode(), v))


def _unpack(blob: bytes) -> Headers:
    parts = blob.split(b"\0") if blob else []
    return [(parts[i].decode(), parts[i + 1]) for i in range(0, len(parts), 2)]


class Outbox:
    """A bounded, durable queue of records; see the module docstring. Use ``open`` to create one."""

    def __init__(self, path: Path, max_records: int, max_bytes: int, done_retention_s: float) -> None:
        self.path = path
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.done_retention_s = done_retention_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"outbox-{path.stem}")
        self._db: sqlite3.Connection | None = None
        self.count = 0  # records and fragments held (the capacity counts)
        self.bytes = 0
        self.added = asyncio.Event()  # set when a record was added: wakes the relay
        self._waiting: list[tuple[Record, Once | None, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, path: Path, *, max_records: int, max_bytes: int, done_retention_s: float = 3_600
    ) -> Outbox:
        box = cls(path, max_records, max_bytes, done_retention_s)
        await box._run(box._open)
        return box

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # fsync at every commit: a 202 survives power loss
        db.executescript(SCHEMA)
        self._db = db
        self._recount()

    def _recount(self) -> None:
        assert self._db is not None
        r = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(value) + LENGTH(headers)), 0) FROM records"
        )
        f = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM fragments")
        (rc, rb), (fc, fb) = r.fetchone(), f.fetchone()
        self.count, self.bytes = rc + fc, rb + fb

    async def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._run(shut)
        self._pool.shutdown(wait=True)

    # -- adding ------------------------------------------------------------------------------------
    def _room_for(self, size: int) -> None:
        if self.count + 1 > self.max_records or self.bytes + size > self.max_bytes:
            raise OutboxFull(f"outbox full ({self.count} records, {self.bytes} bytes)")

    def _forget_expired(self) -> None:
        """Drop the digests whose requests the signature window refuses by now anyway."""
        assert self._db is not None
        self._db.execute("DELETE FROM seen WHERE expires_at < ?", (time.time(),))

    def _first_use(self, once: Once | None) -> None:
        """Raise ``Replayed`` if ``once`` was accepted before."""
        if once is None:
            return
        assert self._db is not None
        if self._db.execute("SELECT 1 FROM seen WHERE digest = ?", (once.digest,)).fetchone():
            raise Replayed("replayed request")

    def _remember(self, once: Once | None) -> None:
        if once is not None:
            assert self._db is not None
            self._db.execute(
                "INSERT INTO seen (digest, expires_at) VALUES (?, ?)", (once.digest, once.expires_at)
            )

    def _insert(self, rec: Record) -> bool:
        assert self._db is not None
        cur = self._db.execute(
            "INSERT OR IGNORE INTO records (topic, key, headers, value, accepted_at) VALUES (?, ?, ?, ?, ?)",
            (rec.topic, rec.key, _pack(rec.headers), rec.value, rec.accepted_at),
        )
        if cur.rowcount:
            self.count += 1
            self.bytes += len(rec.value) + len(_pack(rec.headers))
        return bool(cur.rowcount)

    async def append(self, rec: Record, once: Once | None = None) -> bool:
        """Store ``rec`` durably. False if the same (topic, key) is already pending. Raises ``OutboxFull``,
        or ``Replayed`` if ``once`` (the signed request that brought ``rec``) was accepted before; else
        ``once`` is recorded with ``rec`` (also when ``rec`` was pending already: the request was answered).

        Group commit: appends that arrive while a write is on disk are written together in the next
        transaction (one fsync for all), so concurrent requests share the flush instead of queueing
        behind one fsync each."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((rec, once, fut))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        added = await fut
        self.added.set()
        return added

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._run(self._write_batch, [(r, o) for r, o, _ in batch])
            except BaseException as e:  # the whole transaction failed: every caller of it hears so
                results = [e] * len(batch)
            for (_, _, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

    def _write_batch(self, records: list[tuple[Record, Once | None]]) -> list[bool | BaseException]:
        assert self._db is not None
        out: list[bool | BaseException] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._forget_expired()
            for rec, once in records:
                try:
                    self._first_use(once)  # in order: of two equal requests the second is the replay
                    self._room_for(rec.size)
                except (Replayed, OutboxFull) as e:
                    out.append(e)
                    continue
                out.append(self._insert(rec))
                self._remember(once)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._recount()
            raise
        return out

    async def add_fragment(
        self, group: str, index: int, total: int, body: bytes, assemble: Assemble, once: Once | None = None
    ) -> str:
        """Store one part of a group. Returns what happened: ``held`` (waiting for more parts),
        ``complete`` (the group became a record), ``duplicate`` (a part seen before), or ``straggler``
        (a part of a group already published without it: it became a record of its own). Raises
        ``OutboxFull``, or ``Replayed`` as ``append`` does."""

        def write() -> str:
            assert self._db is not None
            db = self._db
            self._room_for(len(body))
            db.execute("BEGIN IMMEDIATE")
            try:
                self._forget_expired()
                self._first_use(once)
                outcome = self._fragment(db, group, index, total, body, assemble)
                self._remember(once)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self._recount()
                raise
            return outcome

        outcome = await self._run(write)
        if outcome in ("complete", "straggler"):
            self.added.set()
        return outcome

    def _fragment(
        self,
        db: sqlite3.Connection,
        group: str,
        index: int,
        total: int,
        body: bytes,
        assemble: Assemble,
    ) -> str:
        done = db.execute("SELECT parts FROM done WHERE grp = ?", (group,)).fetchone()
        if done is not None:
            parts = {int(p) for p in done[0].split(",") if p}
            if index in parts:
                return "duplicate"
            self._insert(assemble({index: body}, total, False))
            db.execute(
                "UPDATE done SET parts = ? WHERE grp = ?",
                (",".join(map(str, sorted(parts | {index}))), group),
            )
            return "straggler"
        cur = db.execute(
            "INSERT OR IGNORE INTO fragments (grp, idx, total, body, first_at) VALUES (?, ?, ?, ?, "
            "COALESCE((SELECT MIN(first_at) FROM fragments WHERE grp = ?), ?))",
            (group, index, total, body, group, time.time()),
        )
        if not cur.rowcount:
            return "duplicate"
        self.count += 1
        self.bytes += len(body)
        held = self._parts(db, group)
        if len(held) < total:
            return "held"
        self._finish(db, group, held, total, complete=True, assemble=assemble)
        return "complete"

    def _parts(self, db: sqlite3.Connection, group: str) -> dict[int, bytes]:
        rows = db.execute("SELECT idx, body FROM fragments WHERE grp = ? ORDER BY idx", (group,))
        return {int(i): bytes(b) for i, b in rows}

    def _finish(
        self,
        db: sqlite3.Connection,
        group: str,
        parts: dict[int, bytes],
        total: int,
        *,
        complete: bool,
        assemble: Assemble,
    ) -> None:
        self._insert(assemble(parts, total, complete))
        db.execute("DELETE FROM fragments WHERE grp = ?", (group,))
        self.count -= len(parts)
        self.bytes -= sum(len(b) for b in parts.values())
        db.execute(
            "INSERT OR REPLACE INTO done (grp, parts, at) VALUES (?, ?, ?)",
            (group, ",".join(map(str, sorted(parts))), time.time()),
        )

    async def expire(self, wait_s: float, assemble: Assemble) -> int:
        """Publish every group whose first part is older than ``wait_s`` with the parts it has; forget
        finished groups older than ``done_retention_s``. Returns the number of groups published."""

        def sweep() -> int:
            assert self._db is not None
            db = self._db
            now = time.time()
            db.execute("BEGIN IMMEDIATE")
            try:
                stale = db.execute(
                    "SELECT grp, MAX(total) FROM fragments GROUP BY grp HAVING MIN(first_at) <= ?",
                    (now - wait_s,),
                ).fetchall()
                for group, total in stale:
                    parts = self._parts(db, group)
                    self._finish(db, group, parts, int(total), complete=False, assemble=assemble)
                db.execute("DELETE FROM done WHERE at < ?", (now - self.done_retention_s,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self._recount()
                raise
            return len(stale)

        n = await self._run(sweep)
        if n:
            self.added.set()
        return n

    # -- relaying ----------------------------------------------------------------------------------
    async def peek(self, limit: int) -> list[Record]:
        """The oldest ``limit`` records, in acceptance order."""

        def read() -> list[Record]:
            assert self._db is not None
            rows = self._db.execute(
                "SELECT seq, topic, key, headers, value, accepted_at FROM records ORDER BY seq LIMIT ?",
                (limit,),
            )
            return [
                Record(topic, key, _unpack(bytes(headers)), bytes(value), accepted_at, seq)
                for seq, topic, key, headers, value, accepted_at in rows
            ]

        return await self._run(read)

    async def remove(self, records: list[Record]) -> None:
        """Forget records the broker acknowledged."""

        def delete() -> None:
            assert self._db is not None
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM records WHERE seq = ?", [(r.seq,) for r in records])
            self._db.execute("COMMIT")
            self.count -= len(records)
            self.bytes -= sum(len(r.value) + len(_pack(r.headers)) for r in records)

        await self._run(delete)

    async def stats(self) -> Stats:
        def read() -> Stats:
            assert self._db is not None
            row = self._db.execute("SELECT accepted_at FROM records ORDER BY seq LIMIT 1").fetchone()
            oldest = row[0] if row else None
            (first,) = self._db.execute("SELECT MIN(first_at) FROM fragments").fetchone()
            candidates = [t for t in (oldest, first) if t is not None]
            return Stats(self.count, self.bytes, min(candidates) if candidates else None)

        return await self._run(read)
