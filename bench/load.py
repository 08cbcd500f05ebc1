"""Load generators. Each runs in a process of its own (``spawn``), so it never shares a core's time slice
with the measuring side, and reports its own CPU time.

Protocol with the orchestrator (``Generator``): the child builds and serialises all its load first,
answers ``"ready"``, receives the start time ``t0`` (``time.time()``, a wall clock both sides share),
sends, and answers with a result dict.

- ``publish``: raw Qlue events straight onto a topic with a tuned producer (acks=all, 256 KiB batches,
  5 ms linger). ``rate=None`` sends as fast as the broker takes them (the producer's own queue is the
  only back-pressure); a rate sends record ``i`` at ``t0 + i / rate`` (open loop: a slow broker makes
  records late, it does not slow the schedule down).
- ``http_open``: signed webhooks at a fixed rate, open loop: request ``i`` is due at ``t0 + i / rate``
  and takes an idle keep-alive connection, or opens one (up to ``max_conns``), or waits for one.
- ``http_closed``: ``conns`` keep-alive connections each sending back to back for ``duration_s`` (the
  capacity of the intake: it answers as fast as it can).

The HTTP client is a minimal HTTP/1.1 writer/reader over asyncio streams with pre-built, pre-signed
requests: far cheaper per request than a general client, so the generator is not what is measured.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.corpus import Corpus, raw_records, signed_requests
from bench.measure import percentile, self_cpu_s

Result = dict[str, Any]
Send = Callable[[int, float], Awaitable[None]]  # (item index, when it was due)


def producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        enable_idempotence=False,
        request_timeout_ms=30_000,
    )


async def open_loop(n: int, t0: float, rate: float | None, send: Send) -> float:
    """The one sending schedule: ``send(i, due)`` for each ``i < n``, item ``i`` due at ``t0 + i / rate``
    (``rate=None``: from ``t0`` on, each as soon as the previous ``send`` returned). Never waits for late
    items to catch up (open loop). Returns how late the latest item started, in seconds."""
    max_late = 0.0
    await asyncio.sleep(max(0.0, t0 - time.time()))
    for i in range(n):
        due = t0 + i / rate if rate is not None else time.time()
        late = time.time() - due
        if late < 0:
            await asyncio.sleep(-late)
        else:
            max_late = max(max_late, late)
        await send(i, due)
    return max_late


async def _publish(bootstrap: str, topic: str, records: list[Any], t0: float, rate: float | None) -> Result:
    p = producer(bootstrap)
    await p.start()
    futures = []

    async def send(i: int, _due: float) -> None:
        key, value, headers = records[i]
        futures.append(await p.send(topic, value=value, key=key, headers=headers))

    try:
        start = max(t0, time.time())
        max_late = await open_loop(len(records), t0, rate, send)
        queued = time.time()
        await asyncio.gather(*futures)
        acked = time.time()
    finally:
        await p.stop()
    return {
        "sent": len(records),
        "first_send": start,
        "all_queued": queued,
        "all_acked": acked,
        "rate_per_s": round(len(records) / max(acked - start, 1e-9), 1),
        "max_late_s": round(max_late, 3),
    }


def publish_child(
    conn: Connection,
    bootstrap: str,
    topic: str,
    boundaries: Path | None,
    tag: str,
    n: int,
    rate: float | None,
) -> None:
    records = raw_records(Corpus(boundaries), tag, n)
    conn.send({"ready": True, "bytes_per_record": sum(len(r[1]) for r in records[:1000]) // min(n, 1000)})
    t0 = conn.recv()
    cpu = self_cpu_s()
    result = asyncio.run(_publish(bootstrap, topic, records, t0, rate))
    result["generator_cpu_s"] = round(self_cpu_s() - cpu, 2)
    conn.send(result)


# -- HTTP -------------------------------------------------------------------------------------------


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def _http_open(
    ports: list[int], requests: list[bytes], t0: float, rate: float, max_conns: int
) -> Result:
    idle: asyncio.Queue[Conn] = asyncio.Queue()
    opened = 0
    statuses: dict[int, int] = {}
    response_s: list[float] = []

    async def one(i: int, due: float) -> None:
        nonlocal opened
        if idle.empty() and opened < max_conns:
            opened += 1
            conn = await Conn.open(ports[opened % len(ports)])
        else:
            conn = await idle.get()
        try:
            status = await conn.request(requests[i])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = 0
            conn.close()
            conn = await Conn.open(ports[i % len(ports)])
        statuses[status] = statuses.get(status, 0) + 1
        response_s.append(time.time() - due)
        idle.put_nowait(conn)

    tasks = []

    async def send(i: int, due: float) -> None:
        tasks.append(asyncio.create_task(one(i, due)))

    max_late = await open_loop(len(requests), t0, rate, send)
    await asyncio.gather(*tasks)
    end = time.time()
    while not idle.empty():
        idle.get_nowait().close()
    return {
        "sent": len(requests),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connections": opened,
        "duration_s": round(end - t0, 2),
        "response_p50_s": round(percentile(response_s, 0.5), 4),
        "response_p99_s": round(percentile(response_s, 0.99), 4),
        "max_late_s": round(max_late, 3),
    }


async def _http_closed(
    ports: list[int], requests: list[bytes], t0: float, conns: int, duration_s: float
) -> Result:
    statuses: dict[int, int] = {}
    response_s: list[float] = []
    next_i = 0
    end = t0 + duration_s

    async def worker(j: int) -> None:
        nonlocal next_i
        conn = await Conn.open(ports[j % len(ports)])
        while time.time() < end and next_i < len(requests):
            i, next_i = next_i, next_i + 1
            t = time.time()
            try:
                status = await conn.request(requests[i])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status = 0
                conn.close()
                conn = await Conn.open(ports[j % len(ports)])
            statuses[status] = statuses.get(status, 0) + 1
            response_s.append(time.time() - t)
        conn.close()

    await asyncio.sleep(max(0.0, t0 - time.time()))
    await asyncio.gather(*(worker(j) for j in range(conns)))
    wall = time.time() - t0
    ok = statuses.get(202, 0)
    return {
        "sent": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connections": conns,
        "duration_s": round(wall, 2),
        "accepted_per_s": round(ok / wall, 1),
        "response_p50_s": round(percentile(response_s, 0.5), 4),
        "response_p99_s": round(percentile(response_s, 0.99), 4),
        "exhausted": next_i >= len(requests),
    }


def http_child(
    conn: Connection,
    ports: list[int],
    secret: str,
    boundaries: Path | None,
    tag: str,
    n: int,
    mode: str,
    rate: float,
    conns: int,
    duration_s: float,
) -> None:
    requests = list(signed_requests(Corpus(boundaries), tag, n, secret, f"127.0.0.1:{ports[0]}"))
    conn.send({"ready": True})
    t0 = conn.recv()
    cpu = self_cpu_s()
    if mode == "open":
        result = asyncio.run(_http_open(ports, requests, t0, rate, conns))
    else:
        result = asyncio.run(_http_closed(ports, requests, t0, conns, duration_s))
    used = self_cpu_s() - cpu
    result["generator_cpu_s"] = round(used, 2)
    result["generator_cpu_pct"] = round(100 * used / max(result["duration_s"], 1e-9), 1)
    conn.send(result)


class Generator:
    """A load generator child process: ``start()`` waits until its load is built, ``go(t0)`` releases
    it, ``result()`` waits for its report."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=target, args=(child, *args), daemon=True)
        self.info: Result = {}

    def start(self, timeout_s: float = 300) -> Generator:
        self._proc.start()
        if not self._conn.poll(timeout_s):
            raise RuntimeError("load generator did not get ready")
        self.info = self._conn.recv()
        return self

    @property
    def pid(self) -> int:
        return self._proc.pid or 0

    def go(self, t0: float) -> None:
        self._conn.send(t0)

    def result(self, timeout_s: float | None = None) -> Result | None:
        try:
            if not self._conn.poll(timeout_s):
                return None
            out: Result = self._conn.recv()
        except EOFError:  # the child died; its traceback is on stderr
            return None
        self._proc.join(5)
        return out

    def stop(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
