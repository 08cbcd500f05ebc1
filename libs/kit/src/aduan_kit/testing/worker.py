"""Run a StreamWorker on one subscription until a condition holds (tests of the consume loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aduan_kit.kafka import EventProducer, StreamWorker, Subscription
from aduan_kit.settings import CommonSettings


async def run_worker(common: CommonSettings, sub: Subscription, until: Callable[[], Awaitable[Any]]) -> None:
    """Start a worker (group ``<prefix>worker``, stage ``test``) on ``sub``, await ``until()``, stop it."""
    producer = EventProducer(common, source="/aduan/test")
    await producer.start()
    worker = StreamWorker(
        common, f"{common.topic_prefix}worker", "test", [sub], producer, retry_backoff_s=0.05
    )
    task = asyncio.create_task(worker.run())
    try:
        await until()
    finally:
        worker.stop()
        await asyncio.wait_for(task, 15)
        await producer.stop()
