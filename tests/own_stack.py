"""A whole stack with a broker and a database of its own (Tansu, SecantusDB), for tests that pause, stop
or restart them; steady webhook load on it; and the committed offsets of its consumer groups."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from aduan_cli.stack import Stack, StackConfig
from aduan_kit.embedded import ManagedProcess, free_port
from aduan_kit.mongo import find_in
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.plugin import CITY_DIR, consumer_timings
from tests.test_end_to_end import post_qlue, qlue_payload


def own_stack(data_dir: Path, boundaries: Path, **env: str) -> Stack:
    """A stack on free ports that starts its own Tansu and SecantusDB (``stack.servers``)."""
    s = Stack(
        StackConfig(
            data_dir=data_dir,
            city_dir=CITY_DIR,
            boundaries=boundaries,
            kafka_port=free_port(),
            mongo_port=free_port(),
            ready_timeout_s=180,
            consumer_env={f"ADUAN_KAFKA_{k.upper()}": str(v) for k, v in consumer_timings().items()},
            extra_env={"ADUAN_NORMALIZER_NEAR_DUPLICATES": "false", **env},  # one case per report
        )
    )
    s.config.service_ports = {spec.name: free_port() for spec in s.specs}
    return s


def common_of(stack: Stack) -> CommonSettings:
    return CommonSettings(
        kafka_bootstrap=stack.kafka_bootstrap,
        mongodb_url=stack.mongodb_url,
        mongodb_db=stack.config.mongodb_db,
        topic_prefix=stack.config.topic_prefix,
        city_dir=CITY_DIR,
    )


@contextlib.contextmanager
def paused(server: ManagedProcess) -> Iterator[None]:
    """SIGSTOP the server's process group (it keeps its sockets and answers nothing), SIGCONT after."""
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(server.proc.pid, signal.SIGCONT)


@dataclass
class Load:
    """Signed Qlue webhooks at a steady rate from a thread, until stopped. ``accepted``: the ids
    answered 202; ``refused``: other answers and connection errors (not accepted, so not owed)."""

    stack: Stack
    per_second: float = 10
    accepted: set[str] = field(default_factory=set)
    refused: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        step = 1 / self.per_second
        nxt = time.monotonic()
        while not self._stop.is_set():
            p = qlue_payload()
            try:
                r = post_qlue(self.stack, p)
                if r.status_code == 202:
                    self.accepted.add(p["id"])
                else:
                    self.refused += 1
            except httpx.HTTPError:
                self.refused += 1
            nxt += step
            self._stop.wait(max(nxt - time.monotonic(), 0))

    def stop(self) -> set[str]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return set(self.accepted)


async def ready_status(stack: Stack, name: str) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            return (await client.get(f"{stack.services[name].url}/readyz")).status_code
        except httpx.HTTPError:
            return 0


async def all_ready_status(stack: Stack, names: list[str]) -> dict[str, int]:
    codes = await asyncio.gather(*(ready_status(stack, n) for n in names))
    return dict(zip(names, codes, strict=True))


async def records_below(bootstrap: str, topic: str, offsets: dict[int, int]) -> list[bytes]:
    """The values of ``topic``'s records below ``offsets`` (per partition), read from the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p, o in offsets.items() if o > 0]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        out: list[bytes] = []
        todo = set(parts)
        deadline = time.monotonic() + 60
        while todo and time.monotonic() < deadline:
            for tp, recs in (await consumer.getmany(*todo, timeout_ms=500)).items():
                out += [r.value for r in recs if r.offset < offsets[tp.partition]]
                if recs and recs[-1].offset + 1 >= offsets[tp.partition]:
                    todo.discard(tp)
        assert not todo, f"{topic}: could not read up to the offsets {offsets}"
        return out
    finally:
        await consumer.stop()


async def cases_among(common: CommonSettings, report_ids: set[str]) -> set[str]:
    """Which of ``report_ids`` are cases in the case store."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    try:
        coll = client[common.mongodb_db]["cases"]
        return {str(d["_id"]) async for d in find_in(coll, "_id", sorted(report_ids), {"_id": 1})}
    finally:
        await client.close()
